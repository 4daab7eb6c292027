"""How usable a detected face is, from what the pipeline already has: the inter-ocular
distance (px), the sharpness of the face aligned to a small fixed template, the head's yaw and
pitch estimated from the 5 landmarks, and the detector's score. Each part maps to [0, 1]; the
face's `quality` is their product, so one bad part (tiny, blurred, turned away) is enough.

    q = face_quality(frame.rgb, face)      # q.quality in [0, 1]; q.problem(): "too small", ...
"""
import math
from dataclasses import dataclass

import cv2
import numpy as np

from app.pipeline.alignment import aligned_faces

SHARPNESS_SIZE = 64         # the aligned crop the Laplacian is taken on: the same scale for every face
# The part scores reach 1 at these (measured on the 5-celebrity photos, bench/bench_visits.py):
FULL_EYE_PX = 24.0          # a face ~60 px wide; 6 px (a ~15 px face) scores 0
MIN_EYE_PX = 6.0
FULL_SHARPNESS = 0.12       # Laplacian variance / intensity variance of a photo-sharp face is ~0.15-0.5
MAX_ANGLE = 75.0            # degrees of yaw or pitch that score 0 (from 25, 1)
FRONTAL_NOSE_RATIO = 0.53
MIN_SCORE = 0.6             # detector scores from this (0) to 1 (1)


@dataclass(frozen=True)
class FaceQuality:
    eye_distance_px: float
    sharpness: float
    yaw: float              # degrees, + = the face turned towards the image's right
    pitch: float            # degrees, + = looking down
    detector_score: float
    quality: float

    def parts(self) -> dict[str, float]:
        return {"eye_distance_px": round(self.eye_distance_px, 2), "sharpness": round(self.sharpness, 4),
                "yaw": round(self.yaw, 1), "pitch": round(self.pitch, 1),
                "detector_score": round(self.detector_score, 4)}

    def problem(self) -> str:
        """What most lowers the quality, in words: "too small", "blurred", "turned away" or "unsure detection"."""
        scores = {"too small": _size_score(self.eye_distance_px), "blurred": _sharpness_score(self.sharpness),
                  "turned away": _pose_score(self.yaw, self.pitch),
                  "unsure detection": _detector_score(self.detector_score)}
        return min(scores, key=lambda part: scores[part])


def _ramp(value: float, zero: float, full: float) -> float:
    return float(min(1.0, max(0.0, (value - zero) / (full - zero))))


def _size_score(eye_px: float) -> float:
    return _ramp(eye_px, MIN_EYE_PX, FULL_EYE_PX)


def _sharpness_score(sharpness: float) -> float:
    return _ramp(sharpness, 0.0, FULL_SHARPNESS)


def _pose_score(yaw: float, pitch: float) -> float:
    return 1.0 - _ramp(max(abs(yaw), abs(pitch)), 25.0, MAX_ANGLE)


def _detector_score(score: float) -> float:
    return _ramp(score, MIN_SCORE, 0.95)


def head_pose(landmarks: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees, roughly, from the 5 landmarks: in the frame of the eye line
    (roll removed), how far the nose sits from the eyes' midpoint sideways (yaw) and between the
    eyes and the mouth (pitch; a frontal face has it at ~0.53 of the way down, measured on the
    5-celebrity photos)."""
    points = np.asarray(landmarks, np.float64).reshape(5, 2)
    left, right, nose = points[0], points[1], points[2]
    mouth = (points[3] + points[4]) / 2
    eye_mid = (left + right) / 2
    axis = right - left
    eye_px = float(np.hypot(*axis))
    if eye_px < 1e-6:
        return 90.0, 0.0
    across = axis / eye_px
    down = np.array([-across[1], across[0]])
    side = float((nose - eye_mid) @ across) / eye_px            # ~0 frontal, ~±0.7 at 60°
    height = float((mouth - eye_mid) @ down)
    ratio = float((nose - eye_mid) @ down) / height if height > 1e-6 else FRONTAL_NOSE_RATIO
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, side * 1.2))))
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, (ratio - FRONTAL_NOSE_RATIO) * 3.0))))
    return yaw, pitch


def sharpness(rgb: np.ndarray, landmarks: np.ndarray) -> float:
    """Variance of the Laplacian of the face aligned to SHARPNESS_SIZE px, over the crop's own
    intensity variance: the same measure for a 20 px and a 200 px face (an upscaled small or
    blurred face has little high-frequency energy), and for a dark and a bright one."""
    crop = aligned_faces(rgb, landmarks[None], SHARPNESS_SIZE)[0]
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    inner = grey[8:-8, 8:-8]    # the face, not the black border a face at the edge leaves
    spread = float(inner.var())
    if spread < 1.0:
        return 0.0
    return float(cv2.Laplacian(inner, cv2.CV_32F).var()) / spread


def face_quality(rgb: np.ndarray, box: np.ndarray, landmarks: np.ndarray, score: float) -> FaceQuality:
    """The quality of the face at `box`/`landmarks` of the image `rgb`."""
    del box  # the landmarks say more than the box (a loose box changes its size, not the eyes')
    eye_px = float(np.hypot(*(np.asarray(landmarks)[1] - np.asarray(landmarks)[0])))
    sharp = sharpness(rgb, np.asarray(landmarks, np.float64))
    yaw, pitch = head_pose(landmarks)
    q = _size_score(eye_px) * _sharpness_score(sharp) * _pose_score(yaw, pitch) * _detector_score(score)
    return FaceQuality(eye_px, sharp, yaw, pitch, float(score), round(q, 4))
