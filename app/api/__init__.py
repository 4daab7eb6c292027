"""The HTTP surfaces: the native JSON API (native, people, gallery_io, ops), the operators'
page (page), and how requests are read (uploads), answered (schemas, error_handlers),
described (openapi) and guarded (auth)."""
from app.api import gallery_io, native, ops, page, people

BLUEPRINTS = (native.bp, people.bp, gallery_io.bp, ops.bp, page.bp)
