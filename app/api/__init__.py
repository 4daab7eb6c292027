"""The HTTP surfaces: the native JSON API (native, people, gallery_io, ops, visitors, tracks,
corrections), the operators' page (page), the compatibility APIs (deepstack, compreface,
compreface_gallery: thin adapters over the same use cases), and how requests are read
(uploads), answered (schemas, error_handlers), described (openapi) and guarded (auth)."""
from app.api import (
              compreface,
              compreface_gallery,
              corrections,
              deepstack,
              gallery_io,
              native,
              ops,
              page,
              people,
              tracks,
              visitors,
)

BLUEPRINTS = (native.bp, people.bp, gallery_io.bp, ops.bp, page.bp, visitors.bp, corrections.bp, deepstack.bp,
              compreface.bp, compreface_gallery.bp, tracks.bp)
