"""Reading a request: its images and fields, whichever way the client sent them
(multipart/form-data with `image` files, repeatable; a raw image/jpeg or image/png body with
the fields in the query string; JSON with base64 strings, `image` or an `images` list), and
JSON bodies validated by a pydantic model. Every problem is a 4xx naming what to send."""
import base64
import binascii
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from flask import Response, current_app, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from app.api.json_depth import check_depth
from app.errors import BadRequest, InvalidBase64, InvalidField, MissingImage, UnsupportedMediaType
from app.gallery.identity import text_problem

Model = TypeVar("Model", bound=BaseModel)

ACCEPTED = ("multipart/form-data with an `image` file field, a raw image/jpeg or image/png body, "
            "or application/json with a base64 `image` (or `images` list)")


@dataclass
class Upload:
    images: list[bytes]
    fields: dict


def image_from_base64(value: object, where: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidField(f"{where} must be a base64 string, got {type(value).__name__}")
    if value.startswith("data:") and "," in value:  # data URL: data:image/jpeg;base64,....
        value = value.split(",", 1)[1]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidBase64(f"{where} is not valid base64; send the image file's bytes base64-encoded") from None


def body_bytes() -> bytes:
    """The request body. Werkzeug stops reading a chunked body (no Content-Length) at
    MAX_CONTENT_LENGTH without saying so; a body that reaches the limit is refused like one
    whose Content-Length says it is too large (413), not parsed cut short."""
    data = request.get_data(cache=True)
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if request.content_length is None and limit is not None and len(data) >= limit:
        raise RequestEntityTooLarge()
    return data


def parsed_json() -> object:
    """The request's JSON body, or None when it is not JSON; 400 when it nests deeper than
    MAX_JSON_DEPTH (measured on the bytes, before the parser builds anything)."""
    data = body_bytes()
    if not request.is_json:   # get_json answers None: nothing will be parsed
        return None
    check_depth([data])
    try:
        return request.get_json(silent=True)
    except RecursionError:
        return None


def _from_json():
    body = parsed_json()
    if not isinstance(body, dict):
        raise BadRequest("the body is not a JSON object; send {\"image\": \"<base64>\", ...}")
    images = []
    if "image" in body:
        images.append(image_from_base64(body["image"], "`image`"))
    if "images" in body:
        if not isinstance(body["images"], list):
            raise InvalidField("`images` must be a list of base64 strings")
        images += [image_from_base64(v, f"`images[{i}]`") for i, v in enumerate(body["images"])]
    fields = {k: v for k, v in body.items() if k not in ("image", "images")}
    return Upload(images, fields)


def read_upload(max_images: int) -> Upload:
    """The request's images (bytes) and other fields; raises a 4xx error naming what to send."""
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        files = request.files.getlist("image") + request.files.getlist("images")
        upload = Upload([f.read() for f in files], {**request.args.to_dict(), **request.form.to_dict()})
    elif mimetype == "application/json":
        upload = _from_json()
    elif mimetype.startswith("image/") or mimetype == "application/octet-stream":
        upload = Upload([body_bytes()], request.args.to_dict())
    elif not mimetype and not request.content_length:
        raise MissingImage(f"the request has no body; send {ACCEPTED}")
    else:
        raise UnsupportedMediaType(f"content type {mimetype!r} is not accepted; send {ACCEPTED}")
    if not upload.images:
        raise MissingImage(f"no image in the request; send {ACCEPTED}")
    check_image_count(len(upload.images), max_images)
    return upload


def check_image_count(count: int, max_images: int) -> None:
    """400 for more than MAX_IMAGES_PER_REQUEST images in one request (before any is decoded)."""
    if count > max_images:
        raise BadRequest(f"{count} images in one request; at most {max_images} (MAX_IMAGES_PER_REQUEST)")


def text_field(upload: Upload, name: str, max_length: int = 200) -> str | None:
    value = upload.fields.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidField(f"`{name}` must be a string, got {type(value).__name__}")
    value = value.strip()
    problem = text_problem(value, max_length)   # werkzeug leaves U+FFFD where a field was not UTF-8
    if problem:
        raise InvalidField(f"`{name}` {problem}")
    return value


# A number as a person writes it in ASCII: what float() and int() also take ("５", "1_000", " 5",
# "nan", "infinity") is not one
NUMBER = {int: re.compile(r"[+-]?[0-9]+"), float: re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")}


def finite_number(text: str, kind: type = float) -> float | int | None:
    """`text` as a finite number of `kind` (float or int), or None when it is not one ("abc",
    "nan", "1e999", "²", "1_000", more than 4300 digits: each a 400 for the caller, never a 500
    further on). A huge int ("1" and 400 zeros) is returned as it is: callers check their range
    on it (comparing ints never overflows; math.isfinite of one does)."""
    text = text.strip()
    if NUMBER[kind].fullmatch(text) is None:
        return None
    try:
        number = kind(text)
    except ValueError:   # an int of more than 4300 digits
        return None
    return number if kind is int or math.isfinite(number) else None


EARLIEST_TIMESTAMP = 946684800.0   # 2000-01-01T00:00:00Z
VISIT_KEY = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def timestamp_field(upload: Upload, name: str = "timestamp") -> float | None:
    """A capture time: Unix epoch seconds (a number, or a string of one) or an ISO 8601 string
    with a timezone; finite, from 2000-01-01 to one day ahead of the server's clock."""
    value = upload.fields.get(name)
    if value is None or value == "":
        return None
    what = f"`{name}` must be Unix epoch seconds or an ISO 8601 time with a timezone"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidField(f"{what}, got {type(value).__name__}")
    seconds = value if not isinstance(value, str) else _text_time(value.strip()[:64], what)
    try:
        seconds = float(seconds)
    except OverflowError:  # an int too large for a float
        raise InvalidField(f"{what}; {str(value)[:40]!r} is out of range") from None
    if not math.isfinite(seconds) or seconds < EARLIEST_TIMESTAMP or seconds > time.time() + 86400:
        raise InvalidField(f"{what} from 2000-01-01 to one day ahead of the server's clock; got {str(value)[:40]!r}")
    return seconds


def _text_time(text: str, what: str) -> float:
    number = finite_number(text)
    if number is not None:
        return number
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidField(f"{what}; {text[:40]!r} is neither") from None
    if parsed.tzinfo is None:
        raise InvalidField(f"{what}; {text[:40]!r} has no timezone (add Z or +02:00)")
    return parsed.timestamp()


def visit_key_field(upload: Upload, name: str = "visit_key") -> str | None:
    """An external visit id (e.g. a Frigate event id): 1-128 of A-Z a-z 0-9 . _ : -"""
    value = upload.fields.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not VISIT_KEY.fullmatch(value):
        raise InvalidField(f"`{name}` must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'")
    return value


def flag_field(upload: Upload, name: str) -> bool:
    """A yes/no field: true/false, 1/0, yes/no (a JSON boolean too); absent is false."""
    value = upload.fields.get(name)
    if value is None or value == "" or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower() if isinstance(value, (str, int)) else None
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise InvalidField(f"`{name}` must be true or false")


def single_image(upload: Upload) -> bytes:
    if len(upload.images) != 1:
        raise BadRequest(f"{len(upload.images)} images sent; this endpoint takes exactly one")
    return upload.images[0]


def jpeg_response(jpeg: bytes) -> Response:
    """A stored JPEG (a thumbnail) as the answer."""
    return Response(jpeg, mimetype="image/jpeg")


def json_body(model: type[Model], example: str) -> Model:
    """The request's JSON body as `model`, or 400 saying what is wrong and to send `example`.
    Strict: JSON's own types only (true is not the index 1, nor "1" or 1.0 a count)."""
    try:
        return model.model_validate(parsed_json(), strict=True)
    except ValidationError as e:
        raise BadRequest(f"send {example} ({validation_problem(e, 'body')})") from None


def validation_problem(e: ValidationError, root: str) -> str:
    """What pydantic found wrong, for a person: the first five problems, each at its place
    (`root` when it is the whole value)."""
    return "; ".join(f"{'.'.join(map(str, err['loc'])) or root}: {err['msg']}" for err in e.errors()[:5])


def int_arg(name: str, default: int, lowest: int, highest: int) -> int:
    """Query parameter `name` as an int in [lowest, highest], or 400 saying so."""
    value = request.args.get(name, str(default))
    # more digits than the highest value has cannot be in range (and int() of 4300+ digits raises)
    if not (value.isascii() and value.isdigit() and len(value) <= len(str(highest))
            and lowest <= int(value) <= highest):
        raise BadRequest(f"`{name}` must be a number from {lowest} to {highest}")
    return int(value)
