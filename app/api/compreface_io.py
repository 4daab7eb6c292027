"""How the CompreFace API is spoken (app/api/compreface.py, app/api/compreface_gallery.py): its
key check, its error shape {"message", "code"}, its query options, its images (multipart
`file`, or JSON {"file": base64}), its boxes and face ids.

Keys: the `x-api-key` header (the same header as our X-API-Key). With API_KEYS set, a missing
header is 400 code 20 and a wrong key 404 code 10, as CompreFace answers; with none set any
key (or none) is accepted."""
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from flask import Blueprint, request

from app.api.auth import key_is_valid
from app.api.compat import box_ints
from app.api.current import services
from app.api.error_handlers import error_headers, error_parts
from app.api.uploads import finite_number, image_from_base64, parsed_json
from app.errors import (
    BadRequest,
    FaceNotFound,
    ImageTooLarge,
    InvalidBase64,
    InvalidField,
    MissingImage,
    NameTaken,
    NoFace,
    PersonNotFound,
    SeveralFaces,
)
from app.gallery.identity import DASHED_FACE_ID, HEX_FACE_ID
from app.pipeline import Face, Frame
from app.services import Services

TRUE, FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}
# our error -> (status, CompreFace code, message; None keeps ours)
CODES = [(NoFace, 400, 28, "No face is found in the given image"),
         (SeveralFaces, 400, 31, "More than one face in the source image"),
         (ImageTooLarge, 413, 26, None),
         (MissingImage, 400, 34, None),
         (InvalidBase64, 400, 21, "Provided value is not Base64"),
         (NameTaken, 400, 43, "Subject already exists"),
         (PersonNotFound, 404, 42, None),
         (FaceNotFound, 404, 44, None)]


def cf_error(status: int, code: int, message: str):
    return {"message": message, "code": code}, status


def install(bp: Blueprint) -> None:
    """The CompreFace key check and error shape on blueprint `bp`."""
    @bp.before_request
    def check_key():
        keys, given = services().settings.api_keys, request.headers.get("x-api-key")
        if keys and not given:
            return cf_error(400, 20, "Missing header: x-api-key")
        if keys and not key_is_valid(given or "", keys):
            return cf_error(404, 10, "Service with this API key not found: send one of the server's API_KEYS")

    @bp.errorhandler(Exception)
    def error(e: Exception):
        status, code, message = error_parts(e)
        for kind, cf_status, cf_code, cf_message in CODES:
            if isinstance(e, kind):
                return cf_error(cf_status, cf_code, cf_message or message)
        if code == "invalid_image":  # CompreFace answers 28 for any image it cannot use
            return cf_error(400, 28, message)
        if isinstance(e, BadRequest) or 400 <= status < 500:
            return cf_error(status if status != 422 else 400, 26 if status < 404 else 0, message)
        return (*cf_error(status, 41 if code.startswith(("model_", "redis_")) else 0, message), error_headers(code))


@dataclass
class Options:
    limit: int = 0                    # the N largest faces; 0: all
    det_prob_threshold: float = 0.0   # faces whose detector score is lower are left out
    prediction_count: int = 1
    plugins: frozenset = frozenset()  # of "landmarks", "calculator" (others are ignored, as CompreFace does)
    status: bool = False
    detect_faces: bool = True


MAX_LIMIT = 1000   # faces kept per image: more than any frame holds, and a range to name


def _number(name: str, kind, default, low, high):
    """Query option `name`: a finite number of `kind` in [low, high], or 400 naming the range."""
    value = request.args.get(name, "")
    if value in ("", "undefined", "null"):  # Double Take sends face_plugins=undefined literally
        return default
    number = finite_number(value, kind)
    if number is None:
        raise InvalidField(f"{name} must be a number between {low} and {high}, got {value[:20]!r}")
    if not low <= number <= high:
        raise InvalidField(f"{name} should be between {low} and {high}")
    return number


