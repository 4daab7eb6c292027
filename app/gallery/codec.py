"""How an embedding is stored: `dim` float32 little-endian (4 * dim bytes), unit length. The
one codec for the Redis store, the replicas and gallery import/export, so a malformed vector
is refused the same way wherever it comes from. The dimension is always given: it is the
gallery's model's (app/gallery/model_record.py: 128 for FaceNet or SFace alone, 256 for the two
fused, the default embedder), which the store and the model record hold."""
import base64
import binascii
from collections.abc import Mapping
from typing import Any

import numpy as np

UNIT_TOLERANCE = 1e-3


class BadVector(ValueError):
    """Bytes or numbers that are not an embedding of this gallery."""


NOT_UNIT = "an embedding must be finite and of unit length"


def _wrong_size(dim: int, size: int) -> str:
    return f"an embedding is {dim * 4} bytes, this one is {size}"


def checked_vector(vector: np.ndarray, dim: int) -> np.ndarray:
    """float32 [dim], finite and of unit length, or BadVector saying what is wrong."""
    vector = np.asarray(vector, np.float32)
    if vector.shape != (dim,):
        raise BadVector(f"an embedding has {dim} values, this one has shape {list(vector.shape)}")
    if not np.all(np.isfinite(vector)) or abs(float(np.linalg.norm(vector)) - 1.0) > UNIT_TOLERANCE:
        raise BadVector(NOT_UNIT)
    return vector


def encode_vector(vector: np.ndarray, dim: int) -> bytes:
    return checked_vector(vector, dim).astype("<f4").tobytes()


def decode_vector(data: bytes, dim: int) -> np.ndarray:
    if len(data) != dim * 4:
        raise BadVector(_wrong_size(dim, len(data)))
    return checked_vector(np.frombuffer(data, "<f4"), dim)


def vector_to_text(vector: np.ndarray) -> str:
    """base64 of the stored bytes (the gallery file's `embedding`) of a vector read from the
    store, which checked it on the way in and again on the way out (readable)."""
    return base64.b64encode(np.asarray(vector, "<f4").tobytes()).decode()


def vector_from_text(text: str, dim: int) -> np.ndarray:
    try:
        return decode_vector(base64.b64decode(text, validate=True), dim)
    except (binascii.Error, ValueError) as e:
        raise BadVector(str(e) if isinstance(e, BadVector) else "the embedding is not base64") from None


def text(value: bytes | str) -> str:
    """A Redis reply as text."""
    return value.decode() if isinstance(value, bytes) else value


def readable(faces: Mapping[Any, bytes], dim: int) -> tuple[list[Any], np.ndarray, list[tuple[Any, str]]]:
    """(face ids, float32 rows [n, dim]) of the stored vectors that are embeddings, and
    (face id, what is wrong) of the others."""
    fids = [f for f, data in faces.items() if len(data) == dim * 4]
    bad = [(f, _wrong_size(dim, len(data)))
           for f, data in faces.items() if len(data) != dim * 4]
    matrix = np.frombuffer(b"".join(faces[f] for f in fids), "<f4").reshape(-1, dim).astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        good = np.isfinite(matrix).all(axis=1) & (np.abs(np.linalg.norm(matrix, axis=1) - 1.0) <= UNIT_TOLERANCE)
    bad += [(fids[i], NOT_UNIT) for i in np.flatnonzero(~good)]
    return [f for f, ok in zip(fids, good) if ok], matrix[good], bad


def decoded_faces(pid: str, faces: Mapping[bytes, bytes], dim: int,
                  problems: list[str] | None = None) -> dict[str, np.ndarray]:
    """{face id: vector} of a person's stored faces that are embeddings; the others are left
    out, and named in `problems` when given."""
    good, matrix, bad = readable(faces, dim)
    if problems is not None:
        problems += [f"face {text(fid)} of person {pid}: {why}" for fid, why in bad]
    return {text(fid): row for fid, row in zip(good, matrix)}
