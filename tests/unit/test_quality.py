"""Face quality from landmarks and pixels, without any model: pose from the 5 points, sharpness
of the aligned crop, and the combined score naming what is wrong."""
import cv2
import numpy as np

from app.pipeline.quality import face_quality, head_pose

FRONTAL = np.array([[40, 50], [80, 50], [60, 71], [45, 90], [75, 90]], np.float64)


def textured(size=200, seed=0):
    rng = np.random.default_rng(seed)
    grey = cv2.resize(rng.integers(0, 255, (size // 4, size // 4), dtype=np.uint8), (size, size),
                      interpolation=cv2.INTER_CUBIC)
    return np.repeat(grey[..., None], 3, axis=2)


def test_head_pose_from_landmarks():
    yaw, pitch = head_pose(FRONTAL)
    assert abs(yaw) < 5 and abs(pitch) < 10
    turned = FRONTAL.copy()
    turned[2, 0] += 25          # the nose well to one side: turned away
    assert abs(head_pose(turned)[0]) > 30
    rolled = FRONTAL @ np.array([[0.8, -0.6], [0.6, 0.8]])   # the head tilted: roll is not yaw
    assert abs(head_pose(rolled)[0]) < 5


def test_a_sharp_large_frontal_face_scores_high_and_poor_ones_say_why():
    rgb = textured()
    good = face_quality(rgb, None, FRONTAL, 0.99)
    assert good.quality > 0.8 and good.eye_distance_px == 40
    small = face_quality(rgb, None, FRONTAL * 0.1, 0.99)
    assert small.quality == 0 and small.problem() == "too small"
    blurred = face_quality(cv2.GaussianBlur(rgb, (0, 0), 6), None, FRONTAL, 0.99)
    assert blurred.quality < good.quality / 2 and blurred.problem() == "blurred"
    turned = FRONTAL.copy()
    turned[2, 0] += 30
    assert face_quality(rgb, None, turned, 0.99).problem() == "turned away"
    assert set(good.parts()) == {"eye_distance_px", "sharpness", "yaw", "pitch", "detector_score"}
