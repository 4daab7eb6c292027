"""The use cases behind every HTTP surface (the native API today, the compatibility APIs
next): recognize, detect, embed, enroll, verify. Each takes the worker's services and
decoded request values and returns domain objects; views only parse and serialise.

    result = recognize(services, jpeg_bytes, camera_id="door")
    for face in result.faces: face.match and face.match.name

A Redis that cannot be reached (refused, timed out) never fails a recognition: the frame is
answered from this worker's last copy of the gallery (and of the corrections), without a
track, an event or a visitor sighting, and says so (`Recognition.degraded`); a worker that
never had a copy still detects the faces, each unmatched with reason "gallery_unavailable".
Once Redis is found unreachable, frames do not try it: the worker's background thread does,
every REDIS_RETRY_S (app/gallery/outage.py).
"""
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from app import metrics
from app.errors import FaceRecError, InvalidField, LowQualityFace, NoFace, SeveralFaces
from app.gallery import NewFace
from app.gallery.outage import UNREACHABLE
from app.gallery.search.matching import distances
from app.pipeline import Face, Frame, Stopwatch
from app.pipeline.enrolled_crop import enrolled_crop
from app.pipeline.imaging import jpeg_thumbnails
from app.services import Services
from app.usecases import people, visitors, visits
from app.visits import TrackState


@dataclass
class Candidate:
    person_id: str
    name: str
    distance: float
    confidence: float
    face_id: str          # the person's enrolled face nearest to the probe


@dataclass
class RecognizedFace:
    face: Face
    candidates: list[Candidate]     # the TOP_K nearest people, nearest first
    match: Candidate | None         # the nearest the rule calls "same person" and no correction refuses; None = unknown
    visitor_id: str | None = None   # an unknown face kept as a sighting: the visitor it belongs to
    accepted: list[Candidate] = field(default_factory=list)  # every candidate that could be the match, nearest first
    reason: str | None = None       # "low_quality": under MIN_MATCH_QUALITY, never matched;
    #                                 "gallery_unavailable": Redis unreachable and this worker has no copy
    track: TrackState | None = None  # the visit this face belongs to (None: track state unavailable)


@dataclass
class Degraded:
    """A frame answered without Redis: matched against this worker's last copy of the gallery."""
    redis: str                      # "unreachable"
    gallery_age_s: float | None     # seconds since the copy was last in step with Redis; None: no copy


@dataclass
class Recognition:
    camera_id: str | None
    event_id: str | None
    frame: Frame
    faces: list[RecognizedFace]
    timing_ms: dict[str, float]
    degraded: Degraded | None = None   # None: Redis answered (tracks, events and sightings as usual)


@dataclass
class Analysis:
    frame: Frame
    timing_ms: dict[str, float]


@dataclass
class Enrollment:
    person_id: str
    name: str
    created: bool
    faces: list[tuple[str, Face]]   # (face id, the face it was made from), one per image


@dataclass
class FacesToEnroll:
    """The largest face of each image, and what the gallery keeps of it (faces_to_enroll)."""
    faces: list[Face]        # embedded
    stored: list[NewFace]    # kept_face() of each, in the same order
    skipped: list[str]       # the images left out for having no face (skip_faceless)


@dataclass
class Verification:
    distance: float
    same_person: bool
    confidence: float
    threshold: float
    person_id: str | None
    faces: list[Face]               # the largest face of each image used


def recognize(s: Services, image: bytes, camera_id: str | None = None,
              top_k: int | None = None, select: Callable[[Frame], list[Face]] | None = None,
              timestamp: float | None = None, visit_key: str | None = None) -> Recognition:
    """Every face of one frame with the nearest enrolled people and its visit (track); appended
    to the event log. top_k: candidates per face (default TOP_K); select: the faces to keep,
    given the detected frame (the compatibility APIs' limits and thresholds); timestamp: the
    camera's capture time (default now); visit_key: the largest face joins this visit's track."""
    s.pipeline.check_request([image])
    stopwatch = Stopwatch()
    with stopwatch.stage("sync"):
        reachable = _synced(s)
    frame = s.pipeline.analyze(image, embed=select is None, stopwatch=stopwatch)
    if select is not None:
        frame.faces = select(frame)
        s.pipeline.embed_faces(frame, frame.faces, stopwatch)
    s.pipeline.assess(frame, frame.faces, stopwatch)
    with stopwatch.stage("match"):
        faces = _recognized(s, frame.faces, top_k or s.settings.top_k, reachable)
    reachable = reachable and not s.outage.down   # (matching may have just found Redis gone)
    event_id, recorded = None, False
    if reachable:
        with stopwatch.stage("track"):
            for face, track in zip(faces, visits.track_faces(s, camera_id, timestamp or time.time(), faces,
                                                             visit_key)):
                face.track = track
    if reachable and not s.outage.down:   # (so may tracking)
        try:
            event_id, recorded = _record(s, camera_id, frame, faces, stopwatch), True
        except UNREACHABLE as e:   # Redis went away during this frame: answered without its event
            s.outage.failed(e)
    if not recorded:   # MQTT does not need Redis: the frame is still published, without an event id
        s.publisher.publish_event(None, camera_id, _entries(faces))
    timing = stopwatch.finish()
    metrics.observe_recognition(timing, [f.match is not None for f in faces], s.replica.size)
    degraded = None if recorded else Degraded("unreachable", _rounded(s.replica.age_s))
    if degraded is not None:
        metrics.DEGRADED.inc()
    return Recognition(camera_id, event_id, frame, faces, timing, degraded)


