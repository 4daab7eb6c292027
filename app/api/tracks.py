"""Visits: GET /tracks/{id}, a visit's identity from all its frames (also after its last one,
for VISIT_KEEP_S). The use cases are in app/usecases/visits.py."""
from flask import Blueprint

from app.api.current import services
from app.api.openapi import documented
from app.api.schemas_visits import Track
from app.usecases import visits

bp = Blueprint("tracks", __name__, url_prefix="/tracks")


@bp.get("/<track_id>")
@documented("A visit (track): who it is, decided from all its frames so far", Track, errors=(401, 404, 503))
def get_track(track_id):
    return Track(**visits.get_track(services(), track_id).public()).model_dump()
