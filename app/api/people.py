"""Gallery management: /people and /people/{id}[/faces/{face_id}]."""
from flask import Blueprint, Response

from app.api.openapi import documented
from app.api.schemas import Deleted, PeopleResponse, PersonDetail, PersonSummary, Rename
from app.api.uploads import json_body
from app.errors import FaceNotFound
from app.gallery.identity import clean_name
from app.services import services

bp = Blueprint("people", __name__, url_prefix="/people")


@bp.get("")
@documented("Every enrolled person, sorted by name", PeopleResponse, errors=(401, 503))
def list_people():
    people = [PersonSummary(**p) for p in services().store.people()]
    return PeopleResponse(count=len(people), people=people).model_dump()


@bp.get("/<pid>")
@documented("One person and their face ids", PersonDetail, errors=(401, 404, 503))
def get_person(pid):
    return PersonDetail(**services().store.person(pid)).model_dump()


@bp.patch("/<pid>")
@documented("Rename a person: JSON {\"name\": \"...\"}", PersonDetail, body=Rename, errors=(400, 401, 404, 409, 503))
def rename_person(pid):
    rename = json_body(Rename, 'JSON {"name": "new name"}')
    store = services().store
    store.rename(pid, clean_name(rename.name))
    return PersonDetail(**store.person(pid)).model_dump()


@bp.delete("/<pid>")
@documented("Delete a person and all their faces", Deleted, errors=(401, 404, 503))
def delete_person(pid):
    services().store.delete_person(pid)
    return Deleted(deleted=pid).model_dump()


@bp.delete("/<pid>/faces/<fid>")
@documented("Delete one enrolled face of a person", Deleted, errors=(401, 404, 503))
def delete_face(pid, fid):
    services().store.delete_face(pid, fid)
    return Deleted(deleted=fid).model_dump()


@bp.get("/<pid>/faces/<fid>/thumbnail")
@documented("The enrolled face as a small JPEG", content_type="image/jpeg", errors=(401, 404, 503))
def face_thumbnail(pid, fid):
    jpeg = services().store.thumbnail(pid, fid)
    if jpeg is None:
        raise FaceNotFound(f"no thumbnail for face {fid!r} of person {pid!r}")
    return Response(jpeg, mimetype="image/jpeg")
