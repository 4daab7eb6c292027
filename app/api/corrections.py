"""Corrections of recent recognitions (POST /corrections) and the gallery's health report
(GET /gallery/health); the use cases are app/usecases/corrections.py and gallery_health.py."""
from flask import Blueprint

from app.api.current import services
from app.api.openapi import documented
from app.api.schemas_corrections import CorrectionRequest, CorrectionResponse, GalleryHealthResponse
from app.api.uploads import json_body
from app.usecases import corrections, gallery_health

bp = Blueprint("corrections", __name__)


@bp.post("/corrections")
@documented("Correct a recognized face, by event_id and face_index: it is NOT `not_person_id` (a negative "
            "example: that look-alike stops matching them), or it IS `person_id` / a new person `name` (added)",
            CorrectionResponse, body=CorrectionRequest, errors=(400, 401, 404, 409, 503))
def correct():
    body = json_body(CorrectionRequest, 'JSON {"event_id": "...", "face_index": 0, "not_person_id": "..."} '
                                        '(or "person_id", or "name")')
    result = corrections.correct(services(), body.event_id, body.face_index, not_person_id=body.not_person_id,
                                 person_id=body.person_id, name=body.name)
    return CorrectionResponse.of(result).model_dump(), 201 if result.created else 200


@bp.get("/gallery/health")
@documented("People nearer than MATCH_THRESHOLD to another person (look-alikes, duplicates) and outlier faces",
            GalleryHealthResponse, errors=(401, 409, 503))
def health():
    return GalleryHealthResponse.of(gallery_health.gallery_health(services())).model_dump()
