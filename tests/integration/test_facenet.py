"""The FaceNet SavedModel equals the network stored in facenet_keras.h5."""
import numpy as np
import pytest
import tensorflow as tf
from h5_reference import facenet_from_h5

from app.model_clients.local_model import LocalModel
from app.pipeline.embedders import FacenetEmbedder
from app.pipeline.imaging import crop_faces
from config import FaceCrop
from samples.photos import photo, three_face_frame
from scripts.pypi_assets import FACENET_H5, extract


@pytest.fixture(scope="module")
def face_crops(local_pipeline):
    frame = three_face_frame()
    boxes = local_pipeline.detector.detect(frame).boxes
    assert len(boxes) == 3
    noise = np.random.default_rng(1).integers(0, 256, (1, 160, 160, 3), dtype=np.uint8)
    return np.concatenate([crop_faces(frame, boxes, FaceCrop(0.1), 160), noise])


def test_savedmodel_equals_the_h5_network(exported, face_crops):
    served = FacenetEmbedder(LocalModel("facenet", exported)).embed_inputs({"facenet": face_crops})
    prewhitened = tf.image.per_image_standardization(tf.constant(face_crops, tf.float32)).numpy()
    raw = facenet_from_h5(extract("facenet", FACENET_H5), prewhitened)
    expected = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    assert served.shape == (4, 128)
    np.testing.assert_allclose(served, expected, atol=1e-5)


def test_embeddings_are_unit_vectors_that_tell_people_apart(local_pipeline):
    embed = local_pipeline.analyze_rgb
    same_a = embed(photo("madonna", 0, "train")).largest_face().embedding
    same_b = embed(photo("madonna", 1, "train")).largest_face().embedding
    other = embed(photo("jerry_seinfeld", 0, "train")).largest_face().embedding
    for v in (same_a, same_b, other):
        assert abs(np.linalg.norm(v) - 1.0) < 1e-5
    assert np.linalg.norm(same_a - same_b) < np.linalg.norm(same_a - other)


def test_an_empty_batch_needs_no_model_call(local_pipeline):
    nothing = local_pipeline.embedder.embed(np.zeros((10, 10, 3), np.uint8), np.zeros((0, 4)), np.zeros((0, 5, 2)))
    assert nothing.shape == (0, local_pipeline.embedder.dim)
