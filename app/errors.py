"""The app's own exceptions. Each carries the HTTP status and the error code it is answered
with (given in the class header, inherited where left out), and a message that says what was
wrong and what to send instead. The docstring of each says when it is raised."""
from typing import Self, TypeVar

T = TypeVar("T")


class FaceRecError(Exception):
    """Anything the app answers itself; a subclass that reaches a client unnamed is a bug (500)."""
    status = 500
    code = "internal_error"

    def __init_subclass__(cls, status: int | None = None, code: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.status = status or cls.status
        cls.code = code or cls.code

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def required(value: T | None, missing: "FaceRecError") -> T:
    """`value`, or `missing` raised when there is none (None, or empty: a thumbnail kept as b"")."""
    if not value:
        raise missing
    return value


# --- the models (either backend) --------------------------------------------------------
class ModelError(FaceRecError, status=503, code="model_error"):
    """A model could not answer; `model` names which."""

    def __init__(self, model: str, message: str):
        super().__init__(message)
        self.model = model


class ModelUnavailable(ModelError, code="model_unavailable"):
    """The model server cannot be reached (down, restarting, wrong address)."""


class ModelTimeout(ModelError, status=504, code="model_timeout"):
    """The model server did not answer within the deadline (retries included)."""


class ModelNotFound(ModelError, code="model_not_found"):
    """The server answers but does not serve this model (or version)."""


class ModelBadInput(ModelError, status=502, code="model_rejected_input"):
    """The model refused the tensors it was sent: a bug on our side, never the client's."""


# --- the image a client sent ------------------------------------------------------------
class ImageError(FaceRecError, status=400, code="invalid_image"):
    """Bytes that are not a readable image (unknown format, truncated, implausibly small)."""


class ImageTooLarge(ImageError, status=413, code="image_too_large"):
    """An image whose header announces more pixels than MAX_IMAGE_PIXELS."""


class TooManyPixels(ImageTooLarge, code="too_many_pixels"):
    """The images of one request hold more pixels together than MAX_REQUEST_PIXELS."""


class NoFace(FaceRecError, status=422, code="no_face"):
    """A face was needed (to enroll, verify, add an example) and the image has none."""


class LowQualityFace(FaceRecError, status=422, code="low_quality"):
    """The face is under MIN_ENROLL_QUALITY (too small, blurred, turned away); force=true enrolls it anyway."""


class SeveralFaces(FaceRecError, status=422, code="several_faces"):
    """One face was asked for (a CompreFace example, a verification source) and there are more."""


# --- the request ----------------------------------------------------------------------
class BatchTooLarge(FaceRecError, status=413, code="batch_too_large"):
    """More items in one request than a route takes at once."""


class BadRequest(FaceRecError, status=400, code="bad_request"):
    """A request the server cannot read: malformed JSON, a body of the wrong shape."""


class MissingImage(BadRequest, code="missing_image"):
    """No image in the request: no file field, an empty body."""


class InvalidBase64(BadRequest, code="invalid_base64"):
    """An image sent in JSON whose string is not base64."""


class InvalidField(BadRequest, code="invalid_field"):
    """A text or number field out of its range or character set (names, ids, counts)."""


class Unauthorized(FaceRecError, status=401, code="unauthorized"):
    """API keys are set and the request carries none of them."""


class CrossSiteRequest(FaceRecError, status=403, code="cross_site_request"):
    """A state-changing request without a key whose Origin is another site."""


class UnsupportedMediaType(FaceRecError, status=415, code="unsupported_media_type"):
    """A body whose content type is none of those the upload accepts."""


# --- the gallery and the events --------------------------------------------------------
class PersonNotFound(FaceRecError, status=404, code="person_not_found"):
    """No enrolled person has this id."""

    @classmethod
    def of(cls, pid: str) -> Self:
        return cls(f"no person with id {pid!r}; GET /people lists them")


class FaceNotFound(FaceRecError, status=404, code="face_not_found"):
    """The person has no face with this id."""


class NameTaken(FaceRecError, status=409, code="name_taken"):
    """Another person has this name (names are unique, compared case-insensitively)."""


class InvalidGallery(FaceRecError, status=422, code="invalid_gallery"):
    """A gallery file whose ids are malformed or repeated: importing it would corrupt the gallery."""


class FaceIdTaken(FaceRecError, status=409, code="face_id_taken"):
    """A face id that another person (or an earlier correction) holds already."""


class ModelMismatch(FaceRecError, status=409, code="model_mismatch"):
    """Embeddings made by another network or crop: their distances to ours mean nothing."""


class GalleryModelMismatch(FaceRecError, status=409, code="gallery_model_mismatch"):
    """The gallery's embeddings were made by another model than this worker's (or are being
    re-embedded): matching against them would be meaningless until `reembed` has run."""

    def __init__(self, message: str, gallery_model: str, worker_model: str):
        super().__init__(message)
        self.gallery_model, self.worker_model = gallery_model, worker_model


class ThumbnailNotFound(FaceRecError, status=404, code="thumbnail_not_found"):
    """No thumbnail under this id (never kept, or trimmed with its event)."""


class GalleryTooLarge(FaceRecError, status=409, code="gallery_too_large"):
    """The health report reads every face; the gallery holds more than it is limited to."""


# --- unknown visitors and corrections ---------------------------------------------------
class VisitorNotFound(FaceRecError, status=404, code="visitor_not_found"):
    """No visitor has this id (named, forgotten, merged into another, or aged out)."""

    @classmethod
    def of(cls, vid: str) -> Self:
        return cls(f"no visitor with id {vid!r} (named, forgotten, merged into another, or aged out); "
                   f"GET /visitors lists them")


class TrackNotFound(FaceRecError, status=404, code="track_not_found"):
    """No track has this id (never made, or ended more than VISIT_KEEP_S ago)."""


class EventNotFound(FaceRecError, status=404, code="event_not_found"):
    """No event with this id, or it has no face at this index (trimmed, or never recorded)."""


class NotCorrectable(FaceRecError, status=409, code="not_correctable"):
    """An event face whose embedding was not kept (recorded before corrections existed)."""
