"""Camera frames in, faces out: /recognize, /enroll, /detect, /verify."""
import math
import time

from flask import Blueprint

from app import metrics
from app.errors import FaceRecError, InvalidField, NoFace
from app.gallery import NewFace
from app.http_input import read_upload, single_image, text_field
from app.imaging import jpeg_thumbnails
from app.matching import distances
from app.openapi import documented
from app.schemas import (
    LANDMARKS,
    Box,
    Candidate,
    DetectedFace,
    DetectResponse,
    EmbeddedFace,
    EmbedResponse,
    EnrolledFace,
    EnrollResponse,
    RecognizedFace,
    RecognizeResponse,
    VerifyResponse,
)
from app.services import services

bp = Blueprint("api", __name__)
CONFIDENCE_SCALE = 0.1  # distance units over which confidence falls from 0.73 to 0.27 around the threshold
IMAGE_ERRORS = (400, 401, 413, 415, 422, 502, 503, 504)


def confidence(distance, threshold):
    return 1.0 / (1.0 + math.exp((distance - threshold) / CONFIDENCE_SCALE))


def box_of(face):
    return Box(**dict(zip(("x1", "y1", "x2", "y2"), (round(float(v), 1) for v in face.box))))


def detected(face):
    marks = {name: (round(float(x), 1), round(float(y), 1)) for name, (x, y) in zip(LANDMARKS, face.landmarks)}
    return DetectedFace(box=box_of(face), score=round(face.score, 4), landmarks=marks)


def candidate(pid, name, distance, threshold):
    return Candidate(person_id=pid, name=name, distance=round(distance, 4),
                     confidence=round(confidence(distance, threshold), 4))


def analyze_all(images, embed):
    """Analyze each image; an error names which image it was about."""
    frames = []
    for i, data in enumerate(images):
        try:
            frames.append(services().pipeline.analyze(data, embed=embed))
        except FaceRecError as e:
            if len(images) > 1:
                e.message = f"image {i + 1} of {len(images)}: {e.message}"
            raise
    return frames


def largest_faces(frames):
    """The largest face of each frame, or 422 naming the frame without one."""
    faces = []
    for i, frame in enumerate(frames):
        face = frame.largest_face()
        if face is None:
            which = f"image {i + 1} of {len(frames)}" if len(frames) > 1 else "the image"
            raise NoFace(f"no face found in {which} ({frame.width}x{frame.height}); send a photo in which the "
                         f"face is clearly visible and at least {services().settings.mtcnn_min_size:.0f} px wide")
        faces.append(face)
    return faces


def embed_largest(frames):
    faces = largest_faces(frames)
    for frame, face in zip(frames, faces):
        face.embedding = services().pipeline.embed_boxes(frame.rgb, face.box[None])[0]
    return faces


@bp.post("/recognize")
@documented("Every face in a camera frame, and who it is", RecognizeResponse, body="image",
            fields=[("camera_id", "which camera sent the frame (stored with the event)", False)],
            errors=IMAGE_ERRORS)
def recognize():
    s = services()
    upload = read_upload(s.settings.max_images_per_request)
    camera_id = text_field(upload, "camera_id")
    start = time.perf_counter()
    s.gallery.sync()  # Redis first: when it is down, answer before spending model time
    sync_s = time.perf_counter() - start
    frame = s.pipeline.analyze(single_image(upload))
    threshold = s.settings.match_threshold
    start = time.perf_counter()
    ranked = [s.gallery.match(face.embedding, s.settings.top_k) for face in frame.faces]
    frame.timing_ms["match"] = round((time.perf_counter() - start + sync_s) * 1000.0, 2)
    faces = []
    for face, people in zip(frame.faces, ranked):
        candidates = [candidate(pid, name, d, threshold) for pid, name, d in people]
        match = candidates[0] if candidates and candidates[0].distance <= threshold else None
        faces.append(RecognizedFace(**detected(face).model_dump(), match=match, candidates=candidates))
    event_faces = [{"person_id": f.match.person_id if f.match else None, "name": f.match.name if f.match else None,
                    "distance": f.candidates[0].distance if f.candidates else None,
                    "box": [f.box.x1, f.box.y1, f.box.x2, f.box.y2]} for f in faces]
    event_id = s.events.record(camera_id, event_faces, jpeg_thumbnails(frame.rgb, [f.box for f in frame.faces]))
    frame.timing_ms["total"] = round(sum(v for k, v in frame.timing_ms.items() if k != "total"), 2)
    metrics.observe_stages(frame.timing_ms)
    metrics.GALLERY_FACES.set(s.gallery.size)
    for f in faces:
        metrics.FACES.labels("known" if f.match else "unknown").inc()
    return RecognizeResponse(camera_id=camera_id, event_id=event_id, width=frame.width, height=frame.height,
                             preprocessor=s.pipeline.detector.name, faces=faces,
                             timing_ms=frame.timing_ms).model_dump()


