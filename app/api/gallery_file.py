"""The gallery file (GalleryFile in app/api/schemas.py) as a stream, both ways, so that a
million faces never sit in memory at once: written person by person (export), and read
person by person from a spooled copy of the request body (import), as often as the import
needs (it reads twice: checks everything, then writes).

Reading is ijson's event parser (yajl2 C backend) with one person's object built at a time;
each person is validated by the same pydantic model the OpenAPI document shows."""
import base64
import binascii
import codecs
import json
import re
import tempfile
from collections.abc import Iterator
from typing import cast

import ijson
import numpy as np
from pydantic import ValidationError

from app.api.json_depth import DepthGauge
from app.api.schemas import GalleryCrop, GalleryPerson
from app.api.uploads import validation_problem
from app.errors import BadRequest, ImageError
from app.gallery import NewFace
from app.gallery.codec import BadVector, vector_from_text, vector_to_text
from app.pipeline.enrolled_crop import MAX_CROP_PIXELS, EnrolledCrop
from app.pipeline.imaging import image_size
from app.usecases.backup import PersonRecord

FORMAT = "facerec-gallery/1"
SPOOL_IN_MEMORY = 1 << 20   # bytes of a body kept in memory; beyond, it goes to a temporary file
EXAMPLE = "a gallery file from GET /gallery/export"
MAX_CROP_BYTES = 1_000_000  # a kept crop is ~10-20 KB
MAX_MODEL_ID = 300          # GalleryFile.model; ours are under 120 characters
MODEL_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_MODEL_ID}}}")


def gallery_json(model: str, people: Iterator[PersonRecord]) -> Iterator[str]:
    """The file, one person per piece: {"format", "model", "people": [...]}."""
    yield json.dumps({"format": FORMAT, "model": model})[:-1] + ', "people": ['
    for i, person in enumerate(people):
        faces = [{"face_id": f.face_id, "embedding": vector_to_text(f.vector),
                  "thumbnail": base64.b64encode(f.thumbnail).decode(), **_crop_out(f.crop)} for f in person.faces]
        yield ("," if i else "") + json.dumps({"person_id": person.person_id, "name": person.name,
                                               "created_at": person.created_at, "faces": faces})
    yield "]}\n"


def _crop_out(crop: bytes) -> dict:
    """{"crop": {image, box, landmarks}}, or {} for a face without one (or an unreadable one:
    the face still has its embedding)."""
    if not crop:
        return {}
    try:
        kept = EnrolledCrop.from_bytes(crop)
    except ValueError:
        return {}
    return {"crop": {"image": base64.b64encode(kept.jpeg).decode(), "box": [round(float(v), 2) for v in kept.box],
                     "landmarks": [[round(float(v), 2) for v in p] for p in kept.landmarks]}}


