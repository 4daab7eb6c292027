"""The crop kept for every enrolled face holds what each embedder needs: FaceNet's box crop,
SFace's alignment and dlib's 150x150 chip from the kept crop equal those from the frame
(exactly when stored losslessly, also for a face cut by the frame's edge), and close to them
as the JPEG kept."""
import cv2
import numpy as np
import pytest

from app.pipeline import enrolled_crop as ec
from samples.photos import compose, photo


@pytest.fixture(scope="module")
def networks(embedding_networks, exported):
    from app.model_clients.local_model import LocalModel
    from app.pipeline.embedders import DlibSfaceEmbedder
    return {**embedding_networks, "dlib+sface": DlibSfaceEmbedder(LocalModel("dlib_sface", exported))}


def kept(rgb, face):
    crop = ec.EnrolledCrop.from_bytes(ec.enrolled_crop(rgb, face.box, face.landmarks).to_bytes())
    return crop.rgb(), crop.box, crop.landmarks, crop


def lossless(monkeypatch):
    """Crops kept as PNG: what is left of any difference is geometry, not compression."""
    def png(rgb):
        return cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()
    monkeypatch.setattr(ec, "_jpeg", png)


def frames():
    """A photo as it is, a face cut by the frame's left edge, and a face too large to keep as is."""
    whole = photo("madonna", 0)
    big = cv2.resize(photo("jerry_seinfeld", 0), None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    return {"photo": whole, "edge": np.ascontiguousarray(whole[:, whole.shape[1] // 3:]), "large": big}


@pytest.mark.parametrize("name", ["photo", "edge", "large"])
def test_each_embedder_sees_the_same_face_in_the_kept_crop(local_pipeline, networks, monkeypatch, name):
    lossless(monkeypatch)
    rgb = frames()[name]
    face = local_pipeline.detect(rgb).largest_face()
    crop_rgb, box, marks, _ = kept(rgb, face)
    side = max(face.box[2] - face.box[0], face.box[3] - face.box[1])
    assert max(crop_rgb.shape[:2]) <= 2 * ec.MAX_BOX_SIDE + 2
    for network in networks.values():
        a = network.embed(rgb, face.box[None], face.landmarks[None])[0]
        b = network.embed(crop_rgb, box[None], marks[None])[0]
        # exact unless the face was scaled down to MAX_BOX_SIDE (then resampled once more)
        assert np.linalg.norm(a - b) < (0.15 if side > ec.MAX_BOX_SIDE else 2e-3), (name, network.name)


def test_the_jpeg_kept_stays_close_to_the_frame(local_pipeline, networks):
    rgb = compose([photo(p) for p in ("ben_afflek", "madonna", "jerry_seinfeld")])
    for face in local_pipeline.detect(rgb).faces:
        crop_rgb, box, marks, crop = kept(rgb, face)
        assert crop.jpeg[:2] == b"\xff\xd8" and len(crop.jpeg) < 40_000
        for network in networks.values():
            a = network.embed(rgb, face.box[None], face.landmarks[None])[0]
            assert np.linalg.norm(a - network.embed(crop_rgb, box[None], marks[None])[0]) < 0.3
