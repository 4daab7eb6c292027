"""The app's own exceptions. Each carries the HTTP status and the error code it is answered
with, and a message that says what was wrong and what to send instead."""


class FaceRecError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- the models (either backend) --------------------------------------------------------
class ModelError(FaceRecError):
    status = 503
    code = "model_error"

    def __init__(self, model, message):
        super().__init__(message)
        self.model = model


class ModelUnavailable(ModelError):
    """The model server cannot be reached (down, restarting, wrong address)."""
    code = "model_unavailable"


class ModelTimeout(ModelError):
    status = 504
    code = "model_timeout"


class ModelNotFound(ModelError):
    """The server answers but does not serve this model (or version)."""
    code = "model_not_found"


class ModelBadInput(ModelError):
    """The model refused the tensors it was sent: a bug on our side, never the client's."""
    status = 502
    code = "model_rejected_input"


# --- the image a client sent ------------------------------------------------------------
class ImageError(FaceRecError):
    status = 400
    code = "invalid_image"


class ImageTooLarge(ImageError):
    status = 413
    code = "image_too_large"


class TooManyPixels(ImageTooLarge):
    code = "too_many_pixels"


class NoFace(FaceRecError):
    status = 422
    code = "no_face"


class SeveralFaces(FaceRecError):
    """One face was asked for (a CompreFace example, a verification source) and there are more."""
    status = 422
    code = "several_faces"


# --- the request ----------------------------------------------------------------------
class BadRequest(FaceRecError):
    status = 400
    code = "bad_request"


class MissingImage(BadRequest):
    code = "missing_image"


class InvalidBase64(BadRequest):
    code = "invalid_base64"


class InvalidField(BadRequest):
    code = "invalid_field"


class Unauthorized(FaceRecError):
    status = 401
    code = "unauthorized"


class CrossSiteRequest(FaceRecError):
    status = 403
    code = "cross_site_request"


class UnsupportedMediaType(FaceRecError):
    status = 415
    code = "unsupported_media_type"


# --- the gallery and the events --------------------------------------------------------
class PersonNotFound(FaceRecError):
    status = 404
    code = "person_not_found"

    @classmethod
    def of(cls, pid):
        return cls(f"no person with id {pid!r}; GET /people lists them")


class FaceNotFound(FaceRecError):
    status = 404
    code = "face_not_found"


class NameTaken(FaceRecError):
    status = 409
    code = "name_taken"


class InvalidGallery(FaceRecError):
    """A gallery file whose ids are malformed or repeated: importing it would corrupt the gallery."""
    status = 422
    code = "invalid_gallery"


class FaceIdTaken(FaceRecError):
    status = 409
    code = "face_id_taken"


class ModelMismatch(FaceRecError):
    """Embeddings made by another network or crop: their distances to ours mean nothing."""
    status = 409
    code = "model_mismatch"


class GalleryModelMismatch(FaceRecError):
    """The gallery's embeddings were made by another model than this worker's (or are being
    re-embedded): matching against them would be meaningless until `reembed` has run."""
    status = 409
    code = "gallery_model_mismatch"

    def __init__(self, message: str, gallery_model: str, worker_model: str):
        super().__init__(message)
        self.gallery_model, self.worker_model = gallery_model, worker_model


class ReembedRunning(FaceRecError):
    status = 409
    code = "reembed_running"


class ThumbnailNotFound(FaceRecError):
    status = 404
    code = "thumbnail_not_found"


# --- unknown visitors and corrections ---------------------------------------------------
class VisitorNotFound(FaceRecError):
    status = 404
    code = "visitor_not_found"

    @classmethod
    def of(cls, vid):
        return cls(f"no visitor with id {vid!r} (named, forgotten, merged into another, or aged out); "
                   f"GET /visitors lists them")


class EventNotFound(FaceRecError):
    status = 404
    code = "event_not_found"


class NotCorrectable(FaceRecError):
    """An event face whose embedding was not kept (recorded before corrections existed)."""
    status = 409
    code = "not_correctable"


class GalleryTooLarge(FaceRecError):
    status = 409
    code = "gallery_too_large"
