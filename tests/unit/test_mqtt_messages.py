"""What is published over MQTT, and where: topics, payloads and Home Assistant discovery,
built from a recognition event (pure functions: no broker)."""
import json

from app.gallery.search.matching import MatchRule
from app.mqtt.messages import camera_discovery, event_messages, event_payload, person_discovery, slug

FACES = [{"name": "Ada Lovelace", "person_id": "p1", "distance": 0.6, "box": [1, 2, 30, 40]},
         {"name": None, "person_id": None, "distance": None, "box": [50, 2, 80, 40]},
         {"name": "Ada Lovelace", "person_id": "p1", "distance": 0.9, "box": [90, 2, 120, 40]},
         {"name": "Zoë", "person_id": "p2", "distance": 1.0, "box": [130, 2, 160, 40]}]


def test_slugs_are_topic_levels_and_object_ids():
    assert slug("Ada Lovelace") == "ada_lovelace"
    assert slug("  Front Door #2 ") == "front_door_2"
    assert slug("Zoë") == "zoe"
    assert slug("李小龍").startswith("id_") and slug("李小龍") != slug("王菲")   # no ASCII: a hash
    assert slug("李小龍") == slug("李小龍") and all(c.isalnum() or c == "_" for c in slug("a/b+c#"))


def test_the_event_payload_lists_every_face_and_the_names_seen():
    rule = MatchRule(1.1)
    event = event_payload("e1", "Front Door", 0.0, FACES, rule.confidence)
    assert event["timestamp"] == "1970-01-01T00:00:00.000+00:00"
    assert (event["count"], event["unknown"], event["names"]) == (4, 1, ["Ada Lovelace", "Zoë"])
    assert event["faces"][0]["box"] == {"x1": 1, "y1": 2, "x2": 30, "y2": 40}
    assert event["faces"][0]["confidence"] == round(rule.confidence(0.6), 4) and event["faces"][1]["confidence"] is None


def test_an_event_goes_to_its_camera_each_person_seen_and_the_unknown_topic():
    event = event_payload("e1", "Front Door", 1.5, FACES, MatchRule(1.1).confidence)
    messages = {m.topic: m for m in event_messages("facerec", event)}
    assert set(messages) == {"facerec/events/front_door", "facerec/cameras/front_door",
                             "facerec/matches/ada_lovelace", "facerec/people/ada_lovelace",
                             "facerec/matches/zoe", "facerec/people/zoe", "facerec/unknown"}
    assert json.loads(messages["facerec/events/front_door"].payload) == event
    retained = {t for t, m in messages.items() if m.retain}
    assert retained == {"facerec/cameras/front_door", "facerec/people/ada_lovelace", "facerec/people/zoe"}
    assert all(m.qos == 1 for m in messages.values() if m.retain)
    ada = json.loads(messages["facerec/matches/ada_lovelace"].payload)
    assert ada["distance"] == 0.6 and ada["camera_id"] == "Front Door" and ada["event_id"] == "e1"  # her first face
    unknown = json.loads(messages["facerec/unknown"].payload)
    assert unknown["unknown"] == 1 and [f["name"] for f in unknown["faces"]] == [None]
    known_only = event_payload("e2", "yard", 0.0, [FACES[0]], MatchRule(1.1).confidence)
    assert "facerec/unknown" not in {m.topic for m in event_messages("facerec", known_only)}


def test_discovery_configs_point_home_assistant_at_the_state_topics():
    cameras = camera_discovery("homeassistant", "home/facerec", "Front Door")
    assert [m.topic for m in cameras] == [
        "homeassistant/sensor/home_facerec/camera_front_door_last_person/config",
        "homeassistant/sensor/home_facerec/camera_front_door_faces/config"]
    config = json.loads(cameras[0].payload)
    assert config["state_topic"] == config["json_attributes_topic"] == "home/facerec/cameras/front_door"
    assert config["availability_topic"] == "home/facerec/available" and config["unique_id"] == (
        "home_facerec_camera_front_door_last_person")
    assert all(m.retain and m.qos == 1 for m in cameras)
    people = person_discovery("homeassistant", "facerec", "Zoë")
    configs = [json.loads(m.payload) for m in people]
    assert {c["state_topic"] for c in configs} == {"facerec/people/zoe"}
    assert [c["name"] for c in configs] == ["Zoë last camera", "Zoë last seen"]
    assert configs[1]["device_class"] == "timestamp"
