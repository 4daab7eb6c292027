"""The face pipeline: image bytes -> faces (box, score, landmarks) -> embeddings.

imaging (decode, crops) -> detectors (MTCNN served, dlib in-process) -> embedders (FaceNet),
tied together by pipeline.FacePipeline; timing.Stopwatch times the stages."""
from app.pipeline.pipeline import Face, FacePipeline, Frame, build_pipeline
from app.pipeline.timing import Stopwatch

__all__ = ["Face", "FacePipeline", "Frame", "Stopwatch", "build_pipeline"]
