"""Unknown visitors: GET /visitors (paged), GET/DELETE /visitors/{id}, POST /visitors/{id}/name,
and their sightings' thumbnails (the use cases are in app/usecases/visitors.py)."""
from flask import Blueprint

from app.api.current import services
from app.api.openapi import documented
from app.api.schemas import Deleted
from app.api.schemas_visitors import NamedVisitor, NameVisitor, VisitorDetail, VisitorsResponse, VisitorSummary
from app.api.uploads import int_arg, jpeg_response, json_body
from app.usecases import visitors

bp = Blueprint("visitors", __name__, url_prefix="/visitors")
MAX_PAGE = 200


@bp.get("")
@documented("Unknown visitors, the most recently seen first (?offset=, ?count=)", VisitorsResponse,
            query=[("offset", "how many to skip (default 0)", False),
                   ("count", f"how many, 1 to {MAX_PAGE} (default 50)", False)], errors=(400, 401, 503))
def list_visitors():
    offset, count = int_arg("offset", 0, 0, 10_000_000), int_arg("count", 50, 1, MAX_PAGE)
    total, found = visitors.list_visitors(services(), offset, count)
    return VisitorsResponse(count=total, offset=offset,
                            visitors=[VisitorSummary(**VisitorSummary.fields_of(v)) for v in found]).model_dump()


@bp.get("/<vid>")
@documented("One unknown visitor: its best and most recent sightings", VisitorDetail, errors=(401, 404, 503))
def get_visitor(vid):
    return VisitorDetail.of(visitors.get_visitor(services(), vid)).model_dump()


@bp.get("/<vid>/sightings/<sid>/thumbnail")
@documented("A sighting's face as a small JPEG", content_type="image/jpeg", errors=(401, 404, 503))
def sighting_thumbnail(vid, sid):
    return jpeg_response(visitors.sighting_thumbnail(services(), vid, sid))


@bp.post("/<vid>/name")
@documented("Enroll the visitor's best faces as a new person (JSON {\"name\"}) or an enrolled one "
            "({\"person_id\"}); the visitor is retired", NamedVisitor, status=201, body=NameVisitor,
            errors=(400, 401, 404, 409, 503))
def name_visitor(vid):
    body = json_body(NameVisitor, 'JSON {"name": "new person"} or {"person_id": "..."}')
    named = visitors.name_visitor(services(), vid, name=body.name, person_id=body.person_id)
    return NamedVisitor.of(named).model_dump(), 201 if named.created else 200


@bp.delete("/<vid>")
@documented("Forget an unknown visitor: every sighting, thumbnail and embedding of it", Deleted,
            errors=(401, 404, 503))
def forget_visitor(vid):
    visitors.forget_visitor(services(), vid)
    return Deleted(deleted=vid).model_dump()
