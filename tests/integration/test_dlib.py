"""PREPROCESSOR=dlib, and frames of any size for both preprocessors."""
import threading
import time

import cv2
import numpy as np
import pytest
from boxes import iou

from app.evaluation import evaluate
from app.gallery.search.matching import rank_people
from app.pipeline import FacePipeline
from app.pipeline.detectors import ScaledDetector
from app.pipeline.dlib_detector import DlibDetector
from samples.photos import PEOPLE, encode_jpeg, photo, photo_files, three_face_frame
from scripts.evaluate import local_embedder


@pytest.fixture(scope="module")
def detectors(local_pipeline):
    mtcnn = local_pipeline.detector
    dlib = ScaledDetector(DlibDetector("hog", 1), mtcnn.max_side, mtcnn.min_side)
    return {"mtcnn": mtcnn, "dlib": dlib}


@pytest.fixture(scope="module")
def dlib_pipeline(local_pipeline, detectors):
    return FacePipeline(detectors["dlib"], local_pipeline.embedder, local_pipeline.max_pixels)


DLIB_HOG_MIN_FACE = 40  # px: HOG's 80 px window, upsampled once


def test_dlib_and_mtcnn_find_the_same_faces(detectors):
    """Every face dlib finds is one MTCNN finds (IoU >= 0.5), and MTCNN's faces large enough
    for HOG are found by dlib, on the 25 val photos and a three-face frame."""
    frames = [photo(p, i) for p in PEOPLE for i in range(len(photo_files(p)))] + [three_face_frame()]
    agree = 0
    for rgb in frames:
        ours, theirs = detectors["mtcnn"].detect(rgb), detectors["dlib"].detect(rgb)
        for box in theirs.boxes:
            assert max(iou(box, b) for b in ours.boxes) >= 0.5
        large = [b for b in ours.boxes if b[2] - b[0] >= DLIB_HOG_MIN_FACE]
        agree += all(max((iou(b, d) for d in theirs.boxes), default=0) >= 0.5 for b in large)
    assert agree >= len(frames) - 1  # HOG misses one turned-away face that MTCNN finds
    assert len(detectors["dlib"].detect(three_face_frame())) == 3


def test_dlib_landmarks_have_the_same_fields_and_sit_near_mtcnn_s(detectors):
    rgb = photo("jerry_seinfeld", 0)
    ours, theirs = detectors["mtcnn"].detect(rgb), detectors["dlib"].detect(rgb)
    assert theirs.landmarks.shape == (1, 5, 2)
    width = ours.boxes[0][2] - ours.boxes[0][0]
    # eyes and nose measured, mouth corners placed from them with a mean face
    assert np.all(np.linalg.norm(ours.landmarks[0] - theirs.landmarks[0], axis=1) < 0.2 * width)
    assert theirs.landmarks[0][0][0] < theirs.landmarks[0][1][0]  # left eye is on the left


@pytest.mark.parametrize("name", ["mtcnn", "dlib"])
def test_a_16px_frame_has_no_face(detectors, name):
    found = detectors[name].detect(np.zeros((16, 16, 3), np.uint8))
    assert len(found) == 0


class PeakRss:
    """Highest resident set size of this process while the block runs, sampled every 2 ms."""

    def __enter__(self):
        self.peak, self.running = self.rss(), True
        self.base = self.peak
        self.thread = threading.Thread(target=self.sample)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()

    @staticmethod
    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    def sample(self):
        while self.running:
            self.peak = max(self.peak, self.rss())
            time.sleep(0.002)


@pytest.fixture(scope="module")
def gallery(local_pipeline):
    """The three people of three_face_frame, enrolled from train photos."""
    vectors, labels = [], []
    for person in ("ben_afflek", "madonna", "jerry_seinfeld"):
        for i in range(3):
            frame = local_pipeline.analyze_rgb(photo(person, i, "train"))
            vectors.append(frame.largest_face().embedding)
            labels.append(person)
    return np.array(vectors), labels


@pytest.mark.parametrize("name", ["mtcnn", "dlib"])
def test_an_8000x6000_frame_is_answered_in_bounded_memory_with_the_same_people(
        name, local_pipeline, dlib_pipeline, gallery):
    pipeline = local_pipeline if name == "mtcnn" else dlib_pipeline
    small = three_face_frame()
    big = encode_jpeg(cv2.resize(small, (8000, 6000), interpolation=cv2.INTER_CUBIC))
    del small

    def names(frame):
        return [rank_people(f.embedding, *gallery, 1)[0][0] for f in sorted(frame.faces, key=lambda f: f.box[0])]

    expected = names(pipeline.analyze(encode_jpeg(three_face_frame())))
    with PeakRss() as memory:
        frame = pipeline.analyze(big)
    assert (frame.width, frame.height) == (8000, 6000)
    assert names(frame) == expected == ["ben_afflek", "madonna", "jerry_seinfeld"]
    print(f"{name}: 8000x6000 answered with {(memory.peak - memory.base) / 1e6:.0f} MB more, "
          f"peak {memory.peak / 1e9:.2f} GB")
    assert memory.peak - memory.base < 1.0e9, f"{(memory.peak - memory.base) / 1e6:.0f} MB more while answering"
    assert memory.peak < 3.0e9  # the whole test process, models included


def test_evaluation_with_dlib(dlib_pipeline, embedding_networks, celebrities):
    """As in docs/models.md's table: dlib's faces, FaceNet on box+10% (the embedder these figures
    were measured with)."""
    report = evaluate(local_embedder(dlib_pipeline, {"facenet": embedding_networks["facenet"]}), celebrities,
                      ["facenet"],
                      threshold=1.10, preprocessor="dlib")
    m = report["variants"]["facenet"]
    assert m["rank1"] >= 24 and m["probes"] == 25
    assert m["eer"] <= 0.03 and m["far_at_threshold"] < 0.001


def test_preprocessor_is_configuration(make_client):
    from samples.photos import photo_bytes
    client = make_client(preprocessor="dlib")
    ready = client.get("/readyz").json
    assert ready["preprocessor"] == "dlib" and ready["checks"]["dlib"] == "ok" and "mtcnn" not in ready["checks"]
    response = client.post("/recognize", data=photo_bytes("madonna", 0), content_type="image/jpeg")
    assert response.json["preprocessor"] == "dlib" and len(response.json["faces"]) == 1
    assert make_client().post("/detect", data=photo_bytes("madonna", 0),
                              content_type="image/jpeg").json["preprocessor"] == "mtcnn"


def test_the_cnn_detector_finds_the_same_face():
    """DLIB_DETECTOR=cnn (MMOD): slow on a CPU, so one small photo."""
    rgb = photo("jerry_seinfeld", 0)
    hog = DlibDetector("hog", 1).detect(rgb)
    cnn = DlibDetector("cnn", 0).detect(rgb)
    assert len(cnn) == 1 and cnn.landmarks.shape == (1, 5, 2)
    assert iou(cnn.boxes[0], hog.boxes[0]) >= 0.5
    assert 0.5 < cnn.scores[0] <= 1.0
