"""Every error of the native API as JSON {"error": {"code", "message"}} (ErrorResponse) with
its 4xx/5xx status: the app's own errors, Redis failures, Flask's HTTP errors (404, 405,
413) and, as a plain 500 without a trace, anything unexpected (the trace goes to the log)."""
import logging

import redis
from flask import Flask
from werkzeug.exceptions import HTTPException

from app import metrics
from app.api.schemas import ErrorResponse
from app.errors import FaceRecError, ModelError

log = logging.getLogger("facerec")


def register_error_handlers(app: Flask, redis_where: str) -> None:
    @app.errorhandler(FaceRecError)
    def app_error(e: FaceRecError):
        if isinstance(e, ModelError):
            metrics.MODEL_ERRORS.labels(e.model, e.code).inc()
        return ErrorResponse.body(e.code, e.message), e.status

    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    def redis_down(e):
        return ErrorResponse.body("redis_unavailable", f"Redis at {redis_where} is unreachable ({e}); the gallery "
                                                       "cannot be read or changed, try again shortly"), 503

    @app.errorhandler(redis.RedisError)
    def redis_error(e):
        log.exception("Redis error")
        return ErrorResponse.body("redis_error", f"Redis at {redis_where} failed: {e}"), 503

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        message = e.description
        if e.code == 413:
            message = (f"the request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes "
                       f"(MAX_CONTENT_LENGTH); send a smaller image")
        return ErrorResponse.body(e.name.lower().replace(" ", "_"), message), e.code

    @app.errorhandler(Exception)
    def unexpected(e):
        log.exception("unexpected error")
        return ErrorResponse.body("internal_error", "an unexpected error happened; it has been logged"), 500