def _flag(name: str, default: bool) -> bool:
    value = request.args.get(name, "").strip().lower()
    if value in ("", "undefined", "null"):
        return default
    if value not in TRUE | FALSE:
        raise InvalidField(f"{name} must be true or false, got {value[:20]!r}")
    return value in TRUE


def options() -> Options:
    plugins = {p.strip().lower() for p in request.args.get("face_plugins", "").split(",")}
    return Options(_number("limit", int, 0, 0, MAX_LIMIT), _number("det_prob_threshold", float, 0.0, 0.0, 1.0),
                   _number("prediction_count", int, 1, 1, 100), frozenset(plugins & {"landmarks", "calculator"}),
                   _flag("status", False), _flag("detect_faces", True))


def selection(opts: Options) -> Callable[[Frame], list[Face]]:
    """The faces to keep of a detected frame: the whole image when detect_faces=false; else those
    scoring at least det_prob_threshold, the `limit` largest."""
    def select(frame: Frame) -> list[Face]:
        if not opts.detect_faces:
            return [Face(np.array([0, 0, frame.width, frame.height], np.float32), 1.0, np.zeros((5, 2), np.float32))]
        faces = sorted((f for f in frame.faces if f.score >= opts.det_prob_threshold), key=lambda f: -f.area)
        return faces[:opts.limit] if opts.limit else faces
    return select


def image(field: str = "file") -> bytes:
    """The image in multipart part `field` (or the request's only file part), or base64 in JSON."""
    if request.mimetype == "application/json":
        body = parsed_json()
        if not isinstance(body, dict) or field not in body:
            raise MissingImage(f"Required part {field} is missing (JSON: {{\"{field}\": \"<base64>\"}})")
        try:
            return image_from_base64(body[field], f"`{field}`")
        except InvalidField:
            raise InvalidBase64(f"`{field}` is not base64") from None
    files = request.files.getlist(field)
    if not files and field == "file" and len(request.files) == 1:
        files = request.files.getlist(next(iter(request.files)))
    if not files:
        raise MissingImage(f"Required part {field} is missing")
    return files[0].read()


def box(face: Face, frame: Frame) -> dict:
    return {"probability": round(float(face.score), 5), **box_ints(face.box, frame)}


def face_extras(face: Face, opts: Options, timing_ms: dict) -> dict:
    """What the plugins and `status` add to a face: landmarks, embedding, execution_time."""
    extras: dict[str, object] = {}
    if "landmarks" in opts.plugins:
        extras["landmarks"] = [[round(float(x)), round(float(y))] for x, y in face.landmarks]
    if "calculator" in opts.plugins and face.embedding is not None:
        extras["embedding"] = [round(float(v), 7) for v in face.embedding]
    if opts.status:
        extras["execution_time"] = {"detector": timing_ms.get("detect", 0.0), "calculator": timing_ms.get("embed", 0.0)}
    return extras


def plugins_versions(s: Services, opts: Options) -> dict:
    if not opts.status:
        return {}
    versions = {"detector": f"facerec.{s.pipeline.detector.name}", "calculator": f"facerec.{s.pipeline.model_id}"}
    return {"plugins_versions": versions}


def image_id(face_id: str) -> str:
    """Our face id as CompreFace shows it: 32 lower-case hex digits as a dashed UUID, any other
    id as it is (so that face_id() reads each back as itself: no face id is a dashed UUID)."""
    return str(uuid.UUID(hex=face_id)) if HEX_FACE_ID.fullmatch(face_id) else face_id


def face_id(image_id_text: str) -> str:
    """An image id -> our face id: a dashed UUID (either case) back to its 32 lower-case hex
    digits, any other text as it is (32 upper-case hex digits, or dashed otherwise, is another
    id, shown as it is)."""
    if DASHED_FACE_ID.fullmatch(image_id_text):
        return image_id_text.replace("-", "").lower()
    return image_id_text
