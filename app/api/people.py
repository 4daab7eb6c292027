"""Gallery management: /people and /people/{id}[/faces/{face_id}]."""
from flask import Blueprint

from app.api.current import services
from app.api.openapi import documented
from app.api.schemas import Deleted, PeopleResponse, PersonDetail, PersonSummary, Rename
from app.api.schemas_corrections import FaceReport
from app.api.uploads import jpeg_response, json_body
from app.usecases import gallery_health, people

bp = Blueprint("people", __name__, url_prefix="/people")


@bp.get("")
@documented("Every enrolled person, sorted by name", PeopleResponse, errors=(401, 503))
def list_people():
    listed = [PersonSummary(**p) for p in people.list_people(services())]
    return PeopleResponse(count=len(listed), people=listed).model_dump()


@bp.get("/<pid>")
@documented("One person, their face ids, and per face its distances to their other faces (outliers flagged)",
            PersonDetail, errors=(401, 404, 503))
def get_person(pid):
    person, report = gallery_health.person_report(services(), pid)
    return PersonDetail(**person, face_report=[FaceReport.of(r) for r in report]).model_dump()


@bp.patch("/<pid>")
@documented("Rename a person: JSON {\"name\": \"...\"}", PersonDetail, body=Rename, errors=(400, 401, 404, 409, 503))
def rename_person(pid):
    rename = json_body(Rename, 'JSON {"name": "new name"}')
    return PersonDetail(**people.rename_person(services(), pid, rename.name)).model_dump()


@bp.delete("/<pid>")
@documented("Delete a person and all their faces", Deleted, errors=(401, 404, 503))
def delete_person(pid):
    people.delete_person(services(), pid)
    return Deleted(deleted=pid).model_dump()


@bp.delete("/<pid>/faces/<fid>")
@documented("Delete one enrolled face of a person", Deleted, errors=(401, 404, 503))
def delete_face(pid, fid):
    people.delete_face(services(), pid, fid)
    return Deleted(deleted=fid).model_dump()


@bp.get("/<pid>/faces/<fid>/thumbnail")
@documented("The enrolled face as a small JPEG", content_type="image/jpeg", errors=(401, 404, 503))
def face_thumbnail(pid, fid):
    return jpeg_response(people.face_thumbnail(services(), pid, fid))
