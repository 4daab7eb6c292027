"""Backup and migration over HTTP: GET /gallery/export and POST /gallery/import (the use
cases are in app/usecases/backup.py; the file format, streamed both ways, in
app/api/gallery_file.py), and re-embedding the gallery with this server's model:
POST /gallery/reembed, GET /gallery/reembed (progress; app/usecases/reembed.py)."""
from flask import Blueprint, Response, request, stream_with_context

from app.api.current import services
from app.api.gallery_file import GalleryUpload, gallery_json
from app.api.openapi import documented
from app.api.schemas import GalleryFile, ImportReport, ReembedStatus
from app.usecases import backup, reembed

bp = Blueprint("gallery", __name__, url_prefix="/gallery")


@bp.get("/export")
@documented("The whole gallery (people, names, embeddings, thumbnails, face crops, model id) as JSON, streamed "
            "person by person", GalleryFile, errors=(401, 409, 503))
def export_gallery():
    model, people = backup.export_people(services())
    return Response(stream_with_context(gallery_json(model.id, people)), mimetype="application/json")


@bp.post("/import")
@documented("Add an exported gallery to this one (people kept by id; faces already there skipped); an empty "
            "gallery adopts the file's model. The body is read as a stream (up to MAX_IMPORT_BYTES) and checked "
            "whole before anything is written", ImportReport, body=GalleryFile,
            errors=(400, 401, 409, 413, 422, 503))
def import_gallery():
    s = services()
    request.max_content_length = s.settings.max_import_bytes
    upload = GalleryUpload(request.stream)
    try:
        result = backup.import_people(s, upload)
    finally:
        upload.close()
    return ImportReport(people_created=result.people_created, faces_added=result.faces_added,
                        skipped=result.skipped, names_kept=result.names_kept).model_dump()


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
