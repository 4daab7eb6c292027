"""Every setting of the server, read from environment variables and validated at start-up.

A bad value stops the app with a message naming the variable (load_settings). This package
imports nothing from app/: the Gunicorn master loads it without Flask, OpenCV or the models."""
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    pass


# MATCH_THRESHOLD when unset, per EMBEDDER: distances between unit vectors of different
# networks have different scales. Measured on the 5-celebrity set (docs/models.md, Accuracy): the
# largest threshold with no false accept on its 6,800 pairs (1.126, 1.064, 1.137), less a
# margin of 0.02 for people it has not seen, rounded down. dlib+sface: with YuNet + O-Net's
# landmarks, the detector it is for, that rule gives 1.14 (1.1698), which on the 40 people of
# the AT&T faces accepts 3.0% of different-person pairs where facenet+sface at 1.11 accepts
# 0.68%; 1.09 accepts no more (0.64%; 1.10: 0.85%). docs/frame-cost.md, "Half the frame".
DEFAULT_MATCH_THRESHOLDS = {"facenet": 1.10, "sface": 1.04, "facenet+sface": 1.11, "dlib+sface": 1.09}
# VISIT_MEAN_FACES per embedder (app/visits/identity.py, with_mean): a visit's mean face names it
# only with dlib+sface. On the visits benchmark (seeds 24 and 7) it recognizes 24 and 22 of the
# 25 hard visits there (21 and 20 by the frames alone, facenet+sface's 24 and 22) and takes no
# more strangers for an enrolled person than facenet+sface by its frames (0, 5 and 6 of 129
# against 3, 5 and 10), more than by its own frames (0, 3, 1). With facenet+sface it recognized
# at most one or two more visits for more strangers taken (6, 7, 16), so it is off there.
# docs/visits.md, "A visit's identity".
DEFAULT_VISIT_MEAN_FACES = {"facenet": 0, "sface": 0, "facenet+sface": 0, "dlib+sface": 4}


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
    yunet_addr: str = "127.0.0.1:8500"
    sface_addr: str = "127.0.0.1:8500"
    yunet_onet_addr: str = "127.0.0.1:8500"      # PREPROCESSOR=yunet+onet (a detector container)
    facenet_sface_addr: str = "127.0.0.1:8500"   # EMBEDDER=facenet+sface with FUSED_GRAPH (an embedder container)
    dlib_sface_addr: str = "127.0.0.1:8500"      # EMBEDDER=dlib+sface (an embedder container)
    grpc_timeout_s: float = Field(5.0, gt=0, le=120)
    grpc_retries: int = Field(2, ge=0, le=4)   # gRPC allows 5 attempts in all

    # Detection
    # yunet+onet: YuNet's faces, boxes and landmarks by MTCNN's O-Net (one graph; docs/frame-cost.md)
    preprocessor: Literal["mtcnn", "yunet", "yunet+onet", "dlib"] = "mtcnn"
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
    # YuNet keeps faces scored at least this: 0.7 finds MTCNN's faces down to 20 px, OpenCV's
    # default 0.9 loses half of those (docs/models.md, MTCNN vs YuNet).
    yunet_score_threshold: float = Field(0.7, gt=0, lt=1)
    # PREPROCESSOR=yunet+onet: YuNet proposes faces scored at least this, and O-Net's probability
    # (0.8, as MTCNN's last stage) decides; 0.3 finds small faces 0.7 misses (docs/frame-cost.md).
    yunet_onet_score_threshold: float = Field(0.3, gt=0, lt=1)

    # Embedding: FaceNet on the box crop, SFace on the face aligned by its 5 landmarks, or both
    # (one fused vector; docs/models.md, Accuracy); dlib+sface: dlib's ResNet and SFace, fused,
    # half the embedding time (with PREPROCESSOR=yunet+onet the fast configuration: docs/frame-cost.md).
    embedder: Literal["facenet", "sface", "facenet+sface", "dlib+sface"] = "facenet+sface"
    # facenet+sface through the one served graph holding both networks (model facenet_sface: one
    # Predict per frame, bfloat16 where exported so; the same vectors); false: the facenet and
    # sface models, two calls, for a model server that does not serve facenet_sface.
    fused_graph: bool = True
    # Face crop fed to FaceNet: "box", "box+N%" (of the box size, per side) or "box+Npx".
    face_crop: Annotated[FaceCrop, NoDecode] = FaceCrop(0.10)

    # Matching: a face farther than this from every enrolled face is unknown. Unset: the
    # embedder's own default (DEFAULT_MATCH_THRESHOLDS).
    match_threshold: float | None = Field(None, gt=0, le=2.0)
    top_k: int = Field(3, ge=1, le=50)   # candidates listed per face

    # Gallery and events in Redis
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "fr:"
    redis_timeout_s: float = Field(2.0, gt=0, le=60)
    # Once Redis was found unreachable (refused, timed out), a worker tries it again this often (a
    # PING from its background thread); meanwhile recognitions answer from its gallery copy.
    redis_retry_s: float = Field(1.0, gt=0, le=60)
    gallery_log_maxlen: int = Field(100_000, ge=100)   # older deltas trimmed; a worker that fell behind reloads
    # This host's gallery snapshots, shared by its workers (empty: a private folder in the temp dir)
    gallery_cache_dir: str = ""
    events_maxlen: int = Field(10_000, ge=10)      # recognition events kept, thumbnails included
    events_max_mb: int = Field(256, ge=1)           # and at most this much Redis memory for them

    # Unknown visitors (docs/visitors.md): an unknown face is kept when its detection
    # score and the shorter side of its box reach these (embeddings of faces under ~32 px drift
    # far from their person's: measured by bench/bench_visitors.py) ...
    visitor_min_score: float = Field(0.90, ge=0, le=1)
    visitor_min_face_px: int = Field(32, ge=12, le=2000)
    # ... and joins the visitor with a sighting within this distance (also DBSCAN's eps), else
    # starts one. 0.9: with visits as means, no visitor of two people among 43 strangers at
    # camera quality (1.0 made one: docs/visits.md, many strangers)
    visitor_distance: float = Field(0.9, gt=0, le=1.5)
    visitor_min_samples: int = Field(3, ge=1, le=100)   # DBSCAN: neighbours that make a core sighting
    # Re-clustering cuts each DBSCAN cluster so that no two sightings of a visitor are farther
    # apart than this (complete linkage: clusters do not chain people through look-alikes)
    visitor_max_spread: float = Field(1.2, gt=0, le=2.0)
    visitor_max_sightings: int = Field(5000, ge=10, le=1_000_000)   # the oldest are dropped beyond this
    visitor_max_age_s: int = Field(30 * 24 * 3600, ge=60)
    visitor_enroll_faces: int = Field(5, ge=1, le=50)   # best faces enrolled when a visitor is named
    # One worker at a time (Redis lock), this often: sightings trimmed by age, visitors re-clustered,
    # corrections of deleted people dropped. 0: never.
    housekeeping_interval_s: float = Field(300.0, ge=0, le=86400)
    # Corrections: a person is refused when the probe is nearer to one of their negative examples
    # than to their nearest face plus this margin (measured: bench/bench_visitors.py).
    correction_margin: float = Field(0.2, ge=0, le=1.0)
    negatives_per_person: int = Field(50, ge=1, le=1000)   # the oldest are dropped beyond this
    health_max_faces: int = Field(20_000, ge=10, le=1_000_000)   # GET /gallery/health reads every face

    # Face quality and visits (docs/visits.md; thresholds measured by bench/bench_visits.py).
    # A face under MIN_MATCH_QUALITY is listed (box, quality, reason "low_quality") but never
    # matched, never a visitor sighting; enrollment refuses one under MIN_ENROLL_QUALITY (422)
    # unless force=true.
    min_match_quality: float = Field(0.2, ge=0, le=1)
    min_enroll_quality: float = Field(0.1, ge=0, le=1)
    # A face continues a track of its camera seen within TRACK_GAP_S seconds (box overlap or
    # plausible motion, and embedding distance within TRACK_MAX_DISTANCE); tracks are kept for
    # GET /tracks/{id} VISIT_KEEP_S after their last frame.
    track_gap_s: float = Field(10.0, gt=0, le=3600)
    track_max_distance: float = Field(1.3, gt=0, le=2.0)
    visit_keep_s: int = Field(3600, ge=60, le=7 * 86400)
    # Each worker looks this often for visits whose camera sent nothing for TRACK_GAP_S and ends
    # them ("ended" once across workers with MQTT on; an unknown visit's sighting refined either
    # way); 0: only on the camera's next frame.
    visit_sweep_s: float = Field(1.0, ge=0, le=3600)
    # A visit's identity (app/visits/identity.py): decided when one person's evidence (each frame:
    # quality x (0.25 + its distance margin to MATCH_THRESHOLD / 0.3, at most 1)) reaches
    # VISIT_DECIDE_WEIGHT (VISIT_UNKNOWN_WEIGHT for "a stranger") and VISIT_DECIDE_SHARE of the
    # visit's evidence; a decided identity yields only to one VISIT_SWITCH_FACTOR times heavier.
    visit_decide_weight: float = Field(0.5, gt=0, le=100)
    visit_unknown_weight: float = Field(1.5, gt=0, le=100)
    visit_decide_share: float = Field(0.7, gt=0.5, le=1)
    visit_switch_factor: float = Field(2.0, ge=1, le=100)
    # An unknown face whose nearest person is less than this over MATCH_THRESHOLD is no evidence
    # either way (neither that person nor "a stranger")
    visit_near_miss: float = Field(0.1, ge=0, le=1)
    # A visit its frames have not named is named after the person the quality-weighted mean of
    # its usable faces matches (and a frame matched), once it holds this many (0: the frames
    # alone decide). Unset: the embedder's own default (DEFAULT_VISIT_MEAN_FACES).
    visit_mean_faces: int | None = Field(None, ge=0, le=1000)
    # An unknown visit feeds the visitor clustering once, with a face of at least this quality.
    visitor_min_quality: float = Field(0.3, ge=0, le=1)
    # A person is "home" (Home Assistant presence) while seen within this many minutes.
    presence_window_min: float = Field(10.0, gt=0, le=7 * 24 * 60)

    # Requests
    max_content_length: int = Field(20 * 1024 * 1024, ge=1024)    # bytes of one request body
    max_image_pixels: int = Field(50_000_000, ge=1)                # refused from the header, before decoding
    # All the images of one request together (their headers are read before any is decoded):
    # ten small JPEGs whose headers each claim 50 M pixels would otherwise be decoded in full.
    max_request_pixels: int = Field(60_000_000, ge=1)
    max_images_per_request: int = Field(10, ge=1, le=100)
    max_import_bytes: int = Field(8 * 1024 ** 3, ge=1024)        # POST /gallery/import, streamed (~1 KB per face)
    # Comma-separated; when set, every endpoint but /healthz needs X-API-Key.
    api_keys: Annotated[tuple[str, ...], NoDecode] = ()
    # Web pages of other sites that may change the gallery (POST, PATCH, DELETE) from a
    # browser without a key, e.g. "https://ha.example.org"; other sites are refused.
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # Answer with X-Facerec-Worker: <pid> (for debugging and the multi-worker tests; it tells
    # the world the workers' process ids, so it is off unless asked for).
    worker_header: bool = False

    # Gunicorn (config/gunicorn.conf.py)
    bind: str = Field("0.0.0.0:5000", pattern=r"^(unix:.+|[^\s:]*:\d{1,5}|\[[0-9a-fA-F:]+\]:\d{1,5})$")
    web_concurrency: int = Field(2, ge=1, le=64)   # worker processes
    threads: int = Field(4, ge=1, le=64)           # threads per worker

    # MQTT events and Home Assistant discovery (app/mqtt/): off while MQTT_URL is empty.
    mqtt_url: str = ""                                 # mqtt://user:pass@host:1883, mqtts://host:8883 (TLS)
    mqtt_topic_prefix: str = "facerec"
    mqtt_discovery_prefix: str = "homeassistant"      # empty: no discovery
    mqtt_client_id: str = ""                           # prefix; each worker adds its pid (default facerec-<host>)
    mqtt_keepalive_s: int = Field(30, ge=5, le=3600)   # the broker sends the last will after 1.5x this
    mqtt_queue_size: int = Field(1000, ge=1, le=1_000_000)   # messages waiting per worker; more are dropped
    mqtt_tls_ca: str = ""                              # CA file for mqtts:// (default: the system's)
    mqtt_tls_insecure: bool = False                    # mqtts:// without checking the host name
    # The per-frame topics (events/, cameras/, matches/, people/, unknown); visits/ is always published.
    mqtt_frame_topics: bool = True

    @model_validator(mode="after")
    def _defaults_of_the_embedder(self):
        if self.match_threshold is None:
            self.match_threshold = DEFAULT_MATCH_THRESHOLDS[self.embedder]
        if self.visit_mean_faces is None:
            self.visit_mean_faces = DEFAULT_VISIT_MEAN_FACES[self.embedder]
        return self

    @field_validator("mtcnn_thresholds", mode="before")
    @classmethod
    def _comma_separated(cls, value):
        if isinstance(value, str):
            return json.loads(value) if value.lstrip().startswith("[") else value.split(",")
        return value

    @field_validator("api_keys", "allowed_origins", mode="before")
    @classmethod
    def _keys(cls, value):
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(",") if key.strip())
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value):
        for origin in value:
            if not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ValueError(f"{origin!r} is not an origin like https://host[:port]")
        return tuple(origin.lower() for origin in value)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value):
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, value):
        if value and not re.fullmatch(r"mqtts?://([^@/\s]*@)?[^@/:\s]+(:\d{1,5})?/?", value):
            raise ValueError("must be empty or mqtt://[user:password@]host[:port] (mqtts:// for TLS)")
        return value

    @field_validator("mqtt_topic_prefix", "mqtt_discovery_prefix")
    @classmethod
    def _topic_prefix(cls, value, info):
        if (value or info.field_name == "mqtt_topic_prefix") and not re.fullmatch(r"[^/+#\s]+(/[^/+#\s]+)*", value):
            raise ValueError("must be topic levels separated by '/', without '+', '#', spaces or empty levels")
        return value

    @field_validator("mtcnn_thresholds")
    @classmethod
    def _probabilities(cls, value):
        if not all(0.0 < t < 1.0 for t in value):
            raise ValueError("each threshold must be between 0 and 1")
        return value

    @field_validator("housekeeping_interval_s", "visit_sweep_s")
    @classmethod
    def _interval(cls, value, info):
        least = {"housekeeping_interval_s": 0.5, "visit_sweep_s": 0.1}[info.field_name]
        if 0 < value < least:
            raise ValueError(f"must be 0 (never) or at least {least} seconds")
        return value

    @field_validator("face_crop", mode="before")
    @classmethod
    def _crop(cls, value):
        return FaceCrop.parse(value) if isinstance(value, str) else value


