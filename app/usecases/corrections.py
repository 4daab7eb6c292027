"""Corrections of recent recognitions, by event and face index (GET /events):

    correct(s, event_id, 0, not_person_id=alice)   # that face is NOT Alice: a negative example of
                                                   # her; her look-alike stops matching as her
    correct(s, event_id, 1, person_id=bob)         # that face (unknown, or a wrong match) IS Bob:
                                                   # added to his faces
    correct(s, event_id, 1, name="Carol")          # ... a new person, Carol, from that face

The face's embedding comes from the event itself (kept beside it while the event is kept), so
no image is sent again. The face added to a person gets the id e{event id}-{index}: the same
correction twice adds nothing, one face never goes to two people (409), and "not X" on a face
once added to X takes it back out."""
from dataclasses import dataclass

import numpy as np

from app.errors import EventNotFound, FaceIdTaken, GalleryModelMismatch, InvalidField, NotCorrectable
from app.events import is_event_id
from app.gallery import NewFace
from app.gallery.identity import clean_name
from app.services import Services
from app.usecases import people


@dataclass
class Correction:
    event_id: str
    face_index: int
    correction: str             # "not_person" or "is_person"
    person_id: str
    name: str
    face_id: str                # the event face's id in the gallery (or as a negative example)
    created: bool = False       # a new person was made from the face
    negatives: int = 0          # the person's negative examples now


def correct(s: Services, event_id: str, face_index: int, not_person_id: str | None = None,
            person_id: str | None = None, name: str | None = None) -> Correction:
    if sum(v is not None for v in (not_person_id, person_id, name)) != 1:
        raise InvalidField("send exactly one of `not_person_id` (the face is not this person), `person_id` "
                           "(the face is this enrolled person) or `name` (the face is a new person)")
    if not is_event_id(event_id):
        raise InvalidField(f"`event_id` {event_id!r} is not an event id; GET /events lists them (e.g. 1795321261849-0)")
    name = clean_name(name) if name is not None else None
    found = s.events.face(event_id, face_index)
    if found is None:
        raise EventNotFound(f"no face {face_index} in event {event_id} (events are kept up to EVENTS_MAXLEN; "
                            f"faces are numbered from 0 in the order GET /events lists them)")
    entry, vector = found
    if vector is None:
        raise NotCorrectable(f"event {event_id} was recorded without its faces' embeddings (before corrections "
                             f"existed); correct a newer event")
    if len(vector) != s.store.dim:   # written by a worker of another model (a rolling update)
        raise GalleryModelMismatch(f"event {event_id} was recorded by a worker of another model (embeddings of "
                                   f"{len(vector)} values, this server's have {s.store.dim}); correct an event "
                                   f"recorded since", "", s.store.model.id)
    if entry.get("quality") is not None and entry["quality"] < s.settings.min_match_quality:
        raise NotCorrectable(f"face {face_index} of event {event_id} is of too low quality ({entry['quality']:.2f}, "
                             f"under MIN_MATCH_QUALITY) to teach anything; correct a clearer face of the visit")
    face_id = f"e{event_id}-{face_index}"
    s.replica.sync()
    if not_person_id is not None:
        return _not_person(s, event_id, face_index, face_id, not_person_id, vector)
    holder = s.replica.person_of_face(face_id)
    if holder is not None and (name is not None or holder != person_id):
        raise FaceIdTaken(f"face {face_index} of event {event_id} was added to person {holder} already")
    if holder is not None:  # the same correction again
        return Correction(event_id, face_index, "is_person", holder, s.store.person(holder)["name"], face_id,
                          negatives=s.negatives.count(holder))
    thumb_id = entry.get("thumbnail")   # None past the first THUMBNAILS_PER_EVENT faces
    face = NewFace(vector, (s.events.thumbnail(thumb_id) if thumb_id else None) or b"", face_id)
    # "this is X" wins over an earlier "not X" of the same face: the negative goes as the face comes
    person_id, name, created, _ = people.store_faces(
        s, [face], name, person_id, also=lambda pipe: s.negatives.queue_remove(pipe, str(person_id), face_id))
    return Correction(event_id, face_index, "is_person", person_id, name, face_id, created,
                      s.negatives.count(person_id))


def _not_person(s: Services, event_id: str, face_index: int, face_id: str, pid: str, vector: np.ndarray) -> Correction:
    # one transaction: the face leaves the person (when an earlier correction added it to them) and
    # becomes their negative example while they exist (404 otherwise), whatever "is X" races it
    name, _ = s.store.take_back_face(pid, face_id, lambda pipe: s.negatives.queue_add(pipe, pid, face_id, vector))
    return Correction(event_id, face_index, "not_person", pid, name, face_id, negatives=s.negatives.count(pid))
