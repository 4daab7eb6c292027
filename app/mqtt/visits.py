"""What a visit publishes (pure): one message per visit news on <prefix>/visits/<camera>, a
person's presence (Home Assistant binary sensor, "home" while seen within PRESENCE_WINDOW_MIN)
and each camera's "last visitor" sensor.

    <prefix>/visits/<camera>      -         {"track", "camera_id", "event": decided|changed|ended}
    <prefix>/last_visitor/<camera> retained the camera's last decided visit (state of its HA sensor)
    <prefix>/presence/<person>    retained  "home" each time a visit of theirs is decided, with
                                            attributes on <prefix>/presence/<person>/attributes
"""
import json
from datetime import datetime, timezone

from app.mqtt.messages import Message, slug


def visit_messages(prefix: str, camera_id: str, event: str, track: dict) -> list[Message]:
    camera = slug(camera_id)
    payload = {"track": track, "camera_id": camera_id, "event": event}
    messages = [Message(f"{prefix}/visits/{camera}", json.dumps(payload), qos=1)]
    if event == "ended":
        return messages
    who = track["name"] if track["name"] is not None else "unknown"
    when = datetime.fromtimestamp(track["last_seen"], timezone.utc).isoformat(timespec="seconds")
    last = {"name": who, "person_id": track["person_id"], "track_id": track["id"], "timestamp": when}
    messages.append(Message(f"{prefix}/last_visitor/{camera}", json.dumps(last), True, 1))
    if track["name"] is not None:
        person = slug(track["name"])
        attributes = {"name": track["name"], "person_id": track["person_id"], "last_camera": camera_id,
                      "last_seen": when, "track_id": track["id"]}
        messages += [Message(f"{prefix}/presence/{person}", "home", True, 1),
                     Message(f"{prefix}/presence/{person}/attributes", json.dumps(attributes), True, 1)]
    return messages


def presence_discovery(discovery: str, prefix: str, name: str, window_min: float) -> list[Message]:
    """A presence binary sensor per person: on ("home") when a visit of theirs is decided, back
    off after the window (HA's off_delay: the broker keeps only the last "home")."""
    node, person = slug(prefix), slug(name)
    config = {"name": f"{name} presence", "device_class": "presence", "state_topic": f"{prefix}/presence/{person}",
              "json_attributes_topic": f"{prefix}/presence/{person}/attributes", "payload_on": "home",
              "payload_off": "away", "off_delay": int(window_min * 60),
              "unique_id": f"{node}_presence_{person}", "availability_topic": f"{prefix}/available",
              "device": {"identifiers": [f"{node}_people"], "name": f"{prefix} people", "manufacturer": "facerec",
                         "model": "people"}}
    return [Message(f"{discovery}/binary_sensor/{node}/presence_{person}/config", json.dumps(config), True, 1)]


def last_visitor_discovery(discovery: str, prefix: str, camera_id: str) -> list[Message]:
    """A "last visitor" sensor per camera: the name of its last decided visit, or "unknown"."""
    node, camera = slug(prefix), slug(camera_id)
    config = {"name": "last visitor", "icon": "mdi:doorbell", "state_topic": f"{prefix}/last_visitor/{camera}",
              "json_attributes_topic": f"{prefix}/last_visitor/{camera}", "value_template": "{{ value_json.name }}",
              "unique_id": f"{node}_camera_{camera}_last_visitor", "availability_topic": f"{prefix}/available",
              "device": {"identifiers": [f"{node}_camera_{camera}"], "name": f"{prefix} {camera_id}",
                         "manufacturer": "facerec", "model": "camera"}}
    return [Message(f"{discovery}/sensor/{node}/camera_{camera}_last_visitor/config", json.dumps(config), True, 1)]
