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

import numpy as np

from app.errors import ThumbnailNotFound, VisitorNotFound, required
from app.gallery import NewFace
from app.pipeline import Face
from app.services import Services
from app.usecases import people
from app.visitors.store import Sighting, Visitor, new_id, quality_of
from app.visits import TrackState

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


def stranger_weight(s: Services, face: "RecognizedFace") -> float:
    """How much this face counts in its visit's unknown face (its quality), 0 when it does not
    feed the visitors: matched, too poor to match, or under VISITOR_MIN_QUALITY, the score and
    the size of worth_keeping."""
    quality = face.face.quality.quality if face.face.quality else 1.0
    if face.match is not None or face.reason == "low_quality" or quality < s.settings.visitor_min_quality:
        return 0.0
    return quality if worth_keeping(s, face.face) else 0.0


def observe(s: Services, faces: "list[RecognizedFace]", thumbnails: list[bytes], camera_id: str | None) -> None:
    """Every unknown face worth keeping (stranger_weight; of recognition.RecognizedFace `faces`,
    thumbnails in the same order) given its `visitor_id`. A visit (track) is one sighting: its
    first such face stores it, in the nearest visitor it may join or a new one; each later one
    refines it to the quality-weighted mean of the visit's faces so far (the track keeps that
    mean) and lets it change visitor, so that the visitor is chosen by the whole visit, not by
    its first, smallest face. A face without a track (Redis had no track state) is a sighting
    of its own. Two faces of one frame are never the same visitor."""
    taken: set[str] = set()
    now = time.time()
    synced = False

    def sync_index() -> None:
        """This worker's copy of the sightings brought up to date, once per frame and only for a
        face that chooses a visitor (a later face of a visit between refinements only reads)."""
        nonlocal synced
        if not synced:
            s.visitor_index.sync()
            synced = True

    for face, thumbnail in zip(faces, thumbnails):
        weight = stranger_weight(s, face)
        if weight <= 0:
            continue
        track = face.track
        vector = track.stranger_vector() if track is not None else None
        if track is None or vector is None:   # no track state: the frame stands alone
            sync_index()
            visitor_id: str | None = _sighted(s, face.face.vector, _sighting(face.face, camera_id or "", now, weight),
                                              thumbnail, taken)
        else:
            sighting = _sighting(face.face, camera_id or "", now, track.stranger_weight)
            first, sighting.sighting_id = s.visits.claim_stranger(track.id, sighting.sighting_id)
            if first:
                sync_index()
                visitor_id = _sighted(s, vector, sighting, thumbnail, taken)
            elif refines_at(track.stranger_faces):
                sync_index()
                visitor_id = _refined(s, vector, sighting, thumbnail, taken)
            else:
                visitor_id = _stored_visitor(s, sighting.sighting_id)
        face.visitor_id = visitor_id
        if visitor_id is not None:
            taken.add(visitor_id)


def _side(face: Face) -> float:
    return float(min(face.box[2] - face.box[0], face.box[3] - face.box[1]))


def _sighting(face: Face, camera: str, now: float, weight: float) -> Sighting:
    side = round(_side(face), 1)
    return Sighting(new_id(), camera, now, round(face.score, 4), side, quality_of(face.score, side), round(weight, 6))


def _sighted(s: Services, vector: np.ndarray, sighting: Sighting, thumbnail: bytes, taken: set[str]) -> str:
    """The visitor a new sighting joins: the nearest one it is within VISITOR_DISTANCE of, of its
    nearest sighting and of most of its sightings (complete-linkage-like, so that faces do not
    chain different people into one visitor through look-alikes), else a new one. Redis checks
    the rule again as the face joins (the visitor may have changed since this worker's copy)."""
    within = s.settings.visitor_distance
    refused = set(taken)
    for attempt in range(4):
        found = s.visitor_index.joinable(vector, within, refused) if attempt < 3 else []
        vid = found[0][0] if found else new_id()
        if s.visitors.add(sighting, vid, not found, vector, thumbnail, within if found else 0.0):
            return vid
        refused.add(vid)
        s.visitor_index.sync()  # that visitor was merged, forgotten or changed meanwhile: look again
    raise RuntimeError("a new visitor could not be stored")  # a new uuid4 taken: never in practice


def visit_ended(s: Services, track: TrackState) -> None:
    """An ended unknown visit's sighting given the mean of all its faces: those after its last
    scheduled refinement (refines_at) are not in it yet. The thumbnail stays."""
    vector = track.stranger_vector()
    if vector is None or refines_at(track.stranger_faces):
        return
    sid = s.visits.stranger_sighting(track.id)
    if sid is None:
        return
    s.visitor_index.sync()
    _refined(s, vector, Sighting(sid, "", time.time(), 0.0, 0.0, 0.0, round(track.stranger_weight, 6)), b"", set())


