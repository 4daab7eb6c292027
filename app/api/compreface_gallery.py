"""The CompreFace API, gallery side: a subject is a person (by name, found whatever its case),
an example (`image_id`) is one of their enrolled faces, shown as a dashed UUID.

    POST   /api/v1/recognition/faces?subject=NAME     add the one face of `file` (201)
    GET    /api/v1/recognition/faces?page&size&subject
    DELETE /api/v1/recognition/faces?subject=NAME     the subject and its faces -> {"deleted": n}
    DELETE /api/v1/recognition/faces/{image_id}       POST /api/v1/recognition/faces/delete [ids]
    GET    /api/v1/recognition/faces/{image_id}/img   the enrolled face's thumbnail (CompreFace: the upload)
    GET, POST, DELETE /api/v1/recognition/subjects    PUT, DELETE /api/v1/recognition/subjects/{subject}

Differences: an image with several faces is refused (code 31) as in CompreFace; renaming a
subject onto another's name merges them (as CompreFace does), the moved faces get new ids.
DELETE /faces without `subject` deletes every face (CompreFace's semantics; logged)."""
import logging

from flask import Blueprint, request

from app.api import compreface_io as io
from app.api.current import services
from app.api.openapi import documented
from app.api.uploads import finite_number, jpeg_response, parsed_json
from app.errors import BatchTooLarge, FaceNotFound, InvalidField, PersonNotFound, required
from app.usecases import subjects

log = logging.getLogger("facerec")
bp = Blueprint("compreface_gallery", __name__, url_prefix="/api/v1/recognition")
MAX_DELETE_BATCH = 1000   # ids per POST /faces/delete: 30,000 held a worker ~2.5 s, so ~0.1 s each call
MAX_PAGE = 10_000_000
io.install(bp)


def doc(summary: str):
    return documented(f"CompreFace: {summary}", content_type="application/json")


def subject_param(required: bool = True) -> str | None:
    value = request.args.get("subject")
    if value is None and required:
        raise InvalidField("Required parameter subject is missing")
    return value


def subject_body() -> str:
    body = parsed_json()
    value = body.get("subject") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise InvalidField("Subject name is empty; send JSON {\"subject\": \"<name>\"}")
    return value


def page_params() -> tuple[int, int]:
    page, size = (finite_number(request.args.get(name, default), int) for name, default in (("page", "0"),
                                                                                            ("size", "20")))
    if page is None or size is None or not (0 <= page <= MAX_PAGE and 1 <= size <= 1000):
        raise InvalidField(f"page must be a number from 0 to {MAX_PAGE} and size from 1 to 1000")
    return int(page), int(size)


@bp.post("/faces/", strict_slashes=False)
@doc("add an example (the one face of `file`) to `subject`, creating it if needed")
def add_face():
    s, name = services(), subject_param() or ""   # required: never None
    added = subjects.add_examples(s, name, [io.image()], one_face=True, field="subject")
    return {"image_id": io.image_id(added.face_ids[0]), "subject": name.strip()}, 201


@bp.get("/faces/", strict_slashes=False)
@doc("the examples, a page at a time (`page`, `size`; `subject` for one subject's)")
def list_faces():
    (page, size), subject = page_params(), subject_param(required=False)
    listed = subjects.faces_page(services(), page, size, subject)
    faces = [{"image_id": io.image_id(fid), "subject": name} for fid, name in listed.faces]
    return {"faces": faces, "page_number": page, "page_size": size,
            "total_pages": -(-listed.total // size), "total_elements": listed.total}


@bp.delete("/faces/", strict_slashes=False, merge_slashes=False)   # "/faces///" is not "/faces/" (_whole_collection)
@doc("delete a subject and its examples (`subject`); without it, every example")
def delete_faces():
    _whole_collection(FaceNotFound("Image not found: the image id is empty or holds a slash"))
    subject = subject_param(required=False)
    if subject is None:
        log.warning("CompreFace API: DELETE /faces without a subject: deleting every enrolled face")
        return {"deleted": subjects.delete_every_face(services())}
    return {"deleted": subjects.delete_subject(services(), subject) or 0}


@bp.delete("/faces/<image_id>/", strict_slashes=False)
@doc("delete one example")
def delete_face(image_id: str):
    deleted = _found(subjects.delete_face(services(), io.face_id(image_id)), image_id)
    return {"image_id": io.image_id(deleted.face_id), "subject": deleted.name}


@bp.post("/faces/delete/", strict_slashes=False)
@doc("delete the examples listed in the JSON array of ids (unknown ids are ignored)")
def delete_listed_faces():
    request.max_content_length = MAX_DELETE_BATCH * 64   # 413 before reading more than a full batch's ids
    ids = parsed_json()
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InvalidField("send a JSON array of image ids")
    if len(ids) > MAX_DELETE_BATCH:
        raise BatchTooLarge(f"{len(ids)} ids in one request; at most {MAX_DELETE_BATCH}: send them in batches")
    deleted = [subjects.delete_face(services(), io.face_id(i)) for i in ids]
    return [{"image_id": io.image_id(d.face_id), "subject": d.name} for d in deleted if d is not None]


@bp.get("/faces/<image_id>/img/", strict_slashes=False)
@doc("the example's face as a small JPEG")
def face_image(image_id: str):
    face = _found(subjects.stored_face(services(), io.face_id(image_id)), image_id)
    return jpeg_response(required(face.thumbnail, FaceNotFound(f"Image {image_id} not found")))


def _whole_collection(not_found: Exception) -> None:
    """Refuse a "delete every ..." reached with an empty id: werkzeug decodes %2F and matches
    ".../faces//" (or ".../faces/%2F") to ".../faces/", and a client that sends an empty or
    slash id means one example or subject, never all of them."""
    if request.path.endswith("//"):
        raise not_found


def _found(face, image_id: str):
    """`face`, or CompreFace's 404 code 44 for an image id that is not (or no longer) there."""
    return required(face, FaceNotFound(f"Image {image_id} not found"))


@bp.get("/subjects/", strict_slashes=False)
@doc("every subject's name")
def list_subjects():
    return {"subjects": subjects.subject_names(services())}


@bp.post("/subjects/", strict_slashes=False)
@doc("create a subject without examples: JSON {\"subject\": name}")
def create_subject():
    return {"subject": subjects.create_subject(services(), subject_body())}, 201


@bp.put("/subjects/<subject>/", strict_slashes=False)
@doc("rename a subject (JSON {\"subject\": new name}); onto an existing name, merge them")
def rename_subject(subject: str):
    return {"updated": subjects.rename_subject(services(), subject, subject_body())}


@bp.delete("/subjects/<subject>/", strict_slashes=False)
@doc("delete a subject and its examples")
def delete_subject(subject: str):
    if subjects.delete_subject(services(), subject) is None:
        raise PersonNotFound(f"Subject {subject} not found")
    return {"subject": subject}


@bp.delete("/subjects/", strict_slashes=False, merge_slashes=False)
@doc("delete every subject")
def delete_subjects():
    _whole_collection(PersonNotFound("Subject not found: the subject is empty or holds a slash"))
    return {"deleted": subjects.delete_every_subject(services())}
