"""How an embedding is stored: float32 little-endian of the gallery's dimension, unit length,
refused the same way (BadVector) wherever it comes from."""
import base64

import numpy as np
import pytest

from app.gallery.codec import (
    BadVector,
    checked_vector,
    decode_vector,
    decoded_faces,
    encode_vector,
    readable,
    vector_from_text,
    vector_to_text,
)
from samples.vectors import unit


@pytest.mark.parametrize("dim", [128, 256])
def test_vectors_round_trip_as_little_endian_float32(dim):
    v = unit(1, np.random.default_rng(0), dim)[0]
    data = encode_vector(v, dim)
    assert len(data) == 4 * dim and data == v.astype("<f4").tobytes()
    np.testing.assert_array_equal(decode_vector(data, dim), v)
    np.testing.assert_array_equal(vector_from_text(vector_to_text(v), dim), v)


@pytest.mark.parametrize("vector, message", [
    (np.zeros(128, np.float32), "unit length"),
    (np.full(128, np.nan, np.float32), "finite"),
    (np.ones(127, np.float32) / np.sqrt(127), "128 values"),
    (2 * unit(1, np.random.default_rng(1))[0], "unit length"),
], ids=["zero", "nan", "short", "not-unit"])
def test_what_is_not_an_embedding_is_refused(vector, message):
    with pytest.raises(BadVector, match=message):
        checked_vector(vector, 128)
    with pytest.raises(BadVector):
        encode_vector(vector, 128)


def test_bytes_of_the_wrong_size_or_text_that_is_not_base64_are_refused():
    v = unit(1, np.random.default_rng(2))[0]
    with pytest.raises(BadVector, match="512 bytes, this one is 1024"):
        decode_vector(encode_vector(unit(1, np.random.default_rng(2), 256)[0], 256), 128)
    with pytest.raises(BadVector, match="not base64"):
        vector_from_text("***", 128)
    with pytest.raises(BadVector, match="1024 bytes"):
        vector_from_text(base64.b64encode(encode_vector(v, 128)).decode(), 256)


def test_a_stored_person_keeps_its_readable_faces_and_names_the_others():
    rng = np.random.default_rng(3)
    good = unit(2, rng)
    faces = {b"f1": encode_vector(good[0], 128), b"short": b"\x00" * 12, b"f2": encode_vector(good[1], 128),
             b"nan": np.full(128, np.nan, "<f4").tobytes()}
    fids, matrix, bad = readable(faces, 128)
    assert fids == [b"f1", b"f2"] and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix, good)
    assert dict(bad) == {b"short": "an embedding is 512 bytes, this one is 12",
                         b"nan": "an embedding must be finite and of unit length"}
    problems = []
    decoded = decoded_faces("p1", faces, dim=128, problems=problems)
    assert set(decoded) == {"f1", "f2"} and len(problems) == 2
    assert all(p.startswith("face ") and "of person p1" in p for p in problems)