def refines_at(faces: int) -> bool:
    """Whether the visit's `faces`-th face that feeds the visitors refines its sighting: each of
    the first four, then at 6, 8, 12, 16, 24, 32, ... (about every 1.5x), so that a long visit
    writes (and logs, for every worker's index) O(log n) refinements, not one per frame, while
    the mean settles within its first faces."""
    if faces <= 4:
        return True
    for base in (2, 3):
        n = faces // base if faces % base == 0 else 0
        if n and n & (n - 1) == 0:
            return True
    return False


def _stored_visitor(s: Services, sighting_id: str) -> str | None:
    """The visitor of a visit's sighting; None when it is gone (named, forgotten or trimmed).
    A sighting whose first face another worker is storing this moment is waited for, once."""
    for wait in (0.0, 0.01):
        time.sleep(wait)
        visitor = s.visitors.visitor_of(sighting_id)
        if visitor is not None:
            return visitor
    return None


def _refined(s: Services, vector: np.ndarray, sighting: Sighting, thumbnail: bytes, taken: set[str]) -> str | None:
    """The visitor of a visit's sighting once it holds the visit's vector so far: the nearest
    visitor the vector may join (as _sighted chooses, its own old vector left out), else its own
    visitor if Redis finds it still may stay there, else a new one. None: the sighting is gone
    (the visitor was named or forgotten during the visit)."""
    sid, within = sighting.sighting_id, s.settings.visitor_distance
    refused = set(taken)
    for attempt in range(4):
        current = _stored_visitor(s, sid)
        if current is None:
            return None
        found = s.visitor_index.joinable(vector, within, refused, without=sid) if attempt < 3 else []
        stay = not found and attempt < 3 and current not in refused
        vid = found[0][0] if found else current if stay else new_id()
        done = s.visitors.refine(sighting, vid, not found and not stay, vector, thumbnail, within)
        if done is None:
            return None
        if done >= 0:
            return vid if done == 1 else s.visitors.visitor_of(sid)
        refused.add(vid)   # merged, forgotten or changed meanwhile, or no longer fits its own visitor
        s.visitor_index.sync()
    raise RuntimeError("a visit's sighting could not be stored")   # the last try is a new visitor: never


def list_visitors(s: Services, offset: int, count: int) -> tuple[int, list[Visitor]]:
    """(how many visitors there are, `count` of them from `offset`), the most recently seen first."""
    return s.visitors.page(offset, count)


def get_visitor(s: Services, vid: str) -> Visitor:
    visitor = s.visitors.visitor(vid)
    if visitor is None:
        raise VisitorNotFound.of(vid)
    return visitor


def sighting_thumbnail(s: Services, vid: str, sid: str) -> bytes:
    """The JPEG of sighting `sid` of visitor `vid`; ThumbnailNotFound when there is none."""
    return required(s.visitors.thumbnail(vid, sid), ThumbnailNotFound(f"visitor {vid!r} has no sighting {sid!r}"))


def name_visitor(s: Services, vid: str, name: str | None = None, person_id: str | None = None) -> NamedVisitor:
    """The visitor's best faces (up to VISITOR_ENROLL_FACES, by quality) enrolled as a new person
    `name` or added to `person_id`, then the visitor retired. Of clients naming one visitor at
    once, one wins; the others are 409 (name_taken or face_id_taken)."""
    name = people.chosen_name(name, person_id, "enroll the visitor as a new person", "add them to an enrolled one")
    visitor = get_visitor(s, vid)
    best = [sighting.sighting_id for sighting in visitor.best[:s.settings.visitor_enroll_faces]]
    # each face keeps its sighting's id: two clients naming the visitor at once both try to add the
    # same face ids, and the gallery lets one person have them (the other is 409 face_id_taken)
    found = s.visitors.faces(best)
    faces = [NewFace(vector, thumbnail, f"v{sid}") for sid, vector, thumbnail in found]
    if not faces:
        raise VisitorNotFound.of(vid)  # its sightings aged out between the two reads
    person_id, name, created, ids = people.store_faces(s, faces, name, person_id)
    # the enrolled sightings go wherever they are: a re-clustering may have moved them meanwhile
    s.visitors.forget(vid, also=[sid for sid, _, _ in found])
    return NamedVisitor(vid, person_id, name, created, ids)


def forget_visitor(s: Services, vid: str) -> None:
    """Every sighting of the visitor deleted (thumbnails and embeddings with them)."""
    if s.visitors.forget(vid) == 0:
        raise VisitorNotFound.of(vid)
