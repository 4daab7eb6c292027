"""Backup and migration over HTTP: GET /gallery/export and POST /gallery/import (the use
cases are in app/usecases/backup.py; the file format is GalleryFile), and re-embedding the
gallery with this server's model: POST /gallery/reembed, GET /gallery/reembed (progress;
app/usecases/reembed.py)."""
import base64
import binascii

import numpy as np
from flask import Blueprint

from app.api.openapi import documented
from app.api.schemas import GalleryCrop, GalleryFace, GalleryFile, GalleryPerson, ImportReport, ReembedStatus
from app.api.uploads import json_body
from app.errors import BadRequest
from app.gallery import GalleryModel, NewFace
from app.gallery.codec import BadVector, vector_from_text, vector_to_text
from app.pipeline.enrolled_crop import EnrolledCrop
from app.services import services
from app.usecases import backup, reembed

bp = Blueprint("gallery", __name__, url_prefix="/gallery")
MAX_CROP_BYTES = 1_000_000   # a kept crop is ~10-20 KB


@bp.get("/export")
@documented("The whole gallery (people, names, embeddings, thumbnails, face crops, model id) as JSON", GalleryFile,
            errors=(401, 409, 503))
def export_gallery():
    model, people = backup.export_people(services())
    people = [GalleryPerson(person_id=p.person_id, name=p.name, created_at=p.created_at,
                            faces=[_face_out(f, model.dim) for f in p.faces]) for p in people]
    return GalleryFile(model=model.id, people=people).model_dump(exclude_none=True)


@bp.post("/import")
@documented("Add an exported gallery to this one (people kept by id; faces already there skipped); an empty "
            "gallery adopts the file's model", ImportReport, body=GalleryFile, errors=(400, 401, 409, 413, 503))
def import_gallery():
    file = json_body(GalleryFile, "a gallery file from GET /gallery/export")
    model = GalleryModel(file.model, _dim_of(file))
    people = [backup.PersonRecord(p.person_id, p.name, p.created_at,
                                  [_face_in(f, p.person_id, model.dim) for f in p.faces]) for p in file.people]
    result = backup.import_people(services(), model, people)
    return ImportReport(people_created=result.people_created, faces_added=result.faces_added,
                        skipped=result.skipped).model_dump()


@bp.post("/reembed")
@documented("Re-embed every enrolled face with this server's model, in the background (resumes an interrupted "
            "run); 202 when started, 200 when there is nothing to do or a run is under way", ReembedStatus,
            status=202, errors=(401, 503))
def start_reembed():
    status, started = reembed.start_reembed(services())
    return ReembedStatus(**status).model_dump(), 202 if started else 200


@bp.get("/reembed")
@documented("Progress of the re-embedding, and the gallery's and this server's models", ReembedStatus,
            errors=(401, 503))
def reembed_status():
    return ReembedStatus(**reembed.reembed_status(services())).model_dump()


def _face_out(face: NewFace, dim: int) -> GalleryFace:
    crop = None
    if face.crop:
        try:
            kept = EnrolledCrop.from_bytes(face.crop)
            crop = GalleryCrop(image=base64.b64encode(kept.jpeg).decode(), box=[round(float(v), 2) for v in kept.box],
                               landmarks=[[round(float(v), 2) for v in p] for p in kept.landmarks])
        except ValueError:  # an unreadable crop is left out; the face still has its embedding
            crop = None
    return GalleryFace(face_id=face.face_id, embedding=vector_to_text(face.vector, dim),
                       thumbnail=base64.b64encode(face.thumbnail).decode(), crop=crop)


def _dim_of(file: GalleryFile) -> int:
    """The file's vector size, from its first embedding (every other one must have it too)."""
    first = next((f.embedding for p in file.people for f in p.faces), None)
    try:
        return len(base64.b64decode(first, validate=True)) // 4 if first else services().store.dim
    except (binascii.Error, ValueError):
        raise BadRequest("the first embedding of the file is not base64") from None


def _crop_in(crop: GalleryCrop) -> bytes:
    jpeg = base64.b64decode(crop.image, validate=True)
    if not jpeg.startswith(b"\xff\xd8") or len(jpeg) > MAX_CROP_BYTES:
        raise ValueError(f"the crop is not a JPEG of at most {MAX_CROP_BYTES} bytes")
    if len(crop.box) != 4 or any(len(p) != 2 for p in crop.landmarks) or not np.all(np.isfinite(
            np.asarray([*crop.box, *(v for p in crop.landmarks for v in p)], np.float64))):
        raise ValueError("the crop's box is 4 numbers and its landmarks 5 pairs of numbers")
    return EnrolledCrop(jpeg, crop.box, crop.landmarks).to_bytes()


def _face_in(face: GalleryFace, pid: str, dim: int) -> NewFace:
    try:
        thumbnail = base64.b64decode(face.thumbnail, validate=True)
        crop = b"" if face.crop is None else _crop_in(face.crop)
        return NewFace(vector_from_text(face.embedding, dim), thumbnail, face.face_id, crop)
    except BadVector as e:
        raise BadRequest(f"face {face.face_id} of person {pid}: {e}") from None
    except binascii.Error:
        raise BadRequest(f"face {face.face_id} of person {pid}: the thumbnail or crop is not base64") from None
    except ValueError as e:
        raise BadRequest(f"face {face.face_id} of person {pid}: {e}") from None
