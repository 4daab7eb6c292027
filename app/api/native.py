"""Camera frames in, faces out: /recognize, /enroll, /detect, /embed, /verify. Each view
parses the request, calls one use case (app/usecases/recognition.py) and serialises its result."""
from flask import Blueprint

from app.api.current import services
from app.api.openapi import documented
from app.api.schemas import DetectResponse, EmbedResponse, EnrollResponse, RecognizeResponse, VerifyResponse
from app.api.uploads import flag_field, read_upload, single_image, text_field, timestamp_field, visit_key_field
from app.gallery.identity import MAX_NAME_INPUT
from app.usecases import recognition

bp = Blueprint("api", __name__)
IMAGE_ERRORS = (400, 401, 413, 415, 422, 502, 503, 504)


@bp.post("/recognize")
@documented("Every face in a camera frame, and who it is", RecognizeResponse, body="image",
            fields=[("camera_id", "which camera sent the frame (stored with the event; its tracks)", False),
                    ("timestamp", "capture time: Unix epoch seconds or ISO 8601 with a timezone (default now)", False),
                    ("visit_key", "an external visit id (e.g. a Frigate event id): the largest face joins "
                                  "its track", False)],
            errors=(*IMAGE_ERRORS, 409))
def recognize():
    s = services()
    upload = read_upload(s.settings.max_images_per_request)
    result = recognition.recognize(s, single_image(upload), text_field(upload, "camera_id"),
                                   timestamp=timestamp_field(upload), visit_key=visit_key_field(upload))
    return RecognizeResponse.of(result, s.pipeline.detector.name).model_dump()


@bp.post("/enroll")
@documented("Enroll a new person (`name`) or add faces to one (`person_id`); the largest face of each image",
            EnrollResponse, status=201, body="image",
            fields=[("name", "name of a new person", False),
                    ("person_id", "an enrolled person to add faces to", False),
                    ("force", "true: enroll faces under MIN_ENROLL_QUALITY too (default false: 422 low_quality)",
                     False)],
            errors=(400, 401, 404, 409, 413, 415, 422, 502, 503, 504))
def enroll():
    s = services()
    upload = read_upload(s.settings.max_images_per_request)
    name, pid = text_field(upload, "name", MAX_NAME_INPUT), text_field(upload, "person_id", max_length=64)
    result = recognition.enroll(s, upload.images, name=name, person_id=pid, force=flag_field(upload, "force"))
    return EnrollResponse.of(result).model_dump(), 201 if result.created else 200


@bp.post("/detect")
@documented("Every face in an image, without matching", DetectResponse, body="image", errors=IMAGE_ERRORS)
def detect():
    s = services()
    result = recognition.detect(s, single_image(read_upload(s.settings.max_images_per_request)))
    return DetectResponse.of(result, s.pipeline.detector.name).model_dump()


@bp.post("/embed")
@documented("Every face in an image with its embedding (for evaluations and integrations)", EmbedResponse,
            body="image", errors=IMAGE_ERRORS)
def embed():
    s = services()
    result = recognition.embed(s, single_image(read_upload(s.settings.max_images_per_request)))
    return EmbedResponse.of(result, s.pipeline.model_id).model_dump()


@bp.post("/verify")
@documented("Are two faces the same person? Two images, or one image and a `person_id`", VerifyResponse,
            body="image", fields=[("person_id", "compare the image with this enrolled person", False)],
            errors=(400, 401, 404, 409, 413, 415, 422, 502, 503, 504))
def verify():
    s = services()
    upload = read_upload(s.settings.max_images_per_request)
    result = recognition.verify(s, upload.images, person_id=text_field(upload, "person_id", max_length=64))
    return VerifyResponse.of(result).model_dump()
