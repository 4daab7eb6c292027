"""The Frigate bridge end to end: a real mosquitto, our real app on a loopback port (real
models over gRPC, real Redis), the bridge (app/frigate/) in-process or as `python -m app.cli
frigate`, and the Frigate stand-in (tests/frigate_standin.py, written from Frigate's source:
frigate/track/object_processing.py and frigate/track/tracked_object.py for the MQTT payloads,
frigate/api/media.py, frigate/api/event.py and frigate/api/auth.py for the HTTP API).
Double Take's topics are checked against the shapes in its api/src/util/mqtt.util.js."""
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from frigate_standin import FrigateMqtt, FrigateStandin, frigate_event, object_update
from mqtt_subscriber import Subscriber
from servers import Broker

from app.frigate.bridge import FrigateBridge
from app.frigate.config import BridgeConfig, CameraConfig
from samples.photos import photo_bytes, photos_bytes
from scripts.processes import wait_until
from scripts.pypi_assets import ROOT

DISCOVERY_KEYS = {"name", "icon", "value_template", "state_topic", "json_attributes_topic", "availability_topic",
                  "unique_id"}


@pytest.fixture
def server(live_server, api):
    """Our app with Madonna enrolled (two train photos)."""
    live = live_server()
    enrolled = api.of(live.app.test_client()).enroll("madonna", *photos_bytes("madonna", range(2), "train"))
    assert enrolled.status_code == 201
    return live


@pytest.fixture
def standin():
    made = []

    def make(**kwargs):
        made.append(FrigateStandin(**kwargs).start())
        return made[-1]
    yield make
    for s in made:
        try:
            s.stop()
        except Exception:  # noqa: BLE001 - a test may have stopped it already
            pass


@pytest.fixture
def topics():
    """Topic prefixes of the test's own: Frigate's, Double Take's and Home Assistant's."""
    tag = uuid.uuid4().hex[:6]
    return {"frigate_topic_prefix": f"frigate{tag}", "double_take_matches": f"dt{tag}/matches",
            "double_take_cameras": f"dt{tag}/cameras", "homeassistant_prefix": f"ha{tag}"}


@pytest.fixture
def bridge():
    made = []

    def make(**values):
        made.append(FrigateBridge(BridgeConfig(**values)).start())
        wait_until(lambda: made[-1].counts["connections"] >= 1, 20, "the bridge's MQTT connection")
        return made[-1]
    yield make
    for b in made:
        b.close()


def event_id() -> str:
    return f"{time.time():.6f}-{uuid.uuid4().hex[:6]}"


def worked(bridge, eid, timeout=90.0):
    wait_until(lambda: eid in bridge.done, timeout, f"the bridge finishing event {eid}")


def config(frigate, server, broker, topics, **more) -> dict:
    return {"frigate_url": frigate.url, "server_url": server.url, "mqtt_url": broker.url, "timeout_s": 30,
            "retry_for_s": 60, **topics, **more}


def three(person, first=0):
    """Three snapshots of one person (a visit is decided from the evidence of several frames)."""
    return [photo_bytes(person, first + i) for i in range(3)]


THREE = CameraConfig(snapshot_attempts=3, attempt_delay_s=0.1)


def publish_visit(frigate_mqtt, eid, camera="front_door", updates=2):
    frigate_mqtt.event("new", eid, camera)
    for _ in range(updates):
        frigate_mqtt.event("update", eid, camera)


