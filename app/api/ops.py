"""For operators and orchestrators: liveness, readiness, metrics, the API description,
and the recent recognition events."""
from flask import Blueprint, Response, current_app

from app import metrics
from app.api.current import services
from app.api.openapi import documented, openapi_document
from app.api.schemas import EventsResponse, Health, Readiness
from app.api.uploads import int_arg, jpeg_response
from app.usecases import events as events_log
from app.usecases.readiness import readiness

bp = Blueprint("ops", __name__)
MAX_EVENTS = 500


@bp.get("/healthz")
@documented("Liveness: the process answers (needs no API key)", Health)
def healthz():
    return Health(status="ok").model_dump()


@bp.get("/readyz")
@documented("Readiness: Redis and every model answer, and the gallery loads and is of this worker's model; 503 "
            "naming what does not (gallery_model_mismatch names both models)", Readiness, errors=(401, 503))
def readyz():
    s = services()
    result = readiness(s)
    body = Readiness(ready=result.ready, checks=result.checks, preprocessor=s.pipeline.detector.name,
                     embedder=s.pipeline.embedder.name, model=s.pipeline.model_id, gallery_model=result.gallery_model,
                     model_backend=s.settings.model_backend)
    return body.model_dump(), 200 if result.ready else 503


@bp.get("/metrics")
@documented("Prometheus metrics, all workers together", content_type="text/plain")
def prometheus():
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)


@bp.get("/openapi.json")
@documented("This API, as OpenAPI 3", content_type="application/json")
def openapi():
    return openapi_document(current_app)


@bp.get("/events")
@documented(f"The most recent recognition events, newest first (?count=, at most {MAX_EVENTS})", EventsResponse,
            query=[("count", f"how many, 1 to {MAX_EVENTS} (default 50)", False)], errors=(400, 401, 503))
def events():
    recent = events_log.recent_events(services(), int_arg("count", 50, 1, MAX_EVENTS))
    return EventsResponse.model_validate({"events": recent}).model_dump()


@bp.get("/events/thumbnails/<thumb_id>")
@documented("A face thumbnail of an event (JPEG; trimmed with the events, EVENTS_MAXLEN and EVENTS_MAX_MB)",
            content_type="image/jpeg", errors=(401, 404, 503))
def event_thumbnail(thumb_id):
    return jpeg_response(events_log.event_thumbnail(services(), thumb_id))
