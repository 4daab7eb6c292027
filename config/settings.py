"""Every setting of the server, read from environment variables and validated at start-up.

A bad value stops the app with a message naming the variable (load_settings). This package
imports nothing from app/: the Gunicorn master loads it without Flask, OpenCV or the models."""
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class FaceCrop:
    """The crop fed to the embedder: the detector's box widened by `fraction` of its size and
    by `pixels`, per side. Written "box", "box+N%" or "box+Npx"; str() gives that text back."""
    fraction: float = 0.0
    pixels: float = 0.0

    @classmethod
    def parse(cls, spec: str) -> "FaceCrop":
        match = re.fullmatch(r"box(?:\+(\d+(?:\.\d+)?)(%|px))?", spec.strip())
        if not match:
            raise ValueError(f"crop {spec!r} is not 'box', 'box+N%' or 'box+Npx'")
        amount, unit = match.groups()
        if amount is None:
            return cls()
        return cls(float(amount) / 100.0) if unit == "%" else cls(0.0, float(amount))

    def __str__(self) -> str:
        if self.fraction:
            return f"box+{self.fraction * 100:g}%"
        return f"box+{self.pixels:g}px" if self.pixels else "box"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    # Models: `local` loads the SavedModels in-process, `grpc` calls TensorFlow Serving.
    model_backend: Literal["grpc", "local"] = "local"
    model_dir: Path = ROOT / "serving_models"
    mtcnn_addr: str = "127.0.0.1:8500"
    facenet_addr: str = "127.0.0.1:8500"
    grpc_timeout_s: float = Field(5.0, gt=0, le=120)
    grpc_retries: int = Field(2, ge=0, le=4)   # gRPC allows 5 attempts in all

    # Detection
    preprocessor: Literal["mtcnn", "dlib"] = "mtcnn"
    dlib_detector: Literal["hog", "cnn"] = "hog"   # cnn: ~50x slower on a CPU, for CUDA builds of dlib
    dlib_upsample: int = Field(1, ge=0, le=3)
    # Detection runs on a copy no larger than this (boxes mapped back, crops from the full frame) ...
    detect_max_side: int = Field(1024, ge=64, le=16384)
    # ... and frames whose shorter side is under this are enlarged for detection (0: never).
    detect_min_side: int = Field(160, ge=0, le=4096)
    mtcnn_min_size: float = Field(20.0, ge=12, le=1000)
    # P-Net, R-Net, O-Net score thresholds: "0.6,0.7,0.8" or a JSON list
    mtcnn_thresholds: Annotated[tuple[float, float, float], NoDecode] = (0.6, 0.7, 0.8)
    mtcnn_factor: float = Field(0.709, ge=0.5, le=0.9)
    # Face crop fed to FaceNet: "box", "box+N%" (of the box size, per side) or "box+Npx".
    face_crop: Annotated[FaceCrop, NoDecode] = FaceCrop(0.10)

    # Matching: a face farther than this from every enrolled face is unknown (see README,
    # Accuracy: 0 false accepts on the 5-celebrity pairs at 1.10, EER threshold ~1.25).
    match_threshold: float = Field(1.10, gt=0, le=2.0)
    top_k: int = Field(3, ge=1, le=50)   # candidates listed per face

    # Gallery and events in Redis
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "fr:"
    redis_timeout_s: float = Field(2.0, gt=0, le=60)
    gallery_log_maxlen: int = Field(100_000, ge=100)   # older deltas trimmed; a worker that fell behind reloads
    # This host's gallery snapshots, shared by its workers (empty: a private folder in the temp dir)
    gallery_cache_dir: str = ""
    events_maxlen: int = Field(10_000, ge=10)
    thumbnail_ttl_s: int = Field(7 * 24 * 3600, ge=60)

    # Requests
    max_content_length: int = Field(20 * 1024 * 1024, ge=1024)    # bytes of one request body
    max_image_pixels: int = Field(50_000_000, ge=1)                # refused from the header, before decoding
    max_images_per_request: int = Field(10, ge=1, le=100)
    max_import_bytes: int = Field(8 * 1024 ** 3, ge=1024)        # POST /gallery/import, streamed (~1 KB per face)
    # Comma-separated; when set, every endpoint but /healthz needs X-API-Key.
    api_keys: Annotated[tuple[str, ...], NoDecode] = ()

    # Gunicorn (config/gunicorn.conf.py)
    bind: str = Field("0.0.0.0:5000", pattern=r"^(unix:.+|[^\s:]*:\d{1,5}|\[[0-9a-fA-F:]+\]:\d{1,5})$")
    web_concurrency: int = Field(2, ge=1, le=64)   # worker processes
    threads: int = Field(4, ge=1, le=64)           # threads per worker

    @field_validator("mtcnn_thresholds", mode="before")
    @classmethod
    def _comma_separated(cls, value):
        if isinstance(value, str):
            return json.loads(value) if value.lstrip().startswith("[") else value.split(",")
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _keys(cls, value):
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(",") if key.strip())
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value):
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("mtcnn_thresholds")
    @classmethod
    def _probabilities(cls, value):
        if not all(0.0 < t < 1.0 for t in value):
            raise ValueError("each threshold must be between 0 and 1")
        return value

    @field_validator("face_crop", mode="before")
    @classmethod
    def _crop(cls, value):
        return FaceCrop.parse(value) if isinstance(value, str) else value


def load_settings(**overrides):
    """Settings from the environment (overrides win); a bad value raises SettingsError naming it."""
    try:
        return Settings(**overrides)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']} (got {err.get('input')!r})"
                             for err in e.errors())
        raise SettingsError(f"invalid configuration: {problems}") from None
