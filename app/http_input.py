"""Reading a request's images and fields, whichever way the client sent them:
multipart/form-data (field `image`, repeatable), a raw image/jpeg or image/png body (fields
in the query string), or JSON with base64 strings (`image`, or `images` as a list)."""
import base64
import binascii
from dataclasses import dataclass

from flask import request

from app.errors import BadRequest, InvalidBase64, InvalidField, MissingImage, UnsupportedMediaType

ACCEPTED = ("multipart/form-data with an `image` file field, a raw image/jpeg or image/png body, "
            "or application/json with a base64 `image` (or `images` list)")


@dataclass
class Upload:
    images: list
    fields: dict


def _b64(value, where):
    if not isinstance(value, str):
        raise InvalidField(f"{where} must be a base64 string, got {type(value).__name__}")
    if value.startswith("data:") and "," in value:  # data URL: data:image/jpeg;base64,....
        value = value.split(",", 1)[1]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidBase64(f"{where} is not valid base64; send the image file's bytes base64-encoded") from None


def _from_json():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the body is not a JSON object; send {\"image\": \"<base64>\", ...}")
    images = []
    if "image" in body:
        images.append(_b64(body["image"], "`image`"))
    if "images" in body:
        if not isinstance(body["images"], list):
            raise InvalidField("`images` must be a list of base64 strings")
        images += [_b64(v, f"`images[{i}]`") for i, v in enumerate(body["images"])]
    fields = {k: v for k, v in body.items() if k not in ("image", "images")}
    return Upload(images, fields)


def read_upload(max_images):
    """The request's images (bytes) and other fields; raises a 4xx error naming what to send."""
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        files = request.files.getlist("image") + request.files.getlist("images")
        upload = Upload([f.read() for f in files], {**request.args.to_dict(), **request.form.to_dict()})
    elif mimetype == "application/json":
        upload = _from_json()
    elif mimetype.startswith("image/") or mimetype == "application/octet-stream":
        upload = Upload([request.get_data()], request.args.to_dict())
    elif not mimetype and not request.content_length:
        raise MissingImage(f"the request has no body; send {ACCEPTED}")
    else:
        raise UnsupportedMediaType(f"content type {mimetype!r} is not accepted; send {ACCEPTED}")
    if not upload.images:
        raise MissingImage(f"no image in the request; send {ACCEPTED}")
    if len(upload.images) > max_images:
        raise BadRequest(f"{len(upload.images)} images in one request; at most {max_images} (MAX_IMAGES_PER_REQUEST)")
    return upload


def text_field(upload, name, required=False, max_length=200):
    value = upload.fields.get(name)
    if value is None or value == "":
        if required:
            raise InvalidField(f"`{name}` is missing; send it as a form field, query parameter or JSON key")
        return None
    if not isinstance(value, str):
        raise InvalidField(f"`{name}` must be a string, got {type(value).__name__}")
    value = value.strip()
    if not value or len(value) > max_length:
        raise InvalidField(f"`{name}` must be 1 to {max_length} characters")
    return value


def single_image(upload):
    if len(upload.images) != 1:
        raise BadRequest(f"{len(upload.images)} images sent; this endpoint takes exactly one")
    return upload.images[0]
