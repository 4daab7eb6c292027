"""One frame through the face pipeline: decode -> detect -> crop -> embed (one batched call).

    pipeline = build_pipeline(settings)       # or FacePipeline(detector, embedder, crop, max_pixels)
    frame = pipeline.analyze(jpeg_bytes)      # every face: box, score, landmarks, embedding
"""
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from app.imaging import crop_faces, decode_image


@dataclass
class Face:
    box: np.ndarray          # x1, y1, x2, y2 (pixels)
    score: float
    landmarks: np.ndarray    # [5,2]
    embedding: np.ndarray | None = None   # [128], unit length

    @property
    def area(self):
        return float((self.box[2] - self.box[0]) * (self.box[3] - self.box[1]))


@dataclass
class Frame:
    width: int
    height: int
    faces: list[Face]
    timing_ms: dict = field(default_factory=dict)
    rgb: np.ndarray | None = field(default=None, repr=False)   # the decoded frame, for crops

    def largest_face(self):
        return max(self.faces, key=lambda f: f.area) if self.faces else None


@contextmanager
def _timed(timings, stage):
    start = time.perf_counter()
    yield
    timings[stage] = round((time.perf_counter() - start) * 1000.0, 2)


class FacePipeline:
    def __init__(self, detector, embedder, crop, max_pixels):
        """crop: see imaging.parse_crop; max_pixels: decoding limit (FACE_CROP, MAX_IMAGE_PIXELS)."""
        self.detector, self.embedder = detector, embedder
        self.crop, self.max_pixels = crop, max_pixels

    @property
    def model_id(self):
        """What made the embeddings: the network and the crop fed to it."""
        return f"{self.embedder.model_id}/{self.crop}"

    def analyze(self, data, embed=True):
        """Every face in the encoded image `data`; embeddings unless embed=False."""
        timings = {}
        with _timed(timings, "decode"):
            rgb = decode_image(data, self.max_pixels)
        frame = self.analyze_rgb(rgb, embed, timings)
        frame.timing_ms["total"] = round(sum(timings.values()), 2)
        return frame

    def analyze_rgb(self, rgb, embed=True, timings=None):
        timings = {} if timings is None else timings
        with _timed(timings, "detect"):
            found = self.detector.detect(rgb)
        faces = [Face(found.boxes[i], float(found.scores[i]), found.landmarks[i]) for i in range(len(found))]
        if embed:
            with _timed(timings, "embed"):
                vectors = self.embed_boxes(rgb, found.boxes)
            for face, vector in zip(faces, vectors):
                face.embedding = vector
        return Frame(rgb.shape[1], rgb.shape[0], faces, timings, rgb)

    def embed_boxes(self, rgb, boxes, crop=None):
        """[N,128] for the faces at `boxes`, in one embedder call (crop: see imaging.parse_crop)."""
        return self.embedder.embed(crop_faces(rgb, boxes, crop or self.crop, self.embedder.image_size))


def build_detector(settings):
    """PREPROCESSOR: MTCNN (served model) or dlib (in-process), both on frames of any size."""
    from app.detector import MtcnnDetector, ScaledDetector
    from app.model_client import open_model

    if settings.preprocessor == "dlib":
        from app.dlib_detector import DlibDetector
        detector = DlibDetector(settings.dlib_detector, settings.dlib_upsample)
    else:
        detector = MtcnnDetector(open_model(settings, "mtcnn"), settings.mtcnn_min_size,
                                 settings.mtcnn_thresholds, settings.mtcnn_factor)
    return ScaledDetector(detector, settings.detect_max_side, settings.detect_min_side)


def build_pipeline(settings):
    """The pipeline the settings describe (preprocessor, backend, crop)."""
    from app.embedder import FacenetEmbedder
    from app.model_client import open_model

    embedder = FacenetEmbedder(open_model(settings, "facenet"))
    return FacePipeline(build_detector(settings), embedder, settings.face_crop, settings.max_image_pixels)
