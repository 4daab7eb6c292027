"""Frigate's MQTT messages as the bridge reads them (app/frigate/messages.py), no services:
the payloads come from the stand-in's builders, written from Frigate's source
(frigate/track/object_processing.py, frigate/track/tracked_object.py; see tests/frigate_standin.py)."""
import json

import pytest
from frigate_standin import frigate_event, object_update, tracked_object

from app.frigate.messages import Malformed, parse_event, parse_object_update

LIMIT = 1 << 20


@pytest.mark.parametrize("kind", ["new", "update", "end"])
def test_events_of_every_type_are_read(kind):
    event = parse_event(frigate_event(kind, "1718000000.123456-abc123", "front_door", zones=["porch"]), LIMIT)
    assert (event.type, event.id, event.camera, event.label) == (kind, "1718000000.123456-abc123", "front_door",
                                                                 "person")
    assert event.current_zones == ("porch",) and event.has_snapshot and event.area == 40000
    assert event.sub_label is None and not event.false_positive


def test_sub_label_is_read_in_frigate_s_pair_form_and_as_text():
    assert parse_event(frigate_event("update", "1.2-a", "cam", sub_label=["Ada", 0.93]), LIMIT).sub_label == "Ada"
    assert parse_event(frigate_event("update", "1.2-a", "cam", sub_label="Ada"), LIMIT).sub_label == "Ada"


def test_before_is_used_when_after_is_missing():
    message = {"type": "end", "before": tracked_object("1.2-a", "cam")}
    assert parse_event(json.dumps(message).encode(), LIMIT).camera == "cam"


def mutated(**changes) -> bytes:
    message = json.loads(frigate_event("update", "1718000000.1-x", "cam"))
    for key, value in changes.items():
        if value is KeyError:
            message["after"].pop(key)
            message["before"].pop(key)
        else:
            message["after"][key] = value
    return json.dumps(message).encode()


@pytest.mark.parametrize("payload, why", [
    (b"", "not JSON"), (b"{", "not JSON"), (b"[1, 2]", "not an object"), (b'"text"', "not an object"),
    (b'{"type": "update"}', "neither after nor before"), (b'{"type": "bogus", "after": {}}', "type"),
    (b'{"after": {"id": "1.2-a"}}', "type"),
    (mutated(id=KeyError), "id"), (mutated(id=12), "id"), (mutated(id="a/b"), "id"), (mutated(id="x" * 129), "id"),
    (mutated(camera=KeyError), "camera"), (mutated(camera=["cam"]), "camera"), (mutated(camera="a/#"), "camera"),
    (mutated(label=None), "label"), (mutated(area="big"), "area"), (mutated(area=True), "area"),
    (mutated(area=10 ** 400), "area"), (mutated(frame_time=-10 ** 400), "frame_time"),   # past a float: OverflowError
    (mutated(frame_time="now"), "frame_time"), (mutated(current_zones="porch"), "current_zones"),
    (mutated(current_zones=[1, 2]), "current_zones"), (mutated(entered_zones={"a": 1}), "entered_zones"),
    (b'{"type": "new", "after": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "not JSON"),
])
def test_malformed_messages_say_why(payload, why):
    with pytest.raises(Malformed, match=why):
        parse_event(payload, 8 << 20)


def test_a_huge_message_is_refused_before_it_is_parsed():
    huge = frigate_event("update", "1.2-a", "cam")[:-1] + b', "padding": "' + b"x" * (2 << 20) + b'"}'
    with pytest.raises(Malformed, match="more than"):
        parse_event(huge, LIMIT)


def test_non_finite_numbers_are_refused():
    with pytest.raises(Malformed, match="area"):
        parse_event(mutated(area=float("inf")), LIMIT)


def test_tracked_object_updates():
    update = parse_object_update(object_update("1.2-a", "cam", "Ada", 0.91), LIMIT)
    assert (update.type, update.id, update.camera, update.name, update.score) == ("face", "1.2-a", "cam", "Ada",
                                                                                  0.91)
    assert "timestamp" in update.extra
    with pytest.raises(Malformed):
        parse_object_update(b'{"type": "face", "camera": "cam"}', LIMIT)
    with pytest.raises(Malformed):
        parse_object_update(b'{"id": "1.2-a", "camera": "cam"}', LIMIT)
    huge = json.loads(object_update("1.2-a", "cam", "Ada", 0.91))
    huge["score"] = 10 ** 400
    with pytest.raises(Malformed, match="score"):
        parse_object_update(json.dumps(huge).encode(), LIMIT)