def test_an_event_with_three_snapshots_gets_one_sub_label(server, standin, broker, bridge, topics):
    frigate = standin()
    eid = event_id()
    frigate.add_event(eid, three("madonna"))   # val photos: never enrolled
    watch = Subscriber(broker.port, f"{topics['double_take_matches']}/#", f"{topics['double_take_cameras']}/#",
                       f"{topics['homeassistant_prefix']}/#", "double-take/available")
    running = bridge(**config(frigate, server, broker, topics, person_reset_s=2.0,
                              default_camera=CameraConfig(snapshot_attempts=3, attempt_delay_s=0.1)))
    frigate_mqtt = FrigateMqtt(broker.port, topics["frigate_topic_prefix"])
    publish_visit(frigate_mqtt, eid)
    worked(running, eid)
    frigate_mqtt.event("update", eid, "front_door")   # later messages of a worked event start nothing
    frigate_mqtt.event("end", eid, "front_door")
    time.sleep(1.0)
    [write] = frigate.writes(eid)
    assert write["subLabel"] == "madonna" and 0 < write["subLabelScore"] <= 1
    snapshots = [r for r in frigate.requests if r[1] == f"/api/events/{eid}/snapshot.jpg"]
    assert 1 <= len(snapshots) <= 3 and running.counts["events"] == 1 and running.counts["sub_labels"] == 1
    assert running.counts["decided_by_track"] == 1   # the server's visit decided it (visit_key = the event id)

    # Double Take's contract (api/src/util/mqtt.util.js)
    dt, cams, ha = topics["double_take_matches"], topics["double_take_cameras"], topics["homeassistant_prefix"]
    match = json.loads(watch.wait(f"{dt}/madonna")[0][1])
    assert set(match) == {"id", "duration", "timestamp", "attempts", "camera", "zones", "match"}
    assert match["id"] == eid and match["camera"] == "front_door" and match["match"]["name"] == "madonna"
    assert 0 < match["match"]["confidence"] <= 100 and set(match["match"]["box"]) == {"top", "left", "width",
                                                                                       "height"}
    assert match["match"]["detector"] == "facerec" and match["match"]["match"] is True
    config_message = watch.wait(f"{ha}/sensor/double-take/madonna/config")[0]
    assert config_message[2] is False and set(json.loads(config_message[1])) == DISCOVERY_KEYS
    assert json.loads(watch.wait(f"{ha}/sensor/double-take/madonna/state")[0][1])["match"]["name"] == "madonna"
    camera = json.loads(watch.wait(f"{cams}/front_door")[0][1])
    assert camera["counts"]["match"] == 1 and camera["personCount"] >= 1
    assert [m[1] for m in watch.wait(f"{cams}/front_door/person", count=2)][:2] == ["1", "0"]   # reset after 2 s
    assert watch.wait("double-take/available")[-1][1] == "online"
    watch.close()
    frigate_mqtt.close()


@pytest.mark.parametrize("unknown", ["", "unknown"])
def test_a_stranger(server, standin, broker, bridge, topics, unknown):
    frigate = standin()
    eid = event_id()
    frigate.add_event(eid, three("jerry_seinfeld"))
    watch = Subscriber(broker.port, f"{topics['double_take_matches']}/#")
    running = bridge(**config(frigate, server, broker, topics, unknown_sub_label=unknown,
                              default_camera=CameraConfig(snapshot_attempts=3, attempt_delay_s=0.1)))
    frigate_mqtt = FrigateMqtt(broker.port, topics["frigate_topic_prefix"])
    publish_visit(frigate_mqtt, eid)
    worked(running, eid)
    assert [w["subLabel"] for w in frigate.writes(eid)] == ([unknown] if unknown else [])
    assert all("subLabelScore" not in w for w in frigate.writes(eid))
    assert running.counts["decided_by_track"] == (1 if unknown else 0)   # the visit decided "stranger"
    stranger = json.loads(watch.wait(f"{topics['double_take_matches']}/unknown")[0][1])
    assert stranger["id"] == eid and stranger["unknown"]["name"] == "unknown"
    watch.close()
    frigate_mqtt.close()


def test_frigate_down_and_back_with_a_login(server, standin, broker, bridge, topics):
    frigate = standin(users={"bridge": "s3cret"})
    eid = event_id()
    frigate.add_event(eid, three("madonna"))
    running = bridge(**config(frigate, server, broker, topics, frigate_user="bridge", frigate_password="s3cret",
                              default_camera=THREE))
    frigate.stop()   # Frigate restarts: the event comes, its API is away
    FrigateMqtt(broker.port, topics["frigate_topic_prefix"]).event("new", eid, "front_door")
    time.sleep(3)
    assert frigate.writes(eid) == [] and eid not in running.done
    frigate.tokens.clear()   # its restart forgot the sessions: the bridge logs in again
    frigate.start()
    worked(running, eid)
    assert [w["subLabel"] for w in frigate.writes(eid)] == ["madonna"]
    logins = [r for r in frigate.requests if r[1] == "/api/login"]
    assert logins and all(status == 200 for _, _, status in logins)
    assert all(status != 401 for method, path, status in frigate.requests if path.endswith("/sub_label"))


