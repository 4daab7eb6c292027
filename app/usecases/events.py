"""Reading the recent recognition events (app/events.py keeps them) and their face thumbnails."""
from typing import Any

from app.errors import ThumbnailNotFound, required
from app.services import Services


def recent_events(s: Services, count: int) -> list[dict[str, Any]]:
    """The `count` newest events, newest first."""
    return s.events.recent(count)


def event_thumbnail(s: Services, thumb_id: str) -> bytes:
    """The JPEG of one face of an event; ThumbnailNotFound once the event is trimmed (or never was)."""
    return required(s.events.thumbnail(thumb_id), ThumbnailNotFound(
        f"no thumbnail {thumb_id!r} (thumbnails go with their events: EVENTS_MAXLEN, EVENTS_MAX_MB)"))
