"""Face detection behind one small interface: `detect(rgb) -> Detections`."""
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

if TYPE_CHECKING:
    from app.model_clients import Model


@dataclass(frozen=True)
class Detections:
    boxes: np.ndarray       # [N,4] float32 x1, y1, x2, y2 in pixels of the frame
    scores: np.ndarray      # [N] float32
    landmarks: np.ndarray   # [N,5,2] float32 (x, y): left eye, right eye, nose, mouth left, mouth right

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))


class Detector(Protocol):
    name: str

    def detect(self, rgb: np.ndarray) -> Detections: ...

    def ready(self) -> bool: ...


class MtcnnDetector:
    """MTCNN served as one graph: the whole cascade is one predict() call."""
    name = "mtcnn"

    def __init__(self, model: "Model", min_size: float = 20.0, thresholds: tuple[float, float, float] = (0.6, 0.7, 0.8),
                 factor: float = 0.709):
        self.model = model
        self.params = {"min_size": np.asarray(min_size, np.float32), "thresholds": np.asarray(thresholds, np.float32),
                       "factor": np.asarray(factor, np.float32)}

    def detect(self, rgb: np.ndarray) -> Detections:
        out = self.model.predict({"image": np.ascontiguousarray(rgb, np.uint8), **self.params})
        return Detections(out["boxes"].reshape(-1, 4), out["scores"].reshape(-1),
                          out["landmarks"].reshape(-1, 5, 2))

    def ready(self) -> bool:
        return bool(self.model.ready())


class YunetDetector:
    """YuNet (OpenCV Zoo) served as one graph: decode and NMS inside, one predict() call per
    frame, any frame size. Boxes are clipped to the frame here (the graph leaves them as
    OpenCV does), so both detectors answer in the same terms; landmarks are not clipped."""
    name = "yunet"

    def __init__(self, model: "Model", score_threshold: float = 0.7, nms_threshold: float = 0.3):
        self.model = model
        self.params = {"score_threshold": np.asarray(score_threshold, np.float32),
                       "nms_threshold": np.asarray(nms_threshold, np.float32)}

    def detect(self, rgb: np.ndarray) -> Detections:
        out = self.model.predict({"image": np.ascontiguousarray(rgb, np.uint8), **self.params})
        height, width = rgb.shape[:2]
        boxes = np.clip(out["boxes"].reshape(-1, 4), 0, [width, height, width, height]).astype(np.float32)
        return Detections(boxes, out["scores"].reshape(-1), out["landmarks"].reshape(-1, 5, 2))

    def ready(self) -> bool:
        return bool(self.model.ready())


class YunetOnetDetector(YunetDetector):
    """YuNet's proposals judged and placed by MTCNN's O-Net (boxes, landmarks, scores), one
    graph (serving_models/yunet_onet.py): YuNet's cost, MTCNN's geometry and score scale."""
    name = "yunet+onet"

    def __init__(self, model: "Model", score_threshold: float = 0.3, nms_threshold: float = 0.3):
        super().__init__(model, score_threshold, nms_threshold)


class ScaledDetector:
    """Detect on a resized copy of the frame, answer in the frame's own pixels.

    Frames larger than max_side are detected on a copy whose longest side is max_side
    (an 8000x6000 frame costs dlib HOG 28 s and 2.3 GB at full size, 0.45 s on a 1024 px
    copy, with the same faces); frames whose shorter side is under min_side are enlarged to
    it (at most 4x) so that their faces reach the detector's minimum size. Crops are still
    taken from the full-resolution frame."""

    def __init__(self, inner: Detector, max_side: int = 1024, min_side: int = 0):
        self.inner, self.max_side, self.min_side = inner, max_side, min_side
        self.name = inner.name

    def scale_for(self, height: int, width: int) -> float:
        if max(height, width) > self.max_side:
            return self.max_side / max(height, width)
        if self.min_side and min(height, width) < self.min_side:
            return min(self.min_side / min(height, width), 4.0)
        return 1.0

    def detect(self, rgb: np.ndarray) -> Detections:
        scale = self.scale_for(*rgb.shape[:2])
        if scale == 1.0:
            return self.inner.detect(rgb)
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        copy = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        found = self.inner.detect(copy)
        return Detections(found.boxes / scale, found.scores, found.landmarks / scale)

    def ready(self) -> bool:
        return self.inner.ready()
