"""The bridge's configuration: Frigate, our server, the broker, Double Take's contract, and
per-camera settings. Built from command-line flags and environment variables (app/cli/frigate.py),
with an optional YAML or JSON file for the per-camera part; pydantic checks it all and says
which key is wrong."""
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# Frigate camera and zone names are [a-zA-Z0-9_-] (frigate/config/camera/camera.py); we allow a
# little more, but never "/", "#" or "+", which would break MQTT topics.
NAME_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"


class CameraConfig(BaseModel):
    """What the bridge does with one Frigate camera's people (Double Take's per-camera `frigate` keys)."""
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="false: this camera's events are ignored")
    snapshot_attempts: int = Field(3, ge=0, le=50, description="event snapshots (snapshot.jpg) posted per event, "
                                                                 "at most (Double Take: attempts.snapshot)")
    latest_attempts: int = Field(0, ge=0, le=50, description="camera frames (latest.jpg) posted per event, at most "
                                                               "(Double Take: attempts.latest)")
    attempt_delay_s: float = Field(0.5, ge=0, le=60, description="pause between two attempts of one event")
    min_face_area: int = Field(0, ge=0, le=10_000_000, description="faces with a smaller box (px^2) never decide "
                                                                     "the event (Double Take: detect.match.min_area)")
    min_person_area: int = Field(0, ge=0, description="Frigate person boxes smaller than this (px^2) are not "
                                                        "looked at (Double Take: frigate.min_area)")
    ignore_zones: list[str] = Field(default_factory=list, description="an event now in one of these zones is not "
                                                                       "looked at")
    crop: bool = Field(True, description="ask Frigate for the snapshot cropped to the person (crop=1)")
    snapshot_height: int = Field(0, ge=0, le=4320, description="ask Frigate to scale snapshots to this height "
                                                                 "(0: Frigate's size)")

    @field_validator("ignore_zones")
    @classmethod
    def _zones(cls, zones: list[str]) -> list[str]:
        for zone in zones:
            if not isinstance(zone, str) or not 0 < len(zone) <= 64:
                raise ValueError(f"zone names are 1-64 characters: {zone!r}")
        return zones


class BridgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    frigate_url: str = Field("http://127.0.0.1:5000", description="Frigate's API: port 5000 inside its network "
                                                                  "(no login) or 8971 (login)")
    frigate_user: str = Field("", description="Frigate 0.14+ user; with a password the bridge logs in (/api/login)")
    frigate_password: str = Field("", repr=False)
    frigate_token: str = Field("", repr=False, description="a Frigate JWT to send as Bearer instead of logging in")
    server_url: str = Field("http://127.0.0.1:5000", description="our face server (its native /recognize)")
    api_key: str = Field("", repr=False, description="X-API-Key for our server, when it has API_KEYS")
    mqtt_url: str = Field("mqtt://127.0.0.1:1883", description="the broker Frigate publishes to; "
                                                               "mqtt[s]://user:password@host:port")
    frigate_topic_prefix: str = Field("frigate", pattern=r"^[^#+]{1,100}$", description="Frigate's mqtt.topic_prefix")
    labels: list[str] = Field(default_factory=lambda: ["person"], description="Frigate labels looked at")
    unknown_sub_label: str = Field("", max_length=100, description="written as sub_label when the visit is decided "
                                                                   "a stranger (empty: nothing is written)")
    double_take: bool = Field(True, description="publish Double Take's MQTT topics and Home Assistant discovery")
    double_take_matches: str = Field("double-take/matches", pattern=r"^[^#+]{1,100}$")
    double_take_cameras: str = Field("double-take/cameras", pattern=r"^[^#+]{1,100}$")
    homeassistant_prefix: str = Field("homeassistant", pattern=r"^[^#+]{0,100}$",
                                      description="discovery prefix (empty: no discovery)")
    person_reset_s: float = Field(30.0, gt=0, le=3600,
                                   description="the retained person count goes back to 0 after this")
    max_message_bytes: int = Field(1 << 20, ge=1024, le=64 << 20, description="larger MQTT messages are skipped")
    max_image_bytes: int = Field(20 << 20, ge=1024, le=256 << 20, description="larger Frigate images are skipped")
    max_events: int = Field(16, ge=1, le=1000, description="events worked on at once; more wait in a queue")
    queue_size: int = Field(1000, ge=1, le=100_000, description="events waiting; a full queue drops (and logs) more")
    timeout_s: float = Field(10.0, gt=0, le=300, description="one HTTP request to Frigate or our server")
    retry_for_s: float = Field(300.0, ge=0, le=86400, description="how long an unreachable Frigate or server is "
                                                                  "retried (backoff 0.5 s doubling to 30 s)")
    default_camera: CameraConfig = Field(default_factory=lambda: CameraConfig.model_validate({}),
                                         description="cameras not listed")
    cameras: dict[str, CameraConfig] = Field(default_factory=dict)

    @field_validator("mqtt_url")
    @classmethod
    def _a_broker(cls, value: str) -> str:
        # read here, not when the bridge connects: a port past 65535 or a broken IPv6 address
        # raised out of the bridge's start
        try:
            parts = urlsplit(value)
            parts.port   # noqa: B018 -- urlsplit reads the port only when asked
        except ValueError as e:
            raise ValueError(f"not a broker URL ({e}); mqtt[s]://user:password@host:port") from None
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("not a broker URL; mqtt[s]://user:password@host:port")
        return value

    @field_validator("cameras")
    @classmethod
    def _camera_names(cls, cameras: dict) -> dict:
        for name in cameras:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"camera names are 1-64 of A-Z a-z 0-9 _ . : - : {name!r}")
        return cameras

    def camera(self, name: str) -> CameraConfig:
        return self.cameras.get(name, self.default_camera)


class ConfigError(ValueError):
    """A configuration the bridge cannot run with; the message says where."""


def config_from(file: Path | None, **values) -> BridgeConfig:
    """The configuration: the file's keys (YAML or JSON), overridden by `values` (flags and
    environment; None means not given)."""
    data: dict = {}
    if file is not None:
        try:
            text = Path(file).read_text()
            data = json.loads(text) if Path(file).suffix == ".json" else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as e:
            raise ConfigError(f"{file}: {e}") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{file}: the top level must be a mapping of settings")
    data.update({k: v for k, v in values.items() if v is not None})
    try:
        return BridgeConfig(**data)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"{file or 'settings'}: {problems}") from None
