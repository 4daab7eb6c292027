"""Frigate's MQTT messages, read defensively: anything malformed becomes a Malformed error
with a reason (logged and skipped by the bridge), never an exception further up.

Shapes, from Frigate's source (blakeblackshear/frigate, dev after v0.18.0-beta1, commit e3fa701):
- `<prefix>/events`: {"before": {...}, "after": {...}, "type": "new" | "update" | "end"}
  (frigate/track/object_processing.py, create_camera_state: update() and end()); each side is
  TrackedObject.to_dict() (frigate/track/tracked_object.py): id, camera, frame_time, label,
  sub_label (null or [name, score]), area, current_zones, entered_zones, has_snapshot, ...
- `<prefix>/tracked_object_update`: {"type": "face", "name", "score", "id", "camera",
  "timestamp"} from Frigate's own face recognition (frigate/data_processing/real_time/face.py),
  other types ("description", "lpr", ...) carry id and camera too.
"""
import json
import math
from dataclasses import dataclass, field

# Frigate event ids are "<epoch>.<micro>-<random>"; the visits contract takes 1-128 of these.
ID_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")
EVENT_TYPES = ("new", "update", "end")


class Malformed(ValueError):
    """A message the bridge skips; str() says why."""


@dataclass(frozen=True)
class FrigateEvent:
    type: str                 # new | update | end
    id: str
    camera: str
    label: str
    area: float
    frame_time: float | None
    current_zones: tuple[str, ...]
    entered_zones: tuple[str, ...]
    has_snapshot: bool
    sub_label: str | None     # the name Frigate already holds (ours or another's)
    false_positive: bool = False


@dataclass(frozen=True)
class ObjectUpdate:
    """A `tracked_object_update`: Frigate's own recognizers said something about an object."""
    type: str
    id: str
    camera: str
    name: str | None = None
    score: float | None = None
    extra: dict = field(default_factory=dict)


def _decoded(payload: bytes, max_bytes: int) -> dict:
    if len(payload) > max_bytes:
        raise Malformed(f"message of {len(payload)} bytes, more than {max_bytes}")
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError) as e:
        raise Malformed(f"not JSON: {str(e)[:80]}") from None
    if not isinstance(value, dict):
        raise Malformed(f"a JSON {type(value).__name__}, not an object")
    return value


def object_id(value) -> str:
    """A Frigate object / event id usable as our visit_key."""
    if not isinstance(value, str) or not 0 < len(value) <= 128 or not set(value) <= ID_CHARS:
        raise Malformed(f"id {str(value)[:40]!r} is not 1-128 of A-Z a-z 0-9 . _ : -")
    return value


def _text(side: dict, key: str, limit: int = 64) -> str:
    value = side.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= limit or set(value) & set("/#+\0"):
        raise Malformed(f"{key} {str(value)[:40]!r} is not a name of 1-{limit} characters")
    return value


def _number(side: dict, key: str, default=None):
    value = side.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Malformed(f"{key} {str(value)[:40]!r} is not a number")
    try:
        number = float(value)
    except OverflowError:   # a JSON integer past a float's range
        raise Malformed(f"{key} {str(value)[:40]!r} is out of range") from None
    if not math.isfinite(number):
        raise Malformed(f"{key} {str(value)[:40]!r} is not a number")
    return number


def _zones(side: dict, key: str) -> tuple[str, ...]:
    value = side.get(key) or []
    if not isinstance(value, list) or len(value) > 100 or not all(isinstance(z, str) and len(z) <= 64 for z in value):
        raise Malformed(f"{key} is not a list of zone names")
    return tuple(value)


def _sub_label(side: dict) -> str | None:
    value = side.get("sub_label")
    if isinstance(value, list) and value:   # (name, score), as Frigate's camera state keeps it
        value = value[0]
    return value if isinstance(value, str) else None


def parse_event(payload: bytes, max_bytes: int) -> FrigateEvent:
    """A `frigate/events` message, or Malformed."""
    message = _decoded(payload, max_bytes)
    kind = message.get("type")
    if kind not in EVENT_TYPES:
        raise Malformed(f"type {str(kind)[:20]!r} is not one of {', '.join(EVENT_TYPES)}")
    side = message.get("after") if message.get("after") is not None else message.get("before")
    if not isinstance(side, dict):
        raise Malformed("neither after nor before is an object")
    return FrigateEvent(type=kind, id=object_id(side.get("id")), camera=_text(side, "camera"),
                        label=_text(side, "label"), area=_number(side, "area", 0.0) or 0.0,
                        frame_time=_number(side, "frame_time"), current_zones=_zones(side, "current_zones"),
                        entered_zones=_zones(side, "entered_zones"), has_snapshot=side.get("has_snapshot") is True,
                        sub_label=_sub_label(side), false_positive=side.get("false_positive") is True)


def parse_object_update(payload: bytes, max_bytes: int) -> ObjectUpdate:
    """A `frigate/tracked_object_update` message, or Malformed."""
    message = _decoded(payload, max_bytes)
    kind = message.get("type")
    if not isinstance(kind, str) or not 0 < len(kind) <= 40:
        raise Malformed("type is missing")
    name = message.get("name")
    score = _number(message, "score")
    return ObjectUpdate(type=kind, id=object_id(message.get("id")), camera=_text(message, "camera"),
                        name=name if isinstance(name, str) else None, score=score,
                        extra={k: v for k, v in message.items() if k not in {"type", "id", "camera", "name", "score"}})
