"""Backup and migration: the whole gallery out as JSON, and back in.

An import refuses embeddings made by another model (network or crop): distances between
them and this server's would mean nothing."""
import base64
import binascii

import numpy as np
from flask import Blueprint, request
from pydantic import ValidationError

from app.errors import BadRequest, ModelMismatch, NameTaken, PersonNotFound
from app.gallery import DIM, NewFace
from app.openapi import documented
from app.schemas import GalleryFace, GalleryFile, GalleryPerson, ImportReport
from app.services import services

bp = Blueprint("gallery", __name__, url_prefix="/gallery")


def _b64(data):
    return base64.b64encode(data).decode()


@bp.get("/export")
@documented("The whole gallery (people, names, embeddings, thumbnails, model id) as JSON", GalleryFile,
            errors=(401, 503))
def export_gallery():
    s = services()
    people = [GalleryPerson(person_id=p["person_id"], name=p["name"], created_at=p["created_at"],
                            faces=[GalleryFace(face_id=fid, embedding=_b64(np.asarray(v, "<f4").tobytes()),
                                               thumbnail=_b64(thumb)) for fid, v, thumb in p["faces"]])
              for p in s.store.dump()]
    return GalleryFile(model=s.pipeline.model_id, people=people).model_dump()


def _vector(face, pid):
    try:
        raw = base64.b64decode(face.embedding, validate=True)
        thumbnail = base64.b64decode(face.thumbnail, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"face {face.face_id} of person {pid}: embedding or thumbnail is not base64") from None
    vector = np.frombuffer(raw, "<f4") if len(raw) == DIM * 4 else None
    if vector is None or not np.all(np.isfinite(vector)) or abs(np.linalg.norm(vector) - 1.0) > 1e-3:
        raise BadRequest(f"face {face.face_id} of person {pid}: the embedding must be {DIM} float32 of unit length")
    return NewFace(vector, thumbnail, face.face_id)


@bp.post("/import")
@documented("Add an exported gallery to this one (people kept by id; faces already there skipped)",
            ImportReport, body=GalleryFile, errors=(400, 401, 409, 413, 503))
def import_gallery():
    try:
        file = GalleryFile.model_validate(request.get_json(silent=True))
    except ValidationError as e:
        problem = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['msg']}" for err in e.errors()[:5])
        raise BadRequest(f"not a gallery file from GET /gallery/export ({problem})") from None
    s = services()
    if file.model != s.pipeline.model_id:
        raise ModelMismatch(f"the file's embeddings were made by {file.model!r}, this server makes "
                            f"{s.pipeline.model_id!r}: they cannot be compared; enroll these people from photos")
    faces_by_person = {p.person_id: [_vector(f, p.person_id) for f in p.faces] for p in file.people}
    created, added, skipped = 0, 0, []
    for person in file.people:
        faces = faces_by_person[person.person_id]
        try:
            existing = set(s.store.person(person.person_id)["faces"])
        except PersonNotFound:
            existing = None
        try:
            if existing is None:
                s.store.create_person(person.name, faces, person.person_id, person.created_at)
                created, added = created + 1, added + len(faces)
            else:
                new = [f for f in faces if f.face_id not in existing]
                if new:
                    s.store.add_faces(person.person_id, new)
                added += len(new)
        except NameTaken as e:
            skipped.append(f"{person.person_id} ({person.name}): {e.message}")
    return ImportReport(people_created=created, faces_added=added, skipped=skipped).model_dump()