@bp.post("/enroll")
@documented("Enroll a new person (`name`) or add faces to one (`person_id`); the largest face of each image",
            EnrollResponse, status=201, body="image",
            fields=[("name", "name of a new person", False), ("person_id", "an enrolled person to add faces to", False)],
            errors=(400, 401, 404, 409, 413, 415, 422, 502, 503, 504))
def enroll():
    s = services()
    upload = read_upload(s.settings.max_images_per_request)
    name, pid = text_field(upload, "name"), text_field(upload, "person_id", max_length=64)
    created = name is not None
    if created == bool(pid):
        raise InvalidField("send `name` to enroll a new person, or `person_id` to add faces to an enrolled one"
                           + (" (not both)" if name else ""))
    s.redis.ping()  # fail fast, before the models, when Redis is down
    frames = analyze_all(upload.images, embed=False)
    faces = embed_largest(frames)
    entries = [NewFace(face.embedding, jpeg_thumbnails(frame.rgb, [face.box])[0]) for frame, face in zip(frames, faces)]
    if name:
        pid, ids = s.store.create_person(name, entries)
    else:
        name, ids = s.store.add_faces(pid, entries)
    body = EnrollResponse(person_id=pid, name=name, created=created,
                          faces=[EnrolledFace(face_id=fid, box=box_of(face), score=round(face.score, 4))
                                 for fid, face in zip(ids, faces)])
    return body.model_dump(), 201 if body.created else 200


@bp.post("/detect")
@documented("Every face in an image, without matching", DetectResponse, body="image", errors=IMAGE_ERRORS)
def detect():
    s = services()
    upload = read_upload(s.settings.max_images_per_request)
    frame = s.pipeline.analyze(single_image(upload), embed=False)
    metrics.observe_stages(frame.timing_ms)
    return DetectResponse(width=frame.width, height=frame.height, preprocessor=s.pipeline.detector.name,
                          faces=[detected(f) for f in frame.faces], timing_ms=frame.timing_ms).model_dump()


@bp.post("/embed")
@documented("Every face in an image with its embedding (for evaluations and integrations)", EmbedResponse,
            body="image", errors=IMAGE_ERRORS)
def embed():
    s = services()
    frame = s.pipeline.analyze(single_image(read_upload(s.settings.max_images_per_request)))
    faces = [EmbeddedFace(**detected(f).model_dump(), embedding=[round(float(v), 7) for v in f.embedding])
             for f in frame.faces]
    return EmbedResponse(model=s.pipeline.model_id, width=frame.width, height=frame.height, faces=faces).model_dump()


@bp.post("/verify")
@documented("Are two faces the same person? Two images, or one image and a `person_id`", VerifyResponse,
            body="image", fields=[("person_id", "compare the image with this enrolled person", False)],
            errors=(400, 401, 404, 413, 415, 422, 502, 503, 504))
def verify():
    s = services()
    upload = read_upload(s.settings.max_images_per_request)
    pid = text_field(upload, "person_id", max_length=64)
    wanted = 1 if pid else 2
    if len(upload.images) != wanted:
        raise InvalidField(f"{len(upload.images)} images sent; send two images, or one image and `person_id`")
    enrolled = s.store.vectors(pid) if pid else None
    if enrolled is not None and len(enrolled) == 0:
        raise NoFace(f"person {pid!r} has no enrolled face; enroll one first")
    faces = embed_largest(analyze_all(upload.images, embed=False))
    other = enrolled if pid else faces[1].embedding[None]
    distance = float(distances(faces[0].embedding, other).min())
    threshold = s.settings.match_threshold
    return VerifyResponse(distance=round(distance, 4), same_person=distance <= threshold,
                          confidence=round(confidence(distance, threshold), 4), threshold=threshold,
                          person_id=pid, faces=[detected(f) for f in faces]).model_dump()
