"""Every error as (status, code, message), the same for every API surface: the app's own
errors, Redis failures (never naming a command or a key: those go to the log), Flask's HTTP
errors (404, 405, 413) and, as a plain 500 without a trace, anything unexpected (the trace
goes to the log). The native API answers them as JSON {"error": {"code", "message"}}
(ErrorResponse); the compatibility APIs in their clients' shapes (app/api/deepstack.py,
app/api/compreface_io.py)."""
import logging
import math
from collections.abc import Callable
from typing import Any

import redis
from flask import Flask, current_app, request
from werkzeug.exceptions import HTTPException

from app import metrics
from app.api.current import services
from app.api.schemas import ErrorResponse
from app.errors import FaceRecError, ModelError

log = logging.getLogger("facerec")


def error_parts(e: Exception) -> tuple[int, str, str]:
    """(HTTP status, error code, message) for exception `e`, with its logging and metrics."""
    if isinstance(e, FaceRecError):
        if isinstance(e, ModelError):
            metrics.MODEL_ERRORS.labels(e.model, e.code).inc()
        return e.status, e.code, e.message
    if isinstance(e, (redis.ConnectionError, redis.TimeoutError)):
        return 503, "redis_unavailable", (f"Redis at {services().redis_where} is unreachable ({e}); this cannot "
                                          "be done without it, try again shortly")
    if isinstance(e, redis.OutOfMemoryError):
        log.error("Redis is full: %s", e)
        return 507, "redis_full", (f"Redis at {services().redis_where} is full (maxmemory) and stores nothing "
                                   "more; delete people, or give Redis more memory")
    if isinstance(e, redis.RedisError):
        log.exception("Redis error")  # the command and keys go to the log, not to the client
        return 503, "redis_error", (f"Redis at {services().redis_where} refused the operation; the server "
                                    "log has the details")
    if isinstance(e, HTTPException):
        message = e.description or e.name
        if e.code == 413:
            limit = request.max_content_length if request else current_app.config["MAX_CONTENT_LENGTH"]
            message = (f"the request body is larger than {limit} bytes, the limit of this route "
                       f"(MAX_CONTENT_LENGTH, or MAX_IMPORT_BYTES for /gallery/import); send less")
            if request and limit and request.content_length is not None and request.content_length <= limit:
                # within the body's limit: werkzeug's form parser refused the parts or a text field
                message = (f"the multipart form has more than {request.max_form_parts} parts, or a text field of "
                           f"more than {request.max_form_memory_size} bytes; send images as files and text "
                           f"fields short")
        return e.code or 500, e.name.lower().replace(" ", "_"), message
    log.exception("unexpected error")
    return 500, "internal_error", "an unexpected error happened; it has been logged"


def error_headers(code: str) -> dict[str, str]:
    """Headers of an error answer: Retry-After when Redis is unreachable (a write that cannot be
    done now; recognitions do not fail for it), every API surface alike."""
    if code == "redis_unavailable":
        return {"Retry-After": str(max(1, math.ceil(services().settings.redis_retry_s)))}
    return {}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(Exception)
    def any_error(e: Exception):
        if request.blueprint is None:   # no route matched (404, 405): a compatibility API's shape under its prefix
            own = _prefix_handler(app, request.path)
            if own is not None:
                return own(e)
        status, code, message = error_parts(e)
        return ErrorResponse.body(code, message), status, error_headers(code)


def _prefix_handler(app: Flask, path: str) -> Callable[[Exception], Any] | None:
    """The error handler of the blueprint with the longest URL prefix `path` is under (DeepStack's
    /v1/vision, CompreFace's /api/v1), so that its clients read a route they do not find in their
    own error shape; None under none."""
    under = [(bp.url_prefix, name) for name, bp in app.blueprints.items()
             if bp.url_prefix and (path == bp.url_prefix or path.startswith(bp.url_prefix.rstrip("/") + "/"))]
    for _, name in sorted(under, reverse=True):
        handler = app.error_handler_spec.get(name, {}).get(None, {}).get(Exception)
        if handler is not None:
            return handler
    return None
