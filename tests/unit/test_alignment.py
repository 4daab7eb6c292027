"""The 5-point similarity alignment SFace and dlib's network are fed (app/pipeline/alignment.py),
on known transforms."""
import numpy as np

from app.pipeline.alignment import DLIB_TEMPLATE_150, TEMPLATE_112, aligned_faces, similarity_transform


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


def test_a_given_template_is_where_the_landmarks_land():
    """Marks drawn at some landmarks land, after alignment, where the template puts them."""
    rgb = np.zeros((300, 400, 3), np.uint8)
    landmarks = DLIB_TEMPLATE_150 * 1.3 + [80.0, 40.0]         # the face at 1.3x, moved
    for x, y in landmarks.round().astype(int):
        rgb[y - 1:y + 2, x - 1:x + 2] = 255
    chip = aligned_faces(rgb, landmarks[None], 150, DLIB_TEMPLATE_150)[0]
    assert chip.shape == (150, 150, 3)
    for x, y in DLIB_TEMPLATE_150.round().astype(int):
        assert chip[y, x].min() > 100, (x, y)
    assert chip.mean() < 10                                     # and nothing else is bright
