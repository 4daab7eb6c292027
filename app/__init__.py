"""The face recognition server: `create_app()` is the app factory Gunicorn calls in each
worker (`gunicorn -c config/gunicorn.conf.py "app:create_app()"`). Models and connections
are made there, per worker, never at import."""
import hmac
import logging
import os
import time

import redis
from flask import Flask, g, request
from werkzeug.exceptions import HTTPException

from app import metrics
from app.errors import FaceRecError, ModelError
from config import load_settings

log = logging.getLogger("facerec")
# The page and its static files hold no data; the page's own API calls carry the key.
PUBLIC_ENDPOINTS = {"ops.healthz", "web.index", "static"}


def create_app(settings=None, pipeline=None):
    """settings default to the environment; `pipeline` lets tests share loaded models."""
    from app.services import build_services

    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    app.json.sort_keys = False
    app.extensions["facerec"] = build_services(settings, pipeline)

    from app import api, gallery_io, ops, people, web
    for blueprint in (api.bp, people.bp, gallery_io.bp, ops.bp, web.bp):
        app.register_blueprint(blueprint)
    _register_hooks(app, settings)
    _register_error_handlers(app, app.extensions["facerec"])
    return app


def _error(status, code, message):
    return {"error": {"code": code, "message": message}}, status


def _register_hooks(app, settings):
    keys = [k.encode() for k in settings.api_keys]
    worker = str(os.getpid())

    @app.before_request
    def require_api_key():
        g.start = time.perf_counter()
        if keys and request.endpoint not in PUBLIC_ENDPOINTS:
            given = request.headers.get("X-API-Key", "").encode()
            valid = False
            for key in keys:  # compare with every key, in constant time each
                valid |= hmac.compare_digest(key, given)
            if not valid:
                return _error(401, "unauthorized", "a valid X-API-Key header is required" if given
                              else "this server requires an X-API-Key header")

    @app.after_request
    def count(response):
        endpoint = request.endpoint or "unknown"
        metrics.REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        if "start" in g:
            metrics.REQUEST_SECONDS.labels(endpoint).observe(time.perf_counter() - g.start)
        response.headers["X-Facerec-Worker"] = worker
        return response


def _register_error_handlers(app, services):
    @app.errorhandler(FaceRecError)
    def app_error(e):
        if isinstance(e, ModelError):
            metrics.MODEL_ERRORS.labels(e.model, e.code).inc()
        return _error(e.status, e.code, e.message)

    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    def redis_down(e):
        return _error(503, "redis_unavailable", f"Redis at {services.redis_where} is unreachable ({e}); "
                                                "the gallery cannot be read or changed, try again shortly")

    @app.errorhandler(redis.RedisError)
    def redis_error(e):
        log.exception("Redis error")
        return _error(503, "redis_error", f"Redis at {services.redis_where} failed: {e}")

    @app.errorhandler(HTTPException)
    def http_error(e):
        code = e.name.lower().replace(" ", "_")
        message = e.description
        if e.code == 413:
            message = (f"the request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes "
                       f"(MAX_CONTENT_LENGTH); send a smaller image")
        return _error(e.code, code, message)

    @app.errorhandler(Exception)
    def unexpected(e):
        log.exception("unexpected error")  # the trace goes to the log, never to the client
        return _error(500, "internal_error", "an unexpected error happened; it has been logged")