def _synced(s: Services) -> bool:
    """This worker's gallery copy in step with Redis (Redis first: a gallery of another model is
    409 before any model time is spent); False when Redis is unreachable (the copy is used as it is)."""
    if not s.outage.usable():
        return False
    try:
        s.replica.sync()
    except UNREACHABLE:   # the replica has told the outage
        return False
    return True


def _rounded(age_s: float | None) -> float | None:
    return None if age_s is None else round(age_s, 1)


def detect(s: Services, image: bytes) -> Analysis:
    s.pipeline.check_request([image])
    stopwatch = Stopwatch()
    frame = s.pipeline.analyze(image, embed=False, stopwatch=stopwatch)
    timing = stopwatch.finish()
    metrics.observe_stages(timing)
    return Analysis(frame, timing)


def embed(s: Services, image: bytes) -> Analysis:
    s.pipeline.check_request([image])
    stopwatch = Stopwatch()
    frame = s.pipeline.analyze(image, stopwatch=stopwatch)
    return Analysis(frame, stopwatch.finish())


def enroll(s: Services, images: list[bytes], name: str | None = None, person_id: str | None = None,
           force: bool = False) -> Enrollment:
    """A new person `name`, or faces added to `person_id`: the largest face of each image,
    with its thumbnail and the crop a later re-embedding needs. Nothing is stored unless every
    image has a face of MIN_ENROLL_QUALITY (or force); 409 before any model work when the
    gallery is of another model."""
    name = people.chosen_name(name, person_id, "enroll a new person", "add faces to an enrolled one")
    s.store.check_model(writing=True)  # fail fast, before the models, when Redis is down or the model differs
    found = faces_to_enroll(s, images, min_quality=0.0 if force else s.settings.min_enroll_quality)
    person_id, name, created, ids = people.store_faces(s, found.stored, name, person_id)
    return Enrollment(person_id, name, created, list(zip(ids, found.faces)))


def verify(s: Services, images: list[bytes], person_id: str | None = None) -> Verification:
    """Two images, or one image and an enrolled person: are they the same person?"""
    if len(images) != (1 if person_id else 2):
        raise InvalidField(f"{len(images)} images sent; send two images, or one image and `person_id`")
    enrolled = s.store.vectors(person_id) if person_id else None   # 409 when the gallery's model differs
    if enrolled is not None and len(enrolled) == 0:
        raise NoFace(f"person {person_id!r} has no enrolled face; enroll one first")
    faces = largest_faces(s, images)
    other = enrolled if enrolled is not None else faces[1].vector[None]
    distance = float(distances(faces[0].vector, other).min())
    return Verification(distance, s.rule.same_person(distance), s.rule.confidence(distance), s.rule.threshold,
                        person_id, faces)


def _recognized(s: Services, faces: list[Face], top_k: int,
                reachable: bool) -> list[RecognizedFace]:
    """Each face with its candidates; accepted: those the rule calls "same person" and no
    correction refuses (a face like this one was said not to be them: app/corrections/negatives.py).
    The negative examples are synced from Redis once, and only for a frame with a face near someone;
    with Redis unreachable (`reachable` False, or found so here: the outage is told), this
    worker's last copy of them is used."""
    recognized, synced = [], not reachable
    no_gallery = not reachable and s.replica.live is None
    for face in faces:
        if no_gallery:
            recognized.append(RecognizedFace(face, [], None, reason="gallery_unavailable"))
            continue
        candidates = [Candidate(m.person_id, m.name, m.distance, s.rule.confidence(m.distance), m.face_id)
                      for m in s.replica.match(face.vector, top_k)]
        if face.quality is not None and face.quality.quality < s.settings.min_match_quality:
            recognized.append(RecognizedFace(face, candidates, None, reason="low_quality"))
            continue
        near = [c for c in candidates if s.rule.same_person(c.distance)]
        if near and not synced:
            synced = True
            try:
                s.negatives.sync()
            except UNREACHABLE as e:
                s.outage.failed(e)
        accepted = [c for c in near if not s.negatives.refuses(c.person_id, face.vector, c.distance)]
        recognized.append(RecognizedFace(face, candidates, accepted[0] if accepted else None, accepted=accepted))
    return recognized


