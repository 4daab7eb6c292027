"""Backup and migration over HTTP: GET /gallery/export and POST /gallery/import (the use
cases are in app/usecases/backup.py; the file format, streamed both ways, in
app/api/gallery_file.py)."""
from flask import Blueprint, Response, request, stream_with_context

from app.api.gallery_file import GalleryUpload, gallery_json
from app.api.openapi import documented
from app.api.schemas import GalleryFile, ImportReport
from app.services import services
from app.usecases import backup

bp = Blueprint("gallery", __name__, url_prefix="/gallery")


@bp.get("/export")
@documented("The whole gallery (people, names, embeddings, thumbnails, model id) as JSON, streamed person by "
            "person", GalleryFile, errors=(401, 503))
def export_gallery():
    s = services()
    return Response(stream_with_context(gallery_json(s.pipeline.model_id, backup.export_people(s))),
                    mimetype="application/json")


@bp.post("/import")
@documented("Add an exported gallery to this one (people kept by id; faces already there skipped). The body is "
            "read as a stream (up to MAX_IMPORT_BYTES) and checked whole before anything is written",
            ImportReport, body=GalleryFile, errors=(400, 401, 409, 413, 422, 503))
def import_gallery():
    s = services()
    request.max_content_length = s.settings.max_import_bytes
    upload = GalleryUpload(request.stream)
    try:
        result = backup.import_people(s, upload)
    finally:
        upload.close()
    return ImportReport(people_created=result.people_created, faces_added=result.faces_added,
                        skipped=result.skipped).model_dump()
