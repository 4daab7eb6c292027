"""The face pipeline: image bytes -> faces (box, score, landmarks) -> embeddings.

imaging (decode, crops) -> detectors (PREPROCESSOR: MTCNN or YuNet served over gRPC, dlib in
process) -> alignment (the 5 landmarks onto SFace's 112x112 template or dlib's 150x150 chip)
-> embedders (EMBEDDER: FaceNet on the box crop, 128-d; SFace on the aligned face, 128-d;
both fused, 256-d, the default; or dlib's ResNet and SFace fused, 256-d), tied together by
pipeline.FacePipeline; enrolled_crop keeps the crop each enrolled face is re-embedded from;
timing.Stopwatch times the stages. The embedding size follows EMBEDDER (the embedder's `dim`)."""
from app.pipeline.pipeline import Face, FacePipeline, Frame, build_pipeline
from app.pipeline.timing import Stopwatch

__all__ = ["Face", "FacePipeline", "Frame", "Stopwatch", "build_pipeline"]
