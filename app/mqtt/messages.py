"""What is published, and where: topics, payloads and Home Assistant discovery configs. Pure
functions of a recognition event; the publisher (app/mqtt/publisher.py) sends them.

Topics, under MQTT_TOPIC_PREFIX (default "facerec"):
    <prefix>/available            retained  "online" / "offline" (the last will)
    <prefix>/events/<camera>      -         every recognized frame with a face: the event JSON
    <prefix>/cameras/<camera>     retained  the camera's last event (state of its HA sensors)
    <prefix>/matches/<person>     -         each recognized person: name, camera, confidence, time
    <prefix>/people/<person>      retained  the person's last sighting (state of their HA sensors)
    <prefix>/unknown              -         a frame's unknown faces
<camera> and <person> are slugs (see slug()); the payloads carry the exact names.
"""
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass(frozen=True)
class Message:
    topic: str
    payload: str
    retain: bool = False
    qos: int = 0


def slug(text: str) -> str:
    """A topic level and Home Assistant object id for a name: ASCII letters, digits and "_",
    lower case ("Ada Lovelace" -> "ada_lovelace"); a name with none of those gets a hash."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    return cleaned or "id_" + hashlib.sha1(text.casefold().encode()).hexdigest()[:10]


def event_payload(event_id: str, camera_id: str, when: float, faces: list[dict], confidence) -> dict:
    """The event JSON from the event log's faces ([{person_id, name, distance, box}]);
    `confidence` maps a distance to the API's confidence."""
    listed = [{"name": f["name"], "person_id": f["person_id"], "distance": f["distance"],
               "confidence": round(confidence(f["distance"]), 4) if f["name"] is not None else None,
               "box": dict(zip(("x1", "y1", "x2", "y2"), f["box"]))} for f in faces]
    names = sorted({f["name"] for f in listed if f["name"] is not None})
    return {"event_id": event_id, "camera_id": camera_id,
            "timestamp": datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="milliseconds"),
            "faces": listed, "names": names, "unknown": sum(f["name"] is None for f in listed),
            "count": len(listed)}


def event_messages(prefix: str, event: dict) -> list[Message]:
    camera = slug(event["camera_id"])
    text = json.dumps(event)
    messages = [Message(f"{prefix}/events/{camera}", text), Message(f"{prefix}/cameras/{camera}", text, True, 1)]
    seen = {}
    for face in event["faces"]:
        if face["name"] is not None and face["name"] not in seen:
            seen[face["name"]] = {"name": face["name"], "person_id": face["person_id"],
                                  "camera_id": event["camera_id"], "confidence": face["confidence"],
                                  "distance": face["distance"], "timestamp": event["timestamp"],
                                  "event_id": event["event_id"]}
    for name, sighting in seen.items():
        person, payload = slug(name), json.dumps(sighting)
        messages += [Message(f"{prefix}/matches/{person}", payload), Message(f"{prefix}/people/{person}", payload,
                                                                             True, 1)]
    if event["unknown"]:
        unknown = {**event, "faces": [f for f in event["faces"] if f["name"] is None]}
        messages.append(Message(f"{prefix}/unknown", json.dumps(unknown)))
    return messages


def _sensors(discovery: str, prefix: str, state: str, device: dict, sensors: dict[str, dict]) -> list[Message]:
    """The retained discovery config of each of a device's sensors ({object id: its own keys}), all
    reading the JSON on `state` (whole, as attributes) and offline with this server."""
    node = slug(prefix)
    common = {"state_topic": state, "json_attributes_topic": state, "device": device,
              "availability_topic": f"{prefix}/available", "payload_available": "online",
              "payload_not_available": "offline"}
    return [Message(f"{discovery}/sensor/{node}/{object_id}/config",
                    json.dumps({**common, **own, "unique_id": f"{node}_{object_id}"}), True, 1)
            for object_id, own in sensors.items()]


def camera_discovery(discovery: str, prefix: str, camera_id: str) -> list[Message]:
    """Two sensors per camera: the last person seen (names, or "unknown") and the faces in its
    last frame with a face; the whole last event as attributes."""
    camera = slug(camera_id)
    device = {"identifiers": [f"{slug(prefix)}_camera_{camera}"], "name": f"{prefix} {camera_id}",
              "manufacturer": "facerec", "model": "camera"}
    return _sensors(discovery, prefix, f"{prefix}/cameras/{camera}", device, {
        f"camera_{camera}_last_person": {
            "name": "last person", "icon": "mdi:face-recognition",
            "value_template": "{{ value_json.names | join(', ') if value_json.names else 'unknown' }}"},
        f"camera_{camera}_faces": {"name": "faces", "icon": "mdi:account-group", "state_class": "measurement",
                                   "value_template": "{{ value_json.count }}"}})


def person_discovery(discovery: str, prefix: str, name: str) -> list[Message]:
    """Two sensors per person: the camera that last saw them and when."""
    person = slug(name)
    device = {"identifiers": [f"{slug(prefix)}_people"], "name": f"{prefix} people", "manufacturer": "facerec",
              "model": "people"}
    return _sensors(discovery, prefix, f"{prefix}/people/{person}", device, {
        f"person_{person}_last_camera": {"name": f"{name} last camera", "icon": "mdi:cctv",
                                         "value_template": "{{ value_json.camera_id }}"},
        f"person_{person}_last_seen": {"name": f"{name} last seen", "device_class": "timestamp",
                                       "value_template": "{{ value_json.timestamp }}"}})
