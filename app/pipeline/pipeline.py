"""One image through the face pipeline: decode -> detect -> embed (the embedder crops or aligns
the faces it needs; one batched call per network).

    pipeline = build_pipeline(settings)       # or FacePipeline(detector, embedder, max_pixels)
    frame = pipeline.analyze(jpeg_bytes)      # every face: box, score, landmarks, embedding
"""
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from app.pipeline.detectors import Detector
from app.pipeline.embedders import Embedder
from app.pipeline.imaging import decode_image, request_pixels
from app.pipeline.quality import FaceQuality, face_quality
from app.pipeline.timing import Stopwatch
from config import Settings
from config.settings import pipeline_values

if TYPE_CHECKING:  # the model clients (and TensorFlow) load only when a pipeline is built
    from app.model_clients import ModelChannels


@dataclass
class Face:
    box: np.ndarray          # x1, y1, x2, y2 (pixels)
    score: float
    landmarks: np.ndarray    # [5,2]
    embedding: np.ndarray | None = None   # [dim of the embedder], unit length
    quality: FaceQuality | None = None    # filled in by FacePipeline.assess

    @property
    def vector(self) -> np.ndarray:
        """The embedding, where the face has been embedded (a face without one there is a bug)."""
        if self.embedding is None:
            raise ValueError("the face has not been embedded")
        return self.embedding

    @property
    def area(self) -> float:
        return float((self.box[2] - self.box[0]) * (self.box[3] - self.box[1]))


@dataclass
class Frame:
    width: int
    height: int
    faces: list[Face]
    rgb: np.ndarray = field(repr=False)   # the decoded image, for crops and thumbnails

    def largest_face(self) -> Face | None:
        return max(self.faces, key=lambda f: f.area) if self.faces else None


class FacePipeline:
    def __init__(self, detector: Detector, embedder: Embedder, max_pixels: int, max_request_pixels: int | None = None):
        """max_pixels: decoding limit per image (MAX_IMAGE_PIXELS); max_request_pixels: all the
        images of one request (MAX_REQUEST_PIXELS)."""
        self.detector, self.embedder = detector, embedder
        self.max_pixels = max_pixels
        self.max_request_pixels = max_request_pixels or max_pixels
        self.built_from: dict[str, object] | None = None   # pipeline_values() of the settings it was built from

    def fits(self, settings: Settings) -> bool:
        """Whether this pipeline is the one `settings` describe (so an app of them may share it)."""
        return self.built_from == pipeline_values(settings)

    def check_request(self, images: list[bytes]) -> None:
        """Refuse, from the headers alone, a request whose images cannot all be decoded."""
        request_pixels(images, self.max_pixels, self.max_request_pixels)

    @property
    def model_id(self) -> str:
        """What made the embeddings: the network(s) and the crop or alignment fed to them."""
        return self.embedder.model_id

    def decode(self, data: bytes, stopwatch: Stopwatch | None = None) -> np.ndarray:
        with (stopwatch or Stopwatch()).stage("decode"):
            return decode_image(data, self.max_pixels)

    def analyze(self, data: bytes, embed: bool = True, stopwatch: Stopwatch | None = None) -> Frame:
        """Every face in the encoded image `data`; embeddings unless embed=False."""
        stopwatch = stopwatch or Stopwatch()
        return self.analyze_rgb(self.decode(data, stopwatch), embed, stopwatch)

    def analyze_rgb(self, rgb: np.ndarray, embed: bool = True, stopwatch: Stopwatch | None = None) -> Frame:
        stopwatch = stopwatch or Stopwatch()
        frame = self.detect(rgb, stopwatch)
        if embed:
            self.embed_faces(frame, frame.faces, stopwatch)
        return frame

    def detect(self, rgb: np.ndarray, stopwatch: Stopwatch | None = None) -> Frame:
        with (stopwatch or Stopwatch()).stage("detect"):
            found = self.detector.detect(rgb)
        faces = [Face(found.boxes[i], float(found.scores[i]), found.landmarks[i]) for i in range(len(found))]
        return Frame(rgb.shape[1], rgb.shape[0], faces, rgb)

    def assess(self, frame: Frame, faces: list[Face], stopwatch: Stopwatch | None = None) -> None:
        """Fill in the quality of each of `faces` (faces of `frame`)."""
        with (stopwatch or Stopwatch()).stage("quality"):
            for face in faces:
                face.quality = face_quality(frame.rgb, face.box, face.landmarks, face.score)

    def embed_faces(self, frame: Frame, faces: list[Face], stopwatch: Stopwatch | None = None) -> None:
        """Fill in the embedding of each of `faces` (faces of `frame`), in one embedder call."""
        with (stopwatch or Stopwatch()).stage("embed"):
            vectors = self.embedder.embed(frame.rgb, np.asarray([f.box for f in faces]).reshape(-1, 4),
                                          np.asarray([f.landmarks for f in faces]).reshape(-1, 5, 2))
        for face, vector in zip(faces, vectors):
            face.embedding = vector