def test_the_broker_down_and_back(server, standin, tmp_path, bridge, topics):
    own = Broker(tmp_path).start()
    frigate = standin()
    running = bridge(**config(frigate, server, own, topics, default_camera=THREE))
    own.stop()
    time.sleep(2)
    own.start()   # same port: paho reconnects, and the bridge subscribes again
    wait_until(lambda: running.counts["connections"] >= 2, 60, "the bridge reconnecting")
    eid = event_id()
    frigate.add_event(eid, three("madonna", 1))
    FrigateMqtt(own.port, topics["frigate_topic_prefix"]).event("new", eid, "front_door")
    worked(running, eid)
    assert [w["subLabel"] for w in frigate.writes(eid)] == ["madonna"]
    watch = Subscriber(own.port, "double-take/available")
    assert watch.wait("double-take/available")[0][1:] == ("online", True)
    watch.close()
    running.close()
    own.stop()


def test_malformed_messages_are_logged_and_skipped(server, standin, broker, bridge, topics, caplog):
    frigate = standin()
    running = bridge(**config(frigate, server, broker, topics, max_message_bytes=64 << 10,
                              default_camera=THREE))
    frigate_mqtt = FrigateMqtt(broker.port, topics["frigate_topic_prefix"])
    good = json.loads(frigate_event("new", event_id(), "front_door"))
    missing = json.loads(json.dumps(good))
    del missing["after"]["id"], missing["before"]["id"]
    wrong = json.loads(json.dumps(good))
    wrong["after"]["camera"] = {"name": 1}
    bad = [b"", b"not json", b"[]", b"null", json.dumps(missing).encode(), json.dumps(wrong).encode(),
           json.dumps({**good, "type": 7}).encode(), b"{" * 50_000, b'{"x": "' + b"y" * (1 << 20) + b'"}']
    with caplog.at_level(logging.WARNING, logger="app.frigate.bridge"):
        for payload in bad:
            frigate_mqtt.publish("events", payload)
        frigate_mqtt.publish("tracked_object_update", b'{"type": "face"}')
        wait_until(lambda: running.counts["malformed"] == len(bad) + 1, 30, "every bad message read")
    assert sum("skipped a malformed message" in r.getMessage() for r in caplog.records) == len(bad) + 1
    frigate_mqtt.publish("tracked_object_update", object_update("1.2-a", "front_door", "madonna", 0.95))
    eid = event_id()   # the bridge still works
    frigate.add_event(eid, three("madonna", 2))
    frigate_mqtt.event("new", eid, "front_door")
    worked(running, eid)
    assert [w["subLabel"] for w in frigate.writes(eid)] == ["madonna"]
    assert running.counts["frigate_face_updates"] == 1 and running.dispatcher.is_alive()
    frigate_mqtt.close()


def test_cameras_off_ignored_zones_and_frigate_s_own_names(server, standin, broker, bridge, topics):
    frigate = standin()
    running = bridge(**config(frigate, server, broker, topics, default_camera=THREE,
                              cameras={"garage": CameraConfig(enabled=False),
                                       "door": THREE.model_copy(update={"ignore_zones": ["street"]})}))
    frigate_mqtt = FrigateMqtt(broker.port, topics["frigate_topic_prefix"])
    off, street, named = event_id(), event_id(), event_id()
    for eid in (off, street, named):
        frigate.add_event(eid, three("madonna", 3))
    frigate_mqtt.event("new", off, "garage")
    frigate_mqtt.event("new", street, "door", zones=["street"])
    frigate_mqtt.event("new", named, "door", sub_label=["Someone Else", 0.95])   # Frigate's own face recognition
    worked(running, named)
    time.sleep(1)
    assert running.counts["events"] == 1 and running.counts["sub_label_kept"] == 1
    assert frigate.writes(off) == frigate.writes(street) == frigate.writes(named) == []
    frigate_mqtt.event("update", street, "door", zones=["porch"])   # left the ignored zone: worked now
    worked(running, street)
    assert [w["subLabel"] for w in frigate.writes(street)] == ["madonna"]
    frigate_mqtt.close()


