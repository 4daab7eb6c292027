"""The face recognition server: `create_app()` is the app factory Gunicorn calls in each
worker (`gunicorn -c config/gunicorn.conf.py "app:create_app()"`). Models and connections
are made there, per worker, never at import.

Layout: api/ (the HTTP surfaces: views that parse, call one use case, serialise) ->
usecases/ (recognize, enroll, verify, backup, ...) -> pipeline/ (decode, detect, embed) and
gallery/ (Redis store, this worker's replica, matching) -> model_clients/ (gRPC, in-process)."""
import os
import time
from typing import TYPE_CHECKING

from flask import Flask, g, request

from app import metrics
from config import Settings, load_settings

if TYPE_CHECKING:   # the pipeline (and its model clients) load in the factory, not at import
    from app.pipeline import FacePipeline


def create_app(settings: Settings | None = None, pipeline: "FacePipeline | None" = None) -> Flask:
    """settings default to the environment; `pipeline` lets tests share loaded models (used
    when it was built from the same pipeline settings, config.settings.PIPELINE_FIELDS)."""
    from app.api import BLUEPRINTS
    from app.api.auth import guard
    from app.api.error_handlers import register_error_handlers
    from app.services import build_services

    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    app.json.sort_keys = False  # type: ignore[attr-defined]  # Flask's DefaultJSONProvider has it
    services = build_services(settings, pipeline)
    app.extensions["facerec"] = services
    if settings.housekeeping_interval_s > 0:  # re-clustering visitors and trimming, off the request path
        from app.usecases import housekeeping
        app.extensions["facerec-housekeeping"] = housekeeping.start(services)
        services.background.append(app.extensions["facerec-housekeeping"])
    if settings.visit_sweep_s > 0:   # visits whose camera fell silent: "ended" (MQTT), the stranger's sighting
        from app.usecases import visit_sweep
        services.background.append(visit_sweep.start(services))
    _count_requests(app, settings.worker_header)
    guard(app, settings.api_keys, settings.allowed_origins)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    return app


HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})


def _count_requests(app: Flask, worker_header: bool) -> None:
    worker = str(os.getpid())

    @app.before_request
    def start_clock():
        g.start = time.perf_counter()

    @app.after_request
    def count(response):
        endpoint = request.endpoint or "unknown"
        # a label from the client's own text would let anyone add series: only HTTP's methods
        method = request.method if request.method in HTTP_METHODS else "other"
        metrics.REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
        if "start" in g:
            metrics.REQUEST_SECONDS.labels(endpoint).observe(time.perf_counter() - g.start)
        if worker_header:
            response.headers["X-Facerec-Worker"] = worker
        return response
