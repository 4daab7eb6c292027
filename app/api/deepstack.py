"""The DeepStack / CodeProject.AI face API (`/v1/vision/face...`), for Home Assistant's
deepstack_face (deepstack-python), Double Take, Blue Iris and Agent DVR. A thin adapter over
the use cases; what differs from DeepStack is deliberate:

- `/register` adds faces to the person (DeepStack replaced them: Double Take and Viseron send
  one photo per call, so only the last would survive); `userid` is the person's name.
- `confidence` is the native one, 1 / (1 + exp((distance - MATCH_THRESHOLD) / 0.1)): 0.5 at
  the threshold. A face is named when the server's rule says "same person" and, if the client
  sends `min_confidence`, its confidence is at least that: a client can be stricter than the
  server, never looser (deepstack-python always sends 0.45, which then means the server's rule).
- Every success carries the real `duration` in ms. Errors are {"success": false, "error"} with
  a 4xx/5xx status (DeepStack's strings where it had one); no face is 200 with no predictions.
- `api_key` is read from the form (as DeepStack's clients send it) or the X-API-Key header, never
  from the query string: a key in a URL ends up in proxy and access logs.
"""
import time

from flask import Blueprint, request

from app.api.auth import key_is_valid
from app.api.compat import box_ints, camera_id, files_in_request, poster
from app.api.current import services
from app.api.error_handlers import error_headers, error_parts
from app.api.uploads import finite_number
from app.errors import InvalidField, MissingImage, NoFace
from app.usecases import recognition, subjects

bp = Blueprint("deepstack", __name__, url_prefix="/v1/vision")
DETECTION_MIN_CONFIDENCE = 0.55   # DeepStack's default for /face: a detector score
NO_FACE = {"deepstack.register": "no face detected", "deepstack.match": "no face found"}
STRINGS = {"missing_image": "No valid image file found", "invalid_image": "invalid image"}


route = poster(bp, "DeepStack")


def ok(started: float, **fields) -> dict:
    return {"success": True, **fields, "duration": round((time.perf_counter() - started) * 1000.0, 1)}


def fail(status: int, error: str):
    return {"success": False, "error": error, "duration": 0}, status


@bp.before_request
def check_key():
    keys = services().settings.api_keys
    given = request.form.get("api_key") or request.headers.get("X-API-Key", "")
    if keys and not key_is_valid(given, keys):
        return fail(401, "Incorrect api key")


@bp.errorhandler(Exception)
def error(e: Exception):
    status, code, message = error_parts(e)
    if isinstance(e, NoFace):
        return fail(400, NO_FACE.get(request.endpoint or "", message))
    if code in STRINGS:
        return fail(status, STRINGS[code] if code == "missing_image" else f"{STRINGS[code]}: {message}")
    return (*fail(status, message), error_headers(code))


def image(field: str = "image") -> bytes:
    files = request.files.getlist(field) or [f for _, f in request.files.items(multi=True)][:1]
    if not files:
        raise MissingImage("No valid image file found")
    return files[0].read()


def min_confidence(default: float | None) -> float | None:
    value = request.form.get("min_confidence", request.args.get("min_confidence"))
    if value in (None, ""):
        return default
    number = finite_number(value)
    if number is None:
        raise InvalidField("Invalid value for min_confidence: send a number from 0 to 1")
    if not 0.0 <= number <= 1.0:
        raise InvalidField("min_confidence cannot be greater than 1" if number > 1 else
                           "min_confidence cannot be negative")
    return number


def userid() -> str:
    value = request.form.get("userid", request.args.get("userid", ""))
    if not value.strip():
        raise InvalidField("userid not specified")
    return value


@route("/face", "every face with its detector confidence (`min_confidence`, default 0.55)")
def detect():
    started, s = time.perf_counter(), services()
    data, threshold = image(), min_confidence(DETECTION_MIN_CONFIDENCE) or 0.0
    frame = recognition.detect(s, data).frame
    faces = [{"confidence": round(f.score, 4), **box_ints(f.box, frame)} for f in frame.faces if f.score >= threshold]
    return ok(started, predictions=faces, count=len(faces))


@route("/face/recognize", "every face with `userid` (the name, or \"unknown\") and `confidence`")
def recognize():
    started, s = time.perf_counter(), services()
    data, threshold = image(), min_confidence(None)
    result = recognition.recognize(s, data, camera_id("deepstack"))
    faces = []
    for face in result.faces:
        named = face.match if face.match is not None and (threshold is None or face.match.confidence >= threshold) \
            else None
        faces.append({"confidence": round(named.confidence, 4) if named else 0,
                      "userid": named.name if named else "unknown", **box_ints(face.face.box, result.frame)})
    return ok(started, predictions=faces, count=len(faces))


@route("/face/register", "add the largest face of each image (any field name) to the person `userid`")
def register():
    started, s = time.perf_counter(), services()
    images = files_in_request()
    if not images:
        raise MissingImage("No valid image file found")
    added = subjects.add_examples(s, userid(), images, field="userid")
    return ok(started, message="face added" if added.created else "face updated")


@route("/face/list", "the names of every enrolled person")
def list_faces():
    started = time.perf_counter()
    return ok(started, faces=subjects.subject_names(services()))


@route("/face/delete", "delete the person `userid` and their faces")
def delete():
    started = time.perf_counter()
    subjects.delete_subject(services(), userid(), "userid")
    return ok(started)


@route("/face/match", "how alike the largest faces of two images are (`similarity`, the confidence)")
def match():
    started, s = time.perf_counter(), services()
    images = files_in_request()
    if len(images) != 2:
        raise InvalidField("No valid image file found" if not images else
                           "expected two image files, only one found" if len(images) == 1 else
                           "only two images allowed")
    return ok(started, similarity=round(recognition.verify(s, images).confidence, 4))


@route("/detection", "object detection is not served here (403, as DeepStack with it off)")
def detection():
    return fail(403, "Detection endpoint not activated")


@route("/scene", "scene recognition is not served here")
def scene():
    return fail(403, "Scene endpoint not activated")


@route("/enhance", "image enhancement is not served here")
def enhance():
    return fail(403, "Enhance endpoint not activated")


@route("/custom/<model>", "custom models are not served here")
def custom(model: str):
    return fail(403, "Custom vision endpoint not activated")