# The settings that define the face pipeline (decoding limits, detector, embedder, the models and
# how they are reached): an app shares an already loaded pipeline (create_app's `pipeline=`) only
# when it was built from the same values of these. tests/unit/test_settings.py holds this set to
# the settings app/pipeline and app/model_clients read.
PIPELINE_FIELDS = frozenset({
    "model_backend", "model_dir", "mtcnn_addr", "facenet_addr", "yunet_addr", "sface_addr", "grpc_timeout_s",
    "grpc_retries", "preprocessor", "dlib_detector", "dlib_upsample", "detect_max_side", "detect_min_side",
    "mtcnn_min_size", "mtcnn_thresholds", "mtcnn_factor", "yunet_score_threshold", "yunet_onet_score_threshold",
    "embedder", "face_crop",
    "max_image_pixels", "max_request_pixels", "fused_graph", "yunet_onet_addr", "facenet_sface_addr",
    "dlib_sface_addr"})


def pipeline_values(settings: Settings) -> dict[str, object]:
    """The values of the settings that define the face pipeline (PIPELINE_FIELDS)."""
    return {name: getattr(settings, name) for name in sorted(PIPELINE_FIELDS)}


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (overrides win); a bad value raises SettingsError naming it."""
    try:
        return Settings(**overrides)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']} (got {err.get('input')!r})"
                             for err in e.errors())
        raise SettingsError(f"invalid configuration: {problems}") from None
