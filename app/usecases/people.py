"""Managing the people of the gallery. Deleting must work even when Redis is full (maxmemory
with noeviction refuses every write that adds memory, the gallery's log entry included): an
operator deletes people to free space. So a deletion refused for memory first makes room by
trimming what is expendable (the oldest events, the gallery log that replicas can reload
without), then runs again."""
import logging
from collections.abc import Callable
from typing import Any

import redis

from app.errors import FaceNotFound, InvalidField, required
from app.gallery import NewFace
from app.gallery.identity import clean_name
from app.gallery.redis_calls import Pipe
from app.services import Services

log = logging.getLogger(__name__)


def chosen_name(name: str | None, person_id: str | None, new: str, existing: str) -> str | None:
    """The clean `name` of a new person, or None when faces go to the enrolled `person_id`; 400
    unless exactly one is given (`new`, `existing`: what each does, for the message)."""
    if (name is None) == (person_id is None):
        raise InvalidField(f"send `name` to {new}, or `person_id` to {existing}"
                           + (" (not both)" if name is not None else ""))
    return clean_name(name) if name is not None else None


def store_faces(s: Services, faces: list[NewFace], name: str | None, person_id: str | None,
                also: Callable[[Pipe], None] | None = None) -> tuple[str, str, bool, list[str]]:
    """`faces` stored as a new person `name`, or added to `person_id` -> (person id, name,
    created, face ids). `also(pipe)`: more writes in the same transaction as adding to
    `person_id` (a new person has nothing to go with them)."""
    if name is not None:
        person_id, ids = s.store.create_person(name, faces)
        return person_id, name, True, ids
    assert person_id is not None, "a name or a person id"
    name, ids = s.store.add_faces(person_id, faces, also=also)
    return person_id, name, False, ids


def list_people(s: Services) -> list[dict[str, Any]]:
    """Every enrolled person (id, name, faces), sorted by name."""
    return s.store.people()


def face_thumbnail(s: Services, pid: str, fid: str) -> bytes:
    """The JPEG kept of enrolled face `fid` of person `pid`; FaceNotFound when there is none (a
    face imported without one)."""
    return required(s.store.thumbnail(pid, fid), FaceNotFound(f"no thumbnail for face {fid!r} of person {pid!r}"))


def rename_person(s: Services, pid: str, name: str) -> dict[str, Any]:
    s.store.rename(pid, clean_name(name))
    return s.store.person(pid)


def delete_person(s: Services, pid: str) -> None:
    _making_room(s, lambda: s.store.delete_person(pid))


def delete_face(s: Services, pid: str, fid: str) -> None:
    _making_room(s, lambda: s.store.delete_face(pid, fid))


def _making_room(s: Services, deletion: Callable[[], object]) -> None:
    try:
        deletion()
    except redis.OutOfMemoryError:
        log.warning("Redis is full: trimming the events and the gallery log to make room for a deletion")
        s.events.trim_to_size(0)
        s.store.trim_log()
        deletion()  # still full: the error says so (507)
