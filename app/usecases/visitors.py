"""Unknown visitors: a stranger who comes back gets the same visitor id each time, so an
operator can see "visitor 3f2a…: 14 sightings, door and garage, last seen 10:02" and name them
in one call.

    observe(s, faces, thumbnails, "door")          # recognize() calls it: each unknown face worth
                                                   # keeping gets face.visitor_id
    name_visitor(s, vid, name="Ada")               # enrolls their best faces, retires the visitor
"""
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.errors import VisitorNotFound
from app.gallery import NewFace
from app.pipeline import Face
from app.services import Services
from app.usecases import people
from app.visitors.store import Sighting, Visitor, new_id, quality_of

if TYPE_CHECKING:
    from app.usecases.recognition import RecognizedFace


@dataclass
class NamedVisitor:
    visitor_id: str
    person_id: str
    name: str
    created: bool
    face_ids: list[str]


def worth_keeping(s: Services, face: Face) -> bool:
    """Good enough to be useful: detection score and face size over VISITOR_MIN_SCORE and
    VISITOR_MIN_FACE_PX (smaller faces give embeddings too far from their person's)."""
    return face.score >= s.settings.visitor_min_score and _side(face) >= s.settings.visitor_min_face_px


def observe(s: Services, faces: "list[RecognizedFace]", thumbnails: list[bytes], camera_id: str | None) -> None:
    """Every unknown face worth keeping (of recognition.RecognizedFace `faces`, thumbnails in
    the same order) stored as a sighting of the nearest visitor within VISITOR_DISTANCE, or of
    a new one; its `visitor_id` is set. Once per visit: a face of a track that already fed the
    clustering gets that visitor id without a new sighting (a visit of 30 frames is one
    sighting, not 30 chances to chain strangers). Two faces of one frame are never the same visitor."""
    keep = [i for i, f in enumerate(faces) if f.match is None and worth_keeping(s, f.face)
            and _fed_by_this_frame(s, f)]
    if not keep:
        return
    s.visitor_index.sync()
    taken: set[str] = set()
    now = time.time()
    for i in keep:
        visitor_id = _sighted(s, faces[i].face, thumbnails[i], camera_id or "", now, taken)
        faces[i].visitor_id = visitor_id
        taken.add(visitor_id)
        track = faces[i].track
        if track is not None:
            s.visits.set_visitor(track.id, visitor_id)


def _fed_by_this_frame(s: Services, face: "RecognizedFace") -> bool:
    """Whether this unknown face is its visit's sighting (the first of the visit good enough:
    quality at least VISITOR_MIN_QUALITY); sets visitor_id from the visit otherwise."""
    quality = face.face.quality.quality if face.face.quality else 1.0
    if face.reason == "low_quality" or quality < s.settings.visitor_min_quality:
        return False
    if face.track is None:
        return True  # no track state: the frame stands alone
    first, visitor_id = s.visits.claim_visitor(face.track.id)
    face.visitor_id = visitor_id
    return first


def _side(face: Face) -> float:
    return float(min(face.box[2] - face.box[0], face.box[3] - face.box[1]))


def _sighted(s: Services, face: Face, thumbnail: bytes, camera: str, now: float, taken: set[str]) -> str:
    """The visitor the face joins: the nearest one it is within VISITOR_DISTANCE of, of its
    nearest sighting and of most of its sightings (complete-linkage-like, so that faces do not
    chain different people into one visitor through look-alikes), else a new one. Redis checks
    the rule again as the face joins (the visitor may have changed since this worker's copy)."""
    side = round(_side(face), 1)
    sighting = Sighting(new_id(), camera, now, round(face.score, 4), side, quality_of(face.score, side))
    within = s.settings.visitor_distance
    refused = set(taken)
    for attempt in range(4):
        found = s.visitor_index.joinable(face.vector, within, refused) if attempt < 3 else []
        vid = found[0][0] if found else new_id()
        if s.visitors.add(sighting, vid, not found, face.vector, thumbnail, within if found else 0.0):
            return vid
        refused.add(vid)
        s.visitor_index.sync()  # that visitor was merged, forgotten or changed meanwhile: look again
    raise RuntimeError("a new visitor could not be stored")  # a new uuid4 taken: never in practice


def list_visitors(s: Services, offset: int, count: int) -> tuple[int, list[Visitor]]:
    """(how many visitors there are, `count` of them from `offset`), the most recently seen first."""
    return s.visitors.page(offset, count)


def get_visitor(s: Services, vid: str) -> Visitor:
    visitor = s.visitors.visitor(vid)
    if visitor is None:
        raise VisitorNotFound.of(vid)
    return visitor


def name_visitor(s: Services, vid: str, name: str | None = None, person_id: str | None = None) -> NamedVisitor:
    """The visitor's best faces (up to VISITOR_ENROLL_FACES, by quality) enrolled as a new person
    `name` or added to `person_id`, then the visitor retired. Of clients naming one visitor at
    once, one wins; the others are 409 (name_taken or face_id_taken)."""
    name = people.chosen_name(name, person_id, "enroll the visitor as a new person", "add them to an enrolled one")
    visitor = get_visitor(s, vid)
    best = [sighting.sighting_id for sighting in visitor.best[:s.settings.visitor_enroll_faces]]
    # each face keeps its sighting's id: two clients naming the visitor at once both try to add the
    # same face ids, and the gallery lets one person have them (the other is 409 face_id_taken)
    faces = [NewFace(vector, thumbnail, f"v{sid}") for sid, vector, thumbnail in s.visitors.faces(best)]
    if not faces:
        raise VisitorNotFound.of(vid)  # its sightings aged out between the two reads
    person_id, name, created, ids = people.store_faces(s, faces, name, person_id)
    s.visitors.forget(vid)
    return NamedVisitor(vid, person_id, name, created, ids)


def forget_visitor(s: Services, vid: str) -> None:
    """Every sighting of the visitor deleted (thumbnails and embeddings with them)."""
    if s.visitors.forget(vid) == 0:
        raise VisitorNotFound.of(vid)
