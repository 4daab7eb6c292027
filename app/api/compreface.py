"""The CompreFace API, recognition side (`/api/v1/recognition/recognize`, `/api/v1/detection/detect`,
`/api/v1/verification/verify`, `/api/v1/recognition/faces/{image_id}/verify`), for Double Take,
compreface-sdk and CompreFace's other clients. The gallery side (faces, subjects) is in
app/api/compreface_gallery.py; the protocol details in app/api/compreface_io.py.

What differs from CompreFace, deliberately:
- `similarity` is the native confidence, 1 / (1 + exp((distance - MATCH_THRESHOLD) / 0.1)):
  0.5 at the threshold, monotonic in the distance.
- `subjects` lists only people within MATCH_THRESHOLD (similarity >= 0.5), nearest first, at
  most `prediction_count`: a face nobody matches has `subjects: []` (CompreFace lists the
  nearest subjects however far, which its users read as false matches).
- Plugins: `landmarks` (5 points) and `calculator` (our embedding: its size follows EMBEDDER,
  256-d for the default facenet+sface); age, gender, mask, pose are ignored, as CompreFace
  ignores plugins it does not have.
- Recognitions are recorded as events (camera `camera_id` from the query, else "compreface").
"""
from flask import Blueprint

from app.api import compreface_io as io
from app.api.compat import camera_id, poster
from app.api.current import services
from app.errors import FaceNotFound, NoFace
from app.usecases import comparison, recognition, subjects

bp = Blueprint("compreface", __name__, url_prefix="/api/v1")
io.install(bp)


post = poster(bp, "CompreFace")


def _subjects(face, count: int) -> list[dict]:
    """The subjects that could be this face (never one under the threshold or refused by a correction)."""
    return [{"subject": c.name, "similarity": round(c.confidence, 5)} for c in face.accepted[:count]]


@post("/recognition/recognize", "every face and the enrolled subjects it matches (`file`)")
def recognize():
    s, opts = services(), io.options()
    top_k = max(s.settings.top_k, opts.prediction_count)
    result = recognition.recognize(s, io.image(), camera_id("compreface"), top_k=top_k, select=io.selection(opts))
    if not result.faces:
        raise NoFace("no face")
    faces = [{"box": io.box(f.face, result.frame), "subjects": _subjects(f, opts.prediction_count),
              **io.face_extras(f.face, opts, result.timing_ms)} for f in result.faces]
    return {"result": faces, **io.plugins_versions(s, opts)}


@post("/detection/detect", "every face, without recognition (`file`)")
def detect():
    s, opts = services(), io.options()
    analyze = recognition.embed if "calculator" in opts.plugins else recognition.detect
    analysis = analyze(s, io.image())
    faces = io.selection(opts)(analysis.frame)
    if not faces:
        raise NoFace("no face")
    return {"result": [{"box": io.box(f, analysis.frame), **io.face_extras(f, opts, analysis.timing_ms)}
                       for f in faces], **io.plugins_versions(s, opts)}


@post("/verification/verify", "the one face of `source_image` against every face of `target_image`")
def verify():
    s, opts = services(), io.options()
    result = comparison.compare_images(s, io.image("source_image"), io.image("target_image"), io.selection(opts))
    assert result.source is not None and result.source_frame is not None   # set by compare_images
    source = {"box": io.box(result.source, result.source_frame), **io.face_extras(result.source, opts, {})}
    matches = [{"box": io.box(p.face, result.frame), "similarity": round(p.confidence, 5),
                **io.face_extras(p.face, opts, result.timing_ms)} for p in result.matches]
    return {"result": [{"source_image_face": source, "face_matches": matches, **io.plugins_versions(s, opts)}]}


@post("/recognition/faces/<image_id>/verify", "every face of `file` against one enrolled face")
def verify_with_face(image_id: str):
    s, opts = services(), io.options()
    enrolled = subjects.stored_face(s, io.face_id(image_id))
    if enrolled is None:
        raise FaceNotFound(f"Image {image_id} not found")
    result = comparison.compare_with_face(s, io.image(), enrolled, io.selection(opts))
    faces = [{"box": io.box(p.face, result.frame), "subject": enrolled.name, "similarity": round(p.confidence, 5),
              **io.face_extras(p.face, opts, result.timing_ms)} for p in result.matches]
    return {"result": faces, **io.plugins_versions(s, opts)}
