"""Managing the people of the gallery. Deleting must work even when Redis is full (maxmemory
with noeviction refuses every write that adds memory, the gallery's log entry included): an
operator deletes people to free space. So a deletion refused for memory first makes room by
trimming what is expendable (the oldest events, the gallery log that replicas can reload
without), then runs again."""
import logging

import redis

from app.gallery.identity import clean_name
from app.services import Services

log = logging.getLogger(__name__)


def rename_person(s: Services, pid: str, name: str) -> dict:
    s.store.rename(pid, clean_name(name))
    return s.store.person(pid)


def delete_person(s: Services, pid: str) -> None:
    _making_room(s, lambda: s.store.delete_person(pid))


def delete_face(s: Services, pid: str, fid: str) -> None:
    _making_room(s, lambda: s.store.delete_face(pid, fid))


def _making_room(s: Services, deletion) -> None:
    try:
        deletion()
    except redis.OutOfMemoryError:
        log.warning("Redis is full: trimming the events and the gallery log to make room for a deletion")
        s.events.trim_to_size(0)
        s.store.trim_log()
        deletion()  # still full: the error says so (507)
