"""Backup and migration over HTTP: GET /gallery/export and POST /gallery/import (the use
cases are in app/usecases/backup.py; the file format is GalleryFile)."""
import base64
import binascii

from flask import Blueprint

from app.api.openapi import documented
from app.api.schemas import GalleryFace, GalleryFile, GalleryPerson, ImportReport
from app.api.uploads import json_body
from app.errors import BadRequest
from app.gallery import NewFace
from app.gallery.codec import BadVector, vector_from_text, vector_to_text
from app.services import services
from app.usecases import backup

bp = Blueprint("gallery", __name__, url_prefix="/gallery")


@bp.get("/export")
@documented("The whole gallery (people, names, embeddings, thumbnails, model id) as JSON", GalleryFile,
            errors=(401, 503))
def export_gallery():
    s = services()
    people = [GalleryPerson(person_id=p.person_id, name=p.name, created_at=p.created_at,
                            faces=[_face_out(f) for f in p.faces]) for p in backup.export_people(s)]
    return GalleryFile(model=s.pipeline.model_id, people=people).model_dump()


@bp.post("/import")
@documented("Add an exported gallery to this one (people kept by id; faces already there skipped)",
            ImportReport, body=GalleryFile, errors=(400, 401, 409, 413, 503))
def import_gallery():
    file = json_body(GalleryFile, "a gallery file from GET /gallery/export")
    people = [backup.PersonRecord(p.person_id, p.name, p.created_at, [_face_in(f, p.person_id) for f in p.faces])
              for p in file.people]
    result = backup.import_people(services(), file.model, people)
    return ImportReport(people_created=result.people_created, faces_added=result.faces_added,
                        skipped=result.skipped).model_dump()


def _face_out(face: NewFace) -> GalleryFace:
    return GalleryFace(face_id=face.face_id, embedding=vector_to_text(face.vector),
                       thumbnail=base64.b64encode(face.thumbnail).decode())


def _face_in(face: GalleryFace, pid: str) -> NewFace:
    try:
        thumbnail = base64.b64decode(face.thumbnail, validate=True)
        return NewFace(vector_from_text(face.embedding), thumbnail, face.face_id)
    except BadVector as e:
        raise BadRequest(f"face {face.face_id} of person {pid}: {e}") from None
    except (binascii.Error, ValueError):
        raise BadRequest(f"face {face.face_id} of person {pid}: the thumbnail is not base64") from None
