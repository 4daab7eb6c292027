"""Face detection behind one small interface: `detect(rgb) -> Detections`."""
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Detections:
    boxes: np.ndarray       # [N,4] float32 x1, y1, x2, y2 in pixels of the frame
    scores: np.ndarray      # [N] float32
    landmarks: np.ndarray   # [N,5,2] float32 (x, y): left eye, right eye, nose, mouth left, mouth right

    def __len__(self):
        return len(self.scores)

    @classmethod
    def empty(cls):
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))


class Detector(Protocol):
    name: str

    def detect(self, rgb: np.ndarray) -> Detections: ...

    def ready(self) -> bool: ...


class MtcnnDetector:
    """MTCNN served as one graph: the whole cascade is one predict() call."""
    name = "mtcnn"

    def __init__(self, model, min_size=20.0, thresholds=(0.6, 0.7, 0.8), factor=0.709):
        self.model = model
        self.params = {"min_size": np.float32(min_size), "thresholds": np.asarray(thresholds, np.float32),
                       "factor": np.float32(factor)}

    def detect(self, rgb):
        out = self.model.predict({"image": np.ascontiguousarray(rgb, np.uint8), **self.params})
        return Detections(out["boxes"].reshape(-1, 4), out["scores"].reshape(-1),
                          out["landmarks"].reshape(-1, 5, 2))

    def ready(self):
        return self.model.ready()
