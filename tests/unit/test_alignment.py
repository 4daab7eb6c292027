"""The 5-point similarity alignment SFace is fed (app/pipeline/alignment.py), on known transforms."""
import numpy as np

from app.pipeline.alignment import TEMPLATE_112, aligned_faces, similarity_transform


def test_similarity_transform_recovers_a_known_one():
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = (TEMPLATE_112 - shift) @ np.linalg.inv(rotation).T  # src mapped by (rotation, shift) is the template
    matrix = similarity_transform(src, TEMPLATE_112)
    np.testing.assert_allclose(matrix[:, :2], rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-9)


def test_aligned_faces_shapes():
    rgb = np.zeros((50, 60, 3), np.uint8)
    assert aligned_faces(rgb, np.zeros((0, 5, 2))).shape == (0, 112, 112, 3)
    assert aligned_faces(rgb, np.tile(TEMPLATE_112 / 3, (2, 1, 1)), size=56).shape == (2, 56, 56, 3)