class GalleryUpload:
    """A gallery file sent as a request body, spooled so it can be read more than once."""

    def __init__(self, stream):
        self.file = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY)
        gauge = DepthGauge()   # 400 for a body nested too deep, before ijson builds any of it
        while chunk := stream.read(1 << 20):
            gauge.feed(chunk)
            self.file.write(chunk)
        self._model = None
        self._dim = None

    def close(self) -> None:
        self.file.close()

    @property
    def model(self) -> str:
        """The file's `model` (read up to it: first, in files this server writes)."""
        if self._model is None:
            for kind, value in self._items():
                if kind == "model":
                    if not isinstance(value, str) or not MODEL_ID.fullmatch(value):
                        raise BadRequest(f"send {EXAMPLE} (model: 1 to {MAX_MODEL_ID} printable ASCII characters, "
                                         f"as GET /gallery/export writes it)")   # never echoed: it may be huge
                    self._model = value
                    break
            else:
                raise BadRequest(f"send {EXAMPLE} (model: field required)")
        return self._model

    @property
    def dim(self) -> int | None:
        """The size of the file's vectors, from its first embedding (every other one must have it
        too); None for a file without faces."""
        if self._dim is None:
            for kind, value in self._items():
                faces = value.get("faces") if kind == "person" and isinstance(value, dict) else None
                first = faces[0].get("embedding") if isinstance(faces, list) and faces and \
                    isinstance(faces[0], dict) else None
                if isinstance(first, str):
                    try:
                        self._dim = len(base64.b64decode(first, validate=True)) // 4
                    except (binascii.Error, ValueError):
                        raise BadRequest("the first embedding of the file is not base64") from None
                    break
        return self._dim

    def people(self) -> Iterator[PersonRecord]:
        """Every person of the file, validated, in file order; 400 naming the first bad one."""
        seen_people = False
        for i, (kind, value) in enumerate(item for item in self._items() if item[0] in ("people", "person")):
            if kind == "people":
                seen_people = True
                continue
            try:
                person = GalleryPerson.model_validate(value, strict=True)
            except ValidationError as e:
                raise BadRequest(f"send {EXAMPLE} (people[{i - 1}]: {validation_problem(e, 'person')})") from None
            yield PersonRecord(person.person_id, person.name, person.created_at,
                               # a file with faces has a dim
                               [_face_in(f, person.person_id, cast(int, self.dim)) for f in person.faces])
        if not seen_people:
            raise BadRequest(f"send {EXAMPLE} (people: a list is required)")

    def _items(self) -> Iterator[tuple[str, object]]:
        """("model", value), ("people", None) when the list opens, ("person", object) per item."""
        self.file.seek(0)
        if self.file.read(len(codecs.BOM_UTF8)) != codecs.BOM_UTF8:   # editors on Windows start a file with one
            self.file.seek(0)
        builder = None
        try:
            for prefix, event, value in ijson.parse(self.file, use_float=True):
                if builder is not None:
                    builder.event(event, value)
                    if prefix == "people.item" and event in ("end_map", "end_array"):
                        yield "person", builder.value
                        builder = None
                elif prefix == "" and event not in ("start_map", "end_map", "map_key"):
                    raise BadRequest(f"send {EXAMPLE} (the body is not a JSON object)")
                elif prefix == "model" and event not in ("start_map", "start_array"):
                    yield "model", value
                elif prefix == "people" and event in ("start_array", "end_array"):
                    if event == "start_array":
                        yield "people", None
                elif prefix == "people" and event not in ("end_map", "end_array"):
                    raise BadRequest(f"send {EXAMPLE} (people: must be a list)")
                elif prefix == "people.item":
                    if event in ("start_map", "start_array"):
                        builder = ijson.ObjectBuilder()
                        builder.event(event, value)
                    else:
                        yield "person", value
        except ijson.JSONError as e:
            raise BadRequest(f"send {EXAMPLE} (the body is not valid JSON: {str(e)[:100]})") from None


def _image_in(data: bytes, what: str) -> bytes:
    """An imported crop's or thumbnail's JPEG, after the checks of every upload, from its header
    alone (at most MAX_CROP_PIXELS, plausible for its size): reembed decodes it later."""
    if not data.startswith(b"\xff\xd8") or len(data) > MAX_CROP_BYTES:
        raise ValueError(f"the {what} is not a JPEG of at most {MAX_CROP_BYTES} bytes")
    try:
        fmt, width, height = image_size(data, MAX_CROP_PIXELS)
    except ImageError as e:
        raise ValueError(f"the {what}: {e.message}") from None
    if fmt != "JPEG":
        raise ValueError(f"the {what} is not a JPEG")
    return data


def _crop_in(crop: GalleryCrop) -> bytes:
    jpeg = _image_in(base64.b64decode(crop.image, validate=True), "crop")
    if len(crop.box) != 4 or any(len(p) != 2 for p in crop.landmarks):
        raise ValueError("the crop's box is 4 numbers and its landmarks 5 pairs of numbers")
    with np.errstate(over="ignore"):   # checked as stored: a float64 past float32's range becomes inf
        box, landmarks = np.asarray(crop.box, np.float32), np.asarray(crop.landmarks, np.float32)
    if not (np.all(np.isfinite(box)) and np.all(np.isfinite(landmarks))):
        raise ValueError("the crop's box is 4 numbers and its landmarks 5 pairs of numbers, finite as float32")
    return EnrolledCrop(jpeg, box, landmarks).to_bytes()


def _face_in(face, pid: str, dim: int) -> NewFace:
    try:
        thumbnail = base64.b64decode(face.thumbnail, validate=True)
        thumbnail = _image_in(thumbnail, "thumbnail") if thumbnail else b""
        crop = b"" if face.crop is None else _crop_in(face.crop)
        return NewFace(vector_from_text(face.embedding, dim), thumbnail, face.face_id, crop)
    except BadVector as e:
        raise BadRequest(f"face {face.face_id} of person {pid}: {e}") from None
    except binascii.Error:
        raise BadRequest(f"face {face.face_id} of person {pid}: the thumbnail or crop is not base64") from None
    except ValueError as e:
        raise BadRequest(f"face {face.face_id} of person {pid}: {e}") from None
