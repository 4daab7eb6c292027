"""The SFace SavedModel equals OpenCV's FaceRecognizerSF on the same weights, and the faces
it is fed are aligned as OpenCV's alignCrop aligns them (app/alignment.py)."""
import numpy as np
import pytest

from app.model_clients.grpc_model import GrpcModel
from app.model_clients.local_model import LocalModel
from app.pipeline.alignment import aligned_faces

# Measured on the faces below: cosine >= 0.9999999 and at most 6e-7 apart per component
# (unit vectors); alignment: at most 1 grey level apart (rounding), 0.0005 on average.
MIN_COSINE, MAX_ABS_DIFF = 0.9999, 1e-4


@pytest.fixture(scope="module")
def sface(exported):
    return LocalModel("sface", exported)


@pytest.fixture(scope="module")
def faces(zoo_reference, celebrity_photos):
    """(photo, OpenCV's raw YuNet row) for every face OpenCV finds in the first 60 photos."""
    found = []
    for rgb in celebrity_photos[:60]:
        for row in zoo_reference.detect(rgb)[3]:
            found.append((rgb, row))
    assert len(found) >= 50
    return found


def embed(model, images):
    return model.predict({"images": np.ascontiguousarray(images, np.uint8)})["embeddings"]


def test_alignment_equals_opencv_align_crop(zoo_reference, faces):
    worst, mean = 0, []
    for rgb, row in faces:
        ours = aligned_faces(rgb, row[4:14].reshape(1, 5, 2))[0].astype(int)
        theirs = zoo_reference.align(rgb, row).astype(int)
        worst = max(worst, int(np.abs(ours - theirs).max()))
        mean.append(np.abs(ours - theirs).mean())
    assert worst <= 1 and np.mean(mean) < 0.01


def test_savedmodel_equals_opencv_face_recognizer(sface, zoo_reference, faces):
    aligned = np.stack([aligned_faces(rgb, row[4:14].reshape(1, 5, 2))[0] for rgb, row in faces])
    noise = np.random.default_rng(1).integers(0, 256, (2, 112, 112, 3), dtype=np.uint8)
    aligned = np.concatenate([aligned, noise])
    ours = np.concatenate([embed(sface, aligned[i:i + 16]) for i in range(0, len(aligned), 16)])
    theirs = zoo_reference.embed(aligned)
    assert ours.shape == (len(aligned), 128)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (ours * theirs).sum(axis=1).min() >= MIN_COSINE
    assert np.abs(ours - theirs).max() <= MAX_ABS_DIFF


def test_a_batch_equals_its_faces_one_by_one(sface, faces):
    aligned = np.stack([aligned_faces(rgb, row[4:14].reshape(1, 5, 2))[0] for rgb, row in faces[:8]])
    one_by_one = np.concatenate([embed(sface, a[None]) for a in aligned])
    np.testing.assert_allclose(embed(sface, aligned), one_by_one, atol=1e-5)


def test_an_empty_batch_gives_no_embedding(sface):
    assert embed(sface, np.zeros((0, 112, 112, 3), np.uint8)).shape == (0, 128)


def test_same_person_nearer_than_another(sface, zoo_reference, celebrity_photos, celebrities):
    files = sorted(celebrities.glob("*/*/*.jpg"))
    people = [f.parent.name for f in files]

    def first_face(person, nth):
        index = [i for i, p in enumerate(people) if p == person][nth]
        _, _, marks, _ = zoo_reference.detect(celebrity_photos[index])
        return embed(sface, aligned_faces(celebrity_photos[index], marks[:1]))[0]
    a, b, other = first_face("madonna", 0), first_face("madonna", 1), first_face("jerry_seinfeld", 0)
    assert np.dot(a, b) > np.dot(a, other) + 0.2


def test_served_over_grpc_as_in_process(sface, model_server, faces):
    aligned = np.stack([aligned_faces(rgb, row[4:14].reshape(1, 5, 2))[0] for rgb, row in faces[:4]])
    np.testing.assert_allclose(embed(GrpcModel("sface", model_server), aligned), embed(sface, aligned), atol=1e-5)
