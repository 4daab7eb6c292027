"""The crop kept for every enrolled face, as stored: its bytes round-trip, and what is not a crop is refused."""
import numpy as np
import pytest

from app.pipeline import enrolled_crop as ec


def test_stored_bytes_round_trip_and_refuse_what_is_not_a_crop():
    crop = ec.EnrolledCrop(b"\xff\xd8jpeg", np.arange(4, dtype=np.float32), np.ones((5, 2), np.float32))
    back = ec.EnrolledCrop.from_bytes(crop.to_bytes())
    assert back.jpeg == crop.jpeg and back.box.tolist() == [0, 1, 2, 3] and back.landmarks.shape == (5, 2)
    for data in (b"", b"FC1", b"XYZ" + bytes(60), b"FC1" + np.full(14, np.nan, "<f4").tobytes() + b"x"):
        with pytest.raises(ValueError):
            ec.EnrolledCrop.from_bytes(data)
    with pytest.raises(ValueError, match="cannot be used"):
        back.rgb()
