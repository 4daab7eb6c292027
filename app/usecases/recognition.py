"""The use cases behind every HTTP surface (the native API today, the compatibility APIs
next): recognize, detect, embed, enroll, verify. Each takes the worker's services and
decoded request values and returns domain objects; views only parse and serialise.

    result = recognize(services, jpeg_bytes, camera_id="door")
    for face in result.faces: face.match and face.match.name
"""
from dataclasses import dataclass

import numpy as np

from app import metrics
from app.errors import FaceRecError, InvalidField, NoFace
from app.gallery import NewFace
from app.gallery.identity import clean_name
from app.gallery.matching import distances
from app.pipeline import Face, Frame, Stopwatch
from app.pipeline.enrolled_crop import enrolled_crop
from app.pipeline.imaging import jpeg_thumbnails
from app.services import Services


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
    match: Candidate | None         # the nearest, when the rule says "same person"; None = unknown


@dataclass
class Recognition:
    camera_id: str | None
    event_id: str | None
    frame: Frame
    faces: list[RecognizedFace]
    timing_ms: dict[str, float]


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
class Verification:
    distance: float
    same_person: bool
    confidence: float
    threshold: float
    person_id: str | None
    faces: list[Face]               # the largest face of each image used


def recognize(s: Services, image: bytes, camera_id: str | None = None, record: bool = True) -> Recognition:
    """Every face of one frame with the nearest enrolled people; appended to the event log
    unless record=False."""
    stopwatch = Stopwatch()
    with stopwatch.stage("sync"):
        s.replica.sync()  # Redis first: when it is down, answer before spending model time
    frame = s.pipeline.analyze(image, stopwatch=stopwatch)
    with stopwatch.stage("match"):
        faces = [_recognized(s, face) for face in frame.faces]
    event_id = _record_event(s, camera_id, frame, faces) if record else None
    timing = stopwatch.finish()
    metrics.observe_recognition(timing, [f.match is not None for f in faces], s.replica.size)
    return Recognition(camera_id, event_id, frame, faces, timing)


def detect(s: Services, image: bytes) -> Analysis:
    stopwatch = Stopwatch()
    frame = s.pipeline.analyze(image, embed=False, stopwatch=stopwatch)
    timing = stopwatch.finish()
    metrics.observe_stages(timing)
    return Analysis(frame, timing)


def embed(s: Services, image: bytes) -> Analysis:
    stopwatch = Stopwatch()
    frame = s.pipeline.analyze(image, stopwatch=stopwatch)
    return Analysis(frame, stopwatch.finish())


def enroll(s: Services, images: list[bytes], name: str | None = None, person_id: str | None = None) -> Enrollment:
    """A new person `name`, or faces added to `person_id`: the largest face of each image,
    with its thumbnail and the crop a later re-embedding needs. Nothing is stored unless every
    image has a face; 409 before any model work when the gallery is of another model."""
    if (name is None) == (person_id is None):
        raise InvalidField("send `name` to enroll a new person, or `person_id` to add faces to an enrolled one"
                           + (" (not both)" if name else ""))
    name = clean_name(name) if name is not None else None
    s.store.check_model(writing=True)  # fail fast, before the models, when Redis is down or the model differs
    frames, faces = _largest_faces(s, images)
    entries = [NewFace(face.embedding, jpeg_thumbnails(frame.rgb, face.box[None])[0],
                       crop=enrolled_crop(frame.rgb, face.box, face.landmarks).to_bytes())
               for frame, face in zip(frames, faces)]
    created = name is not None
    if created:
        person_id, ids = s.store.create_person(name, entries)
    else:
        name, ids = s.store.add_faces(person_id, entries)
    return Enrollment(person_id, name, created, list(zip(ids, faces)))


def verify(s: Services, images: list[bytes], person_id: str | None = None) -> Verification:
    """Two images, or one image and an enrolled person: are they the same person?"""
    if len(images) != (1 if person_id else 2):
        raise InvalidField(f"{len(images)} images sent; send two images, or one image and `person_id`")
    enrolled = s.store.vectors(person_id) if person_id else None   # 409 when the gallery's model differs
    if enrolled is not None and len(enrolled) == 0:
        raise NoFace(f"person {person_id!r} has no enrolled face; enroll one first")
    _, faces = _largest_faces(s, images)
    other = enrolled if person_id else faces[1].embedding[None]
    distance = float(distances(faces[0].embedding, other).min())
    return Verification(distance, s.rule.same_person(distance), s.rule.confidence(distance), s.rule.threshold,
                        person_id, faces)


def _recognized(s: Services, face: Face) -> RecognizedFace:
    candidates = [Candidate(m.person_id, m.name, m.distance, s.rule.confidence(m.distance), m.face_id)
                  for m in s.replica.match(face.embedding, s.settings.top_k)]
    match = candidates[0] if candidates and s.rule.same_person(candidates[0].distance) else None
    return RecognizedFace(face, candidates, match)


def _record_event(s: Services, camera_id: str | None, frame: Frame, faces: list[RecognizedFace]) -> str:
    entries = [{"person_id": f.match.person_id if f.match else None, "name": f.match.name if f.match else None,
                "distance": round(f.candidates[0].distance, 4) if f.candidates else None,
                "box": [round(float(v), 1) for v in f.face.box]} for f in faces]
    return s.events.record(camera_id, entries, jpeg_thumbnails(frame.rgb, np.array([f.face.box for f in faces])))


def _min_face(s: Services) -> float:
    return {"mtcnn": s.settings.mtcnn_min_size, "yunet": 20.0}.get(s.settings.preprocessor, 40.0)


def _largest_faces(s: Services, images: list[bytes]) -> tuple[list[Frame], list[Face]]:
    """The largest face of each image, embedded; 422 naming the image without one. An error
    about one of several images says which."""
    frames, faces = [], []
    for i, data in enumerate(images):
        which = f"image {i + 1} of {len(images)}" if len(images) > 1 else "the image"
        try:
            frame = s.pipeline.analyze(data, embed=False)
        except FaceRecError as e:
            if len(images) > 1:
                e.message = f"{which}: {e.message}"
            raise
        face = frame.largest_face()
        if face is None:
            raise NoFace(f"no face found in {which} ({frame.width}x{frame.height}); send a photo in which the "
                         f"face is clearly visible and at least {_min_face(s):.0f} px wide")
        frames.append(frame)
        faces.append(face)
    for frame, face in zip(frames, faces):
        s.pipeline.embed_faces(frame, [face])
    return frames, faces
