"""The face pipeline: image bytes -> faces (box, score, landmarks) -> embeddings.

imaging (decode, crops) -> detectors (MTCNN or YuNet served, dlib in-process) -> alignment ->
embedders (FaceNet, SFace, or the two fused: EMBEDDER), tied together by pipeline.FacePipeline;
enrolled_crop keeps what a later re-embedding needs; timing.Stopwatch times the stages."""
from app.pipeline.pipeline import Face, FacePipeline, Frame, build_pipeline
from app.pipeline.timing import Stopwatch

__all__ = ["Face", "FacePipeline", "Frame", "Stopwatch", "build_pipeline"]
