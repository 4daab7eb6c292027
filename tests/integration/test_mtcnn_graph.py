"""The single-graph MTCNN reproduces the reference mtcnn==1.0.0 package on real photos."""
import cv2
import numpy as np
import pytest
import tensorflow as tf
from boxes import iou

from app.model_clients.local_model import LocalModel
from app.pipeline.detectors import MtcnnDetector


@pytest.fixture(scope="module")
def detector(exported):
    return MtcnnDetector(LocalModel("mtcnn", exported))


@pytest.fixture(scope="module")
def photos(celebrity_photos):
    return celebrity_photos


def compare(detector, reference, photos):
    """(photos with the same face count, worst IoU of a reference box with its best match)."""
    same_count, worst = 0, 1.0
    for rgb in photos:
        ours = detector.detect(rgb)
        theirs = reference.detect_faces(rgb, box_format="xyxy", output_type="numpy")
        theirs = theirs[:, 1:5] if len(theirs) else np.zeros((0, 4))
        same_count += len(ours) == len(theirs)
        for box in theirs:
            worst = min(worst, max((iou(box, b) for b in ours.boxes), default=0.0))
        assert ours.landmarks.shape == (len(ours), 5, 2)
    return same_count, worst


def test_same_faces_as_the_reference_package(detector, photos):
    from mtcnn import MTCNN
    same_count, worst = compare(detector, MTCNN(), photos)
    assert same_count >= 0.98 * len(photos)
    assert worst >= 0.9


def test_identical_to_the_reference_once_its_sort_is_stable(detector, photos, monkeypatch):
    """The package sorts scores with NumPy's unstable argsort, so on tied P-Net scores (they
    saturate at 1.0) which box survives is arbitrary there. With a stable descending sort,
    as the graph uses, the two agree box for box."""
    import mtcnn.utils.bboxes as bboxes
    from mtcnn import MTCNN

    def stable_sort(tensor, scores, ascending=True):
        return tensor[np.argsort(scores if ascending else -scores, kind="stable")]
    monkeypatch.setattr(bboxes, "sort_by_scores", stable_sort)
    same_count, worst = compare(detector, MTCNN(), photos)
    assert same_count == len(photos)
    assert worst >= 0.999


def test_landmarks_fall_inside_their_faces(detector, photos):
    found = detector.detect(photos[0])
    assert len(found) >= 1
    for box, marks in zip(found.boxes, found.landmarks):
        assert np.all(marks[:, 0] >= box[0]) and np.all(marks[:, 0] <= box[2])
        assert np.all(marks[:, 1] >= box[1]) and np.all(marks[:, 1] <= box[3])
        left_eye, right_eye = marks[0], marks[1]
        assert left_eye[0] < right_eye[0]


@pytest.mark.parametrize("image", [
    np.zeros((1, 1, 3), np.uint8),
    np.zeros((16, 16, 3), np.uint8),
    np.zeros((480, 640, 3), np.uint8),
    np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8),
], ids=["1x1", "16x16", "black", "noise"])
def test_faceless_images_give_no_face_and_no_error(detector, image):
    found = detector.detect(image)
    assert len(found) == 0
    assert found.boxes.shape == (0, 4) and found.landmarks.shape == (0, 5, 2)


def test_larger_min_size_still_finds_large_faces(exported, photos):
    """The reference package returns nothing at min_size 40 (its last pyramid levels fall
    under 12 px and P-Net raises); the graph skips those levels instead."""
    found = MtcnnDetector(LocalModel("mtcnn", exported), min_size=40).detect(photos[0])
    assert len(found) >= 1


def test_boxes_stay_inside_the_frame(detector, photos):
    rgb = photos[0]
    h, w = rgb.shape[:2]
    shifted = np.zeros_like(rgb)
    shifted[:, : w - w // 2] = rgb[:, w // 2:]  # the face cut by the left edge
    for image in (rgb, shifted):
        boxes = detector.detect(image).boxes
        assert np.all(boxes[:, [0, 2]] >= 0) and np.all(boxes[:, [0, 2]] <= w - 1)
        assert np.all(boxes[:, [1, 3]] >= 0) and np.all(boxes[:, [1, 3]] <= h - 1)


def test_one_predict_call_runs_the_whole_cascade(exported):
    """The SavedModel's serving_default alone turns an image into final detections."""
    fn = tf.saved_model.load(str(exported / "mtcnn" / "1")).signatures["serving_default"]
    image = cv2.resize(np.full((64, 64, 3), 128, np.uint8), (200, 200))
    out = fn(image=tf.constant(image), min_size=tf.constant(20.0),
             thresholds=tf.constant([0.6, 0.7, 0.8]), factor=tf.constant(0.709))
    assert set(out) == {"boxes", "scores", "landmarks"}
