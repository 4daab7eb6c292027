"""Double Take's MQTT contract, so Home Assistant automations written for it keep working:
pure functions from one finished Frigate event to the messages Double Take would publish.

Shapes read from Double Take's source (jakowenko/double-take v1.13.1, commit 8e2728d):
api/src/util/mqtt.util.js (recognize(), connect(), available()), the topic defaults in
api/src/constants/defaults.js (mqtt.topics), the match objects in
api/src/util/recognize.util.js (normalize()) and api/src/util/detectors/compreface.js
(normalize(): confidence 0-100, box {top, left, width, height}).

    double-take/available                          retained "online" / "offline"
    double-take/errors                             empty, on every connection
    double-take/matches/<name>                     {id, duration, timestamp, attempts, camera, zones, match}
    double-take/matches/unknown                    {..., unknown, unknowns}   (MATCHES + "/unknown")
    double-take/cameras/<camera>                   {..., matches, misses, unknowns, personCount, counts}
    double-take/cameras/<camera>/person            retained person count; "0" after 30 s
    homeassistant/sensor/double-take/<x>/config    retained discovery; <x>/state retained the payload
"""
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

DETECTOR = "facerec"


@dataclass(frozen=True)
class Message:
    topic: str
    payload: str
    retain: bool = False


@dataclass
class Outcome:
    """What one Frigate event came to, in Double Take's terms."""
    event_id: str
    camera: str
    zones: list[str]
    attempts: int
    duration_s: float
    matches: list[dict] = field(default_factory=list)    # match objects (match_object)
    unknowns: list[dict] = field(default_factory=list)
    misses: list[dict] = field(default_factory=list)
    person_count: int = 0


def match_object(name: str, confidence: float, matched: bool, box: dict, kind: str, duration_s: float,
                 filename: str = "") -> dict:
    """One face as Double Take reports it: confidence 0-100, box from our x1,y1,x2,y2."""
    return {"name": name, "confidence": round(max(0.0, min(1.0, confidence)) * 100, 2), "match": matched,
            "box": {"top": round(box["y1"]), "left": round(box["x1"]), "width": round(box["x2"] - box["x1"]),
                    "height": round(box["y2"] - box["y1"])},
            "type": kind, "duration": round(duration_s, 2), "detector": DETECTOR, "filename": filename,
            "base64": None}


def name_topic(name: str) -> str:
    """Double Take's topic level for a name: spaces to "-", then only [a-z0-9-] (any case) kept."""
    return re.sub(r"[^a-z0-9-]", "", re.sub(r"\s+", "-", name), flags=re.IGNORECASE)


def _discovery(homeassistant: str, level: str, unique: str, icon: str, template: str) -> list[Message]:
    state = f"{homeassistant}/sensor/double-take/{level}/state"
    config = {"name": f"double_take_{unique}", "icon": icon, "value_template": template, "state_topic": state,
              "json_attributes_topic": state, "availability_topic": "double-take/available",
              "unique_id": f"double_take_{unique}"}
    return [Message(f"{homeassistant}/sensor/double-take/{level}/config", json.dumps(config), True)]


def outcome_messages(outcome: Outcome, matches_topic: str = "double-take/matches",
                     cameras_topic: str = "double-take/cameras", homeassistant: str = "homeassistant",
                     now: datetime | None = None) -> list[Message]:
    """Double Take's messages for one event, in its order (mqtt.util.js recognize())."""
    camera, base = outcome.camera.lower(), _base(outcome, now)
    counts = {"person": outcome.person_count, "match": len(outcome.matches), "miss": len(outcome.misses)}
    counts["unknown"] = counts["person"] - counts["match"] - counts["miss"]
    messages = [Message(f"{cameras_topic}/{camera}/person", str(outcome.person_count), True)]
    if outcome.unknowns:
        unknown = json.dumps({**base, "unknown": outcome.unknowns[0], "unknowns": outcome.unknowns})
        messages.append(Message(f"{matches_topic}/unknown", unknown))
        if homeassistant:
            messages += _discovery(homeassistant, "unknown", "unknown", "mdi:account", "{{ value_json.camera }}")
            messages.append(Message(f"{homeassistant}/sensor/double-take/unknown/state", unknown, True))
    for match in outcome.matches:
        level, unique = name_topic(match["name"]), re.sub(r"\s+", "_", match["name"])
        payload = json.dumps({**base, "match": match})
        messages.append(Message(f"{matches_topic}/{level}", payload))
        if homeassistant:
            messages += _discovery(homeassistant, level, unique, "mdi:account", "{{ value_json.camera }}")
            messages.append(Message(f"{homeassistant}/sensor/double-take/{level}/state", payload, True))
    if outcome.matches or outcome.misses or outcome.unknowns:
        payload = json.dumps(camera_payload(base, outcome, counts))
        messages.append(Message(f"{cameras_topic}/{camera}", payload))
        if homeassistant:
            messages += _discovery(homeassistant, camera, camera, "mdi:camera", "{{ value_json.counts.person }}")
            messages.append(Message(f"{homeassistant}/sensor/double-take/{camera}/state", payload, True))
    return messages


def _base(outcome: Outcome, now: datetime | None) -> dict:
    """The fields every Double Take payload starts with (its payload.base)."""
    return {"id": outcome.event_id, "duration": round(outcome.duration_s, 2),
            "timestamp": (now or datetime.now(timezone.utc)).isoformat(), "attempts": outcome.attempts,
            "camera": outcome.camera.lower(), "zones": outcome.zones}


def camera_payload(base: dict, outcome: Outcome, counts: dict) -> dict:
    return {**base, "matches": outcome.matches, "misses": outcome.misses, "unknowns": outcome.unknowns,
            "personCount": counts["person"], "counts": counts}


def reset_messages(outcome: Outcome, cameras_topic: str = "double-take/cameras",
                   homeassistant: str = "homeassistant", now: datetime | None = None) -> list[Message]:
    """What Double Take publishes person_reset_s after an event: the count back to 0."""
    camera = outcome.camera.lower()
    messages = [Message(f"{cameras_topic}/{camera}/person", "0", True)]
    if homeassistant:
        zero = {"person": 0, "match": 0, "miss": 0, "unknown": 0}
        messages.append(Message(f"{homeassistant}/sensor/double-take/{camera}/state",
                                json.dumps(camera_payload(_base(outcome, now), outcome, zero)), True))
    return messages
