"""Double Take's MQTT contract as the bridge builds it (app/frigate/doubletake.py), no services.
The expected shapes are read from Double Take's source (jakowenko/double-take v1.13.1,
commit 8e2728d): api/src/util/mqtt.util.js recognize() (topics, retain flags, payload.base /
.match / .unknown / .camera, discovery configs), api/src/constants/defaults.js (mqtt.topics),
api/src/util/detectors/compreface.js normalize() (confidence 0-100, box top/left/width/height)."""
import json
from datetime import datetime, timezone

from app.frigate.doubletake import Outcome, match_object, name_topic, outcome_messages, reset_messages

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
BOX = {"x1": 10.4, "y1": 20.0, "x2": 110.0, "y2": 150.6}
# mqtt.util.js: every discovery config has exactly these keys
DISCOVERY_KEYS = {"name", "icon", "value_template", "state_topic", "json_attributes_topic", "availability_topic",
                  "unique_id"}
BASE_KEYS = {"id", "duration", "timestamp", "attempts", "camera", "zones"}


def outcome(**fields) -> Outcome:
    return Outcome("1718000000.1-abc", "Front_Door", ["porch"], 3, 1.234, **fields)


def by_topic(messages):
    return {m.topic: m for m in messages}


def test_match_object_is_double_take_s():
    match = match_object("Ada Lovelace", 0.9312, True, BOX, "snapshot", 0.1234, "f.jpg")
    assert match == {"name": "Ada Lovelace", "confidence": 93.12, "match": True,
                     "box": {"top": 20, "left": 10, "width": 100, "height": 131}, "type": "snapshot",
                     "duration": 0.12, "detector": "facerec", "filename": "f.jpg", "base64": None}


def test_name_topics_follow_double_take():
    assert name_topic("Ada Lovelace") == "Ada-Lovelace"       # spaces to "-", case kept
    assert name_topic("José  O'Brien") == "Jos-OBrien"


def test_a_match():
    match = match_object("Ada Lovelace", 0.93, True, BOX, "snapshot", 0.1)
    messages = outcome_messages(outcome(matches=[match], person_count=1), now=NOW)
    topics = by_topic(messages)
    assert [m.topic for m in messages] == [
        "double-take/cameras/front_door/person",
        "double-take/matches/Ada-Lovelace",
        "homeassistant/sensor/double-take/Ada-Lovelace/config",
        "homeassistant/sensor/double-take/Ada-Lovelace/state",
        "double-take/cameras/front_door",
        "homeassistant/sensor/double-take/front_door/config",
        "homeassistant/sensor/double-take/front_door/state"]
    count = topics["double-take/cameras/front_door/person"]
    assert (count.payload, count.retain) == ("1", True)
    payload = json.loads(topics["double-take/matches/Ada-Lovelace"].payload)
    assert set(payload) == BASE_KEYS | {"match"} and not topics["double-take/matches/Ada-Lovelace"].retain
    assert payload["camera"] == "front_door" and payload["id"] == "1718000000.1-abc" and payload["attempts"] == 3
    assert payload["match"]["confidence"] == 93.0 and payload["timestamp"] == NOW.isoformat()
    config = json.loads(topics["homeassistant/sensor/double-take/Ada-Lovelace/config"].payload)
    assert set(config) == DISCOVERY_KEYS
    assert config == {"name": "double_take_Ada_Lovelace", "icon": "mdi:account",
                      "value_template": "{{ value_json.camera }}",
                      "state_topic": "homeassistant/sensor/double-take/Ada-Lovelace/state",
                      "json_attributes_topic": "homeassistant/sensor/double-take/Ada-Lovelace/state",
                      "availability_topic": "double-take/available", "unique_id": "double_take_Ada_Lovelace"}
    assert topics["homeassistant/sensor/double-take/Ada-Lovelace/state"].retain
    camera = json.loads(topics["double-take/cameras/front_door"].payload)
    assert set(camera) == BASE_KEYS | {"matches", "misses", "unknowns", "personCount", "counts"}
    assert camera["counts"] == {"person": 1, "match": 1, "miss": 0, "unknown": 0} and camera["personCount"] == 1
    camera_config = json.loads(topics["homeassistant/sensor/double-take/front_door/config"].payload)
    assert camera_config["value_template"] == "{{ value_json.counts.person }}" and camera_config["icon"] == "mdi:camera"


def test_an_unknown():
    stranger = match_object("unknown", 0.0, False, BOX, "snapshot", 0.1)
    topics = by_topic(outcome_messages(outcome(unknowns=[stranger], person_count=1), now=NOW))
    payload = json.loads(topics["double-take/matches/unknown"].payload)   # MATCHES + "/unknown"
    assert set(payload) == BASE_KEYS | {"unknown", "unknowns"} and payload["unknown"]["name"] == "unknown"
    config = json.loads(topics["homeassistant/sensor/double-take/unknown/config"].payload)
    assert config["unique_id"] == "double_take_unknown" and config["name"] == "double_take_unknown"
    assert json.loads(topics["double-take/cameras/front_door"].payload)["counts"]["unknown"] == 1


def test_nothing_seen_publishes_only_the_count_and_no_discovery_when_off():
    assert [m.topic for m in outcome_messages(outcome(), now=NOW)] == ["double-take/cameras/front_door/person"]
    match = match_object("Ada", 0.9, True, BOX, "latest", 0.1)
    messages = outcome_messages(outcome(matches=[match], person_count=1), "dt/m", "dt/c", "", now=NOW)
    assert [m.topic for m in messages] == ["dt/c/front_door/person", "dt/m/Ada", "dt/c/front_door"]


def test_the_reset_after_the_timeout():
    match = match_object("Ada", 0.9, True, BOX, "latest", 0.1)
    topics = by_topic(reset_messages(outcome(matches=[match], person_count=1), now=NOW))
    assert (topics["double-take/cameras/front_door/person"].payload, topics[
        "double-take/cameras/front_door/person"].retain) == ("0", True)
    state = json.loads(topics["homeassistant/sensor/double-take/front_door/state"].payload)
    assert state["personCount"] == 0 and state["counts"] == {"person": 0, "match": 0, "miss": 0, "unknown": 0}
