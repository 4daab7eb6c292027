"""What the compatibility APIs (DeepStack, CompreFace) share: their errors as the native API
would see them (error_parts: any exception -> status, our code, message, with the same
logging and metrics; each blueprint answers it in its clients' JSON), image files under any
field name, the camera a frame is recorded under, and boxes in whole pixels."""
import logging
import math

import numpy as np
import redis
from flask import current_app, request
from werkzeug.exceptions import HTTPException

from app import metrics
from app.api.uploads import Upload, text_field
from app.errors import BadRequest, FaceRecError, ModelError
from app.pipeline import Frame
from app.services import services

log = logging.getLogger("facerec")


def error_parts(e: Exception) -> tuple[int, str, str]:
    """(HTTP status, native error code, message) for exception `e`."""
    if isinstance(e, FaceRecError):
        if isinstance(e, ModelError):
            metrics.MODEL_ERRORS.labels(e.model, e.code).inc()
        return e.status, e.code, e.message
    if isinstance(e, (redis.ConnectionError, redis.TimeoutError)):
        return 503, "redis_unavailable", f"Redis at {services().redis_where} is unreachable ({e}); try again shortly"
    if isinstance(e, redis.RedisError):
        log.exception("Redis error")
        return 503, "redis_error", f"Redis at {services().redis_where} failed: {e}"
    if isinstance(e, HTTPException):
        if e.code == 413:
            return 413, "request_entity_too_large", (f"the request body is larger than "
                                                     f"{current_app.config['MAX_CONTENT_LENGTH']} bytes "
                                                     f"(MAX_CONTENT_LENGTH); send a smaller image")
        return e.code or 500, e.name.lower().replace(" ", "_"), e.description or e.name
    log.exception("unexpected error")
    return 500, "internal_error", "an unexpected error happened; it has been logged"


def files_in_request() -> list[bytes]:
    """Every file part of a multipart request, whatever its field name, in order (clients send
    `image`, `image1`..., `file`; none sends a part Content-Type worth trusting: bytes decide)."""
    files = [f.read() for _, f in request.files.items(multi=True)]
    limit = services().settings.max_images_per_request
    if len(files) > limit:
        raise BadRequest(f"{len(files)} images in one request; at most {limit} (MAX_IMAGES_PER_REQUEST)")
    return files


def camera_id(default: str) -> str:
    """The camera a recognition is recorded under: `camera_id` from the query or form, else `default`."""
    fields = {**request.form.to_dict(), **request.args.to_dict()}
    return text_field(Upload([], fields), "camera_id") or default


def box_ints(box: np.ndarray, frame: Frame) -> dict[str, int]:
    """x_min, y_min, x_max, y_max in whole pixels inside the image (clients crop with them)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    x_min, y_min = min(max(0, round(x1)), frame.width - 1), min(max(0, round(y1)), frame.height - 1)
    return {"x_min": x_min, "y_min": y_min, "x_max": max(min(frame.width, round(x2)), x_min + 1),
            "y_max": max(min(frame.height, round(y2)), y_min + 1)}


def finite_number(text: str, kind: type = float) -> float | int | None:
    """`text` as a finite number of `kind` (float or int), or None when it is not one ("abc",
    "nan", "1e999", "²": each a 400 for the caller, never a 500 further on)."""
    try:
        number = kind(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