def build_detector(settings: Settings, channels: "ModelChannels | None" = None) -> Detector:
    """PREPROCESSOR: MTCNN, YuNet or YuNet + O-Net (served models) or dlib (in-process), on
    frames of any size."""
    from app.model_clients import open_model
    from app.pipeline.detectors import MtcnnDetector, ScaledDetector, YunetDetector, YunetOnetDetector

    detector: Detector
    if settings.preprocessor == "dlib":
        from app.pipeline.dlib_detector import DlibDetector
        detector = DlibDetector(settings.dlib_detector, settings.dlib_upsample)
    elif settings.preprocessor == "yunet":
        detector = YunetDetector(open_model(settings, "yunet", channels), settings.yunet_score_threshold)
    elif settings.preprocessor == "yunet+onet":
        detector = YunetOnetDetector(open_model(settings, "yunet_onet", channels),
                                     settings.yunet_onet_score_threshold)
    else:
        detector = MtcnnDetector(open_model(settings, "mtcnn", channels), settings.mtcnn_min_size,
                                 settings.mtcnn_thresholds, settings.mtcnn_factor)
    return ScaledDetector(detector, settings.detect_max_side, settings.detect_min_side)


def build_embedder(settings: Settings, channels: "ModelChannels | None" = None) -> Embedder:
    """EMBEDDER: FaceNet (on FACE_CROP), SFace (aligned), both fused (one served graph, or
    the two networks when FUSED_GRAPH is off), or dlib's ResNet and SFace fused (one graph)."""
    from app.model_clients import open_model
    from app.pipeline.embedders import (
        DlibSfaceEmbedder,
        FacenetEmbedder,
        FusedEmbedder,
        FusedGraphEmbedder,
        SfaceEmbedder,
    )

    def facenet() -> FacenetEmbedder:
        return FacenetEmbedder(open_model(settings, "facenet", channels), settings.face_crop)

    def sface() -> SfaceEmbedder:
        return SfaceEmbedder(open_model(settings, "sface", channels))
    if settings.embedder == "dlib+sface":
        return DlibSfaceEmbedder(open_model(settings, "dlib_sface", channels))
    if settings.embedder == "facenet+sface" and settings.fused_graph:
        return FusedGraphEmbedder(open_model(settings, "facenet_sface", channels), settings.face_crop)
    if settings.embedder == "facenet+sface":
        return FusedEmbedder(facenet(), sface())
    return facenet() if settings.embedder == "facenet" else sface()


def build_pipeline(settings: Settings, channels: "ModelChannels | None" = None) -> FacePipeline:
    """The pipeline the settings describe (preprocessor, embedder, backend, crop); `channels`:
    the worker's gRPC channels (app.model_clients.ModelChannels), made here when not given."""
    from app.model_clients import ModelChannels

    if settings.model_backend == "grpc" and channels is None:
        channels = ModelChannels(settings.grpc_retries)
    pipeline = FacePipeline(build_detector(settings, channels), build_embedder(settings, channels),
                            settings.max_image_pixels, settings.max_request_pixels)
    pipeline.built_from = pipeline_values(settings)
    return pipeline