def _record(s: Services, camera_id: str | None, frame: Frame, faces: list[RecognizedFace],
            stopwatch: Stopwatch) -> str | None:
    """Unknown faces kept as visitors' sightings, then the event (with each face's embedding, for corrections)."""
    thumbnails = jpeg_thumbnails(frame.rgb, np.array([f.face.box for f in faces]).reshape(-1, 4))
    with stopwatch.stage("visitors"):
        visitors.observe(s, faces, thumbnails, camera_id)
    entries = _entries(faces)
    event_id = s.events.record(camera_id, entries, thumbnails, np.array([f.face.embedding for f in faces]))
    s.publisher.publish_event(event_id, camera_id, entries)  # MQTT: queued, never waited on
    return event_id


def _entries(faces: list[RecognizedFace]) -> list[dict[str, object]]:
    """The faces as the event log and MQTT keep them."""
    return [{"person_id": f.match.person_id if f.match else None, "name": f.match.name if f.match else None,
             "distance": round((f.match or f.candidates[0]).distance, 4) if f.candidates else None,
             "box": [round(float(v), 1) for v in f.face.box], "visitor_id": f.visitor_id,
             "track_id": f.track.id if f.track else None,
             "quality": f.face.quality.quality if f.face.quality else None} for f in faces]


def _min_face(s: Services) -> float:
    return {"mtcnn": s.settings.mtcnn_min_size, "yunet": 20.0, "yunet+onet": 20.0}.get(s.settings.preprocessor, 40.0)


def kept_face(frame: Frame, face: Face) -> NewFace:
    """What the gallery keeps of an enrolled face: its embedding, a thumbnail, and the crop a
    later re-embedding needs."""
    return NewFace(face.vector, jpeg_thumbnails(frame.rgb, face.box[None])[0],
                   crop=enrolled_crop(frame.rgb, face.box, face.landmarks).to_bytes())


def largest_faces(s: Services, images: list[bytes]) -> list[Face]:
    """The largest face of each image, embedded; an image without a face is 422 naming it."""
    return _largest_faces(s, images, to_store=False).faces


def faces_to_enroll(s: Services, images: list[bytes], skip_faceless: bool = False, one_face: bool = False,
                    min_quality: float = 0.0) -> FacesToEnroll:
    """The largest face of each image, embedded, with what the gallery keeps of it. An image
    without a face is 422 naming it, or with skip_faceless left out and listed; with one_face,
    an image of several faces is 422 (SeveralFaces); a face under `min_quality` is 422
    (LowQualityFace) naming what is wrong with it."""
    return _largest_faces(s, images, True, skip_faceless, one_face, min_quality)


def _largest_faces(s: Services, images: list[bytes], to_store: bool, skip_faceless: bool = False,
                   one_face: bool = False, min_quality: float = 0.0) -> FacesToEnroll:
    """Every header is checked before any image is decoded, and each decoded image is let go
    before the next, so a request holds one frame at a time."""
    s.pipeline.check_request(images)
    faces: list[Face] = []
    entries: list[NewFace] = []
    skipped: list[str] = []
    for i, data in enumerate(images):
        which = f"image {i + 1} of {len(images)}" if len(images) > 1 else "the image"
        try:
            frame = s.pipeline.analyze(data, embed=False)
        except FaceRecError as e:
            if len(images) > 1:
                e.message = f"{which}: {e.message}"
            raise
        if one_face and len(frame.faces) > 1:
            raise SeveralFaces(f"{len(frame.faces)} faces in the image; send an image with one face")
        face = frame.largest_face()
        if face is None and skip_faceless:
            skipped.append(f"image {i + 1}: no face found ({frame.width}x{frame.height})")
            continue
        if face is None:
            raise NoFace(f"no face found in {which} ({frame.width}x{frame.height}); send a photo in which the "
                         f"face is clearly visible and at least {_min_face(s):.0f} px wide")
        s.pipeline.assess(frame, [face])
        quality = face.quality
        assert quality is not None   # assess() has just set it
        if quality.quality < min_quality:
            raise LowQualityFace(f"the face in {which} is {quality.problem()} (quality {quality.quality:.2f}, under "
                                 f"MIN_ENROLL_QUALITY {min_quality}); send a sharper, larger, frontal photo, or "
                                 f"force=true to enroll it anyway")
        s.pipeline.embed_faces(frame, [face])
        faces.append(face)
        if to_store:
            entries.append(kept_face(frame, face))
    return FacesToEnroll(faces, entries, skipped)