def test_the_command_with_a_config_file(server, standin, broker, topics, tmp_path):
    frigate = standin()
    path = tmp_path / "bridge.yaml"
    path.write_text(f"frigate_url: {frigate.url}\nfrigate_topic_prefix: {topics['frigate_topic_prefix']}\n"
                    f"double_take_matches: {topics['double_take_matches']}\n"
                    "cameras:\n  front_door:\n    snapshot_attempts: 3\n")
    log = open(tmp_path / "bridge.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "--url", server.url, "frigate", "--config", str(path),
                                "--mqtt-url", broker.url], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               env={k: v for k, v in os.environ.items() if not k.startswith("FRIGATE_")})
    try:
        wait_until(lambda: "MQTT connected" in (tmp_path / "bridge.log").read_text(), 60, "the bridge", process)
        eid = event_id()
        frigate.add_event(eid, three("madonna", 4))
        FrigateMqtt(broker.port, topics["frigate_topic_prefix"]).event("new", eid, "front_door")
        wait_until(lambda: frigate.writes(eid), 90, "the sub_label write", process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()
    text = (tmp_path / "bridge.log").read_text()
    assert process.returncode == 0, text[-2000:]
    assert "sub_labels 1" in text and [w["subLabel"] for w in frigate.writes(eid)] == ["madonna"]


def test_bad_configuration_is_a_clear_error(tmp_path):
    path = tmp_path / "bridge.yaml"
    path.write_text("cameras:\n  door:\n    snapshot_attempts: lots\n")
    done = subprocess.run([sys.executable, "-m", "app.cli", "frigate", "--config", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "cameras.door.snapshot_attempts" in done.stderr and "Traceback" not in done.stderr


def test_the_frigate_client_on_its_own(standin):
    """FrigateApi against the stand-in alone: login, Bearer, limits, refusals (no server needed)."""
    from app.frigate.http import FrigateApi, frame_time_of
    frigate = standin(users={"bridge": "s3cret"})
    frigate.add_event("1.5-big", [b"\xff" * (3 << 20)])
    frigate.add_event("1.5-ok", [photo_bytes("madonna", 0)])
    api = FrigateApi(frigate.url, "bridge", "s3cret", timeout_s=10, retry_for_s=2)
    assert api.image("/api/events/1.5-big/snapshot.jpg", {}, 1 << 20) is None   # over the limit: skipped
    image, frame_time = api.image("/api/events/1.5-ok/snapshot.jpg", {"crop": 1}, 1 << 20)
    assert image == photo_bytes("madonna", 0) and abs(frame_time - time.time()) < 60
    assert api.image("/api/events/1.5-gone/snapshot.jpg", {}, 1 << 20) is None   # 404
    assert api.set_sub_label("1.5-gone", "madonna", 0.9) is False                 # 404: refused, no crash
    assert api.set_sub_label("1.5-ok", "x" * 300, 7.0) is True                    # trimmed and clamped
    assert frigate.writes("1.5-ok") == [{"subLabel": "x" * 100, "subLabelScore": 1.0}]
    with pytest.raises(PermissionError):
        FrigateApi(frigate.url, "bridge", "wrong", timeout_s=10, retry_for_s=2).login()
    token_only = FrigateApi(frigate.url, token=api.token, timeout_s=10, retry_for_s=2)   # a JWT given as Bearer
    assert token_only.image("/api/events/1.5-ok/snapshot.jpg", {}, 1 << 20) is not None
    assert FrigateApi(frigate.url, timeout_s=10, retry_for_s=2).image("/api/events/1.5-ok/snapshot.jpg", {},
                                                                      1 << 20) is None   # 401 without a login
    assert frame_time_of("nan") is None and frame_time_of("12") is None and frame_time_of("") is None
