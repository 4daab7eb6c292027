"""MQTT events and Home Assistant discovery, against a real mosquitto started by the tests:
what is published where, retained state and availability with several workers (in-process
publishers, a killed process, Gunicorn's workers), and a broker outage that never fails or
holds up /recognize."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest
import requests
from mqtt_subscriber import Subscriber
from servers import Broker

from app.mqtt import MqttPublisher
from samples.photos import encode_jpeg, photo_bytes, three_face_frame
from scripts.processes import free_port, wait_until
from scripts.pypi_assets import ROOT


@pytest.fixture
def prefixes():
    """A topic prefix and a discovery prefix of the test's own (retained messages outlive tests)."""
    tag = uuid.uuid4().hex[:6]
    return f"fr{tag}", f"ha{tag}"


def connected(publisher, timeout=15.0):
    wait_until(lambda: publisher.connected, timeout, "the MQTT publisher's connection")
    return publisher


def test_events_matches_unknown_faces_and_discovery(make_client, broker, prefixes, api):
    prefix, ha = prefixes
    client = make_client(mqtt_url=broker.url, mqtt_topic_prefix=prefix, mqtt_discovery_prefix=ha)
    connected(client.application.extensions["facerec"].publisher)
    watch = Subscriber(broker.port, f"{prefix}/#", f"{ha}/#")
    api.of(client).enroll("Madonna", photo_bytes("madonna", 0, "train"), photo_bytes("madonna", 1, "train")).expect(201)
    frame = encode_jpeg(three_face_frame())   # Ben, Madonna, Jerry: one known, two unknown
    recognized = client.post("/recognize?camera_id=Front Door", data=frame, content_type="image/jpeg").json
    [(_, text, retained)] = watch.wait(f"{prefix}/events/front_door")
    event = json.loads(text)
    assert not retained and event["event_id"] == recognized["event_id"] and event["camera_id"] == "Front Door"
    assert event["names"] == ["Madonna"] and event["unknown"] == 2 and event["count"] == 3
    known = next(f for f in event["faces"] if f["name"])
    assert known["confidence"] > 0.5 and known["distance"] < 1.1 and set(known["box"]) == {"x1", "y1", "x2", "y2"}
    match = json.loads(watch.wait(f"{prefix}/matches/madonna")[0][1])
    assert match["camera_id"] == "Front Door" and match["name"] == "Madonna" and match["event_id"] == event["event_id"]
    assert len(json.loads(watch.wait(f"{prefix}/unknown")[0][1])["faces"]) == 2
    client.post("/recognize?camera_id=Front Door", data=encode_jpeg(three_face_frame()[:40, :40]),
                content_type="image/jpeg")   # no face: no event
    client.post("/v1/vision/face/recognize", data={"image": (__import__("io").BytesIO(photo_bytes("madonna", 0)),
                                                             "x.jpg")})   # compat recognitions are events too
    assert json.loads(watch.wait(f"{prefix}/events/deepstack")[0][1])["names"] == ["Madonna"]
    assert len(watch.wait(f"{prefix}/events/front_door")) == 1
    watch.wait(f"{prefix}/people/madonna", count=2)   # the last retained update has reached the broker
    watch.close()

    # what Home Assistant reads when it (re)connects: retained availability, discovery and state
    late = Subscriber(broker.port, f"{prefix}/#", f"{ha}/#")
    assert late.wait(f"{prefix}/available")[0][1:] == ("online", True)
    node = prefix
    config = json.loads(late.wait(f"{ha}/sensor/{node}/camera_front_door_last_person/config")[0][1])
    assert config["state_topic"] == f"{prefix}/cameras/front_door" and config["availability_topic"] == \
        f"{prefix}/available" and config["unique_id"] == f"{node}_camera_front_door_last_person"
    state = late.wait(f"{prefix}/cameras/front_door")[0]
    assert state[2] and json.loads(state[1])["names"] == ["Madonna"]
    seen = json.loads(late.wait(f"{ha}/sensor/{node}/person_madonna_last_seen/config")[0][1])
    assert seen["device_class"] == "timestamp" and seen["state_topic"] == f"{prefix}/people/madonna"
    assert json.loads(late.wait(f"{prefix}/people/madonna")[0][1])["camera_id"] == "deepstack"
    late.client.publish(f"{ha}/status", "online")   # Home Assistant restarted: discovery again
    assert len(late.wait(f"{ha}/sensor/{node}/camera_front_door_faces/config", count=2)) == 2
    late.close()
    metrics = client.get("/metrics").data.decode()
    assert "facerec_mqtt_published_total" in metrics
    assert 'facerec_mqtt_dropped_total{reason="queue_full"} 0.0' in metrics
    client.application.extensions["facerec"].close()


def test_a_broker_outage_never_fails_recognize(make_client, tmp_path, prefixes):
    broker = Broker(tmp_path).start()
    prefix, ha = prefixes
    client = make_client(mqtt_url=broker.url, mqtt_topic_prefix=prefix, mqtt_discovery_prefix=ha)
    publisher = connected(client.application.extensions["facerec"].publisher)
    broker.stop()
    wait_until(lambda: not publisher.connected, 10, "the publisher noticing the outage")
    for _ in range(3):
        started = time.monotonic()
        response = client.post("/recognize?camera_id=gate", data=photo_bytes("madonna", 0), content_type="image/jpeg")
        assert response.status_code == 200 and time.monotonic() - started < 10
    dropped = [line for line in client.get("/metrics").data.decode().splitlines()
               if line.startswith('facerec_mqtt_dropped_total{reason="disconnected"}')]
    assert float(dropped[0].split()[-1]) >= 3   # the events of the outage, counted
    broker.start()   # same port: the publisher reconnects by itself (backoff 1 s doubling)
    connected(publisher, timeout=30)
    watch = Subscriber(broker.port, f"{prefix}/events/#")
    client.post("/recognize?camera_id=gate", data=photo_bytes("madonna", 0), content_type="image/jpeg")
    assert json.loads(watch.wait(f"{prefix}/events/gate")[0][1])["count"] == 1
    watch.close()
    client.application.extensions["facerec"].close()
    broker.stop()


def test_a_silent_broker_holds_up_nothing(make_client, prefixes):
    with socket.socket() as silent:   # accepts connections, never answers: CONNACK never comes
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        client = make_client(mqtt_url=f"mqtt://127.0.0.1:{silent.getsockname()[1]}", mqtt_topic_prefix=prefixes[0])
        for _ in range(2):
            started = time.monotonic()
            response = client.post("/recognize", data=photo_bytes("madonna", 0), content_type="image/jpeg")
            assert response.status_code == 200 and time.monotonic() - started < 10
        client.application.extensions["facerec"].close()


def test_a_full_queue_drops_and_counts(prefixes):
    from prometheus_client import REGISTRY

    def dropped():
        return REGISTRY.get_sample_value("facerec_mqtt_dropped_total", {"reason": "queue_full"})
    publisher = MqttPublisher(f"mqtt://127.0.0.1:{free_port()}", prefixes[0], queue_size=1)   # not started
    before = dropped()
    faces = [{"name": None, "person_id": None, "distance": None, "box": [0, 0, 1, 1]}]
    started = time.monotonic()
    for i in range(5):
        publisher.publish_event(f"{i}-0", "cam", faces)
    assert time.monotonic() - started < 0.1   # put_nowait: never waits
    assert dropped() - before == 4


def test_availability_with_several_workers(broker, prefixes):
    prefix, _ = prefixes
    topic = f"{prefix}/available"
    watch = Subscriber(broker.port, topic)
    first = connected(MqttPublisher(broker.url, prefix, "", keepalive_s=5).start())
    second = connected(MqttPublisher(broker.url, prefix, "", keepalive_s=5).start())
    before = len(watch.wait(topic))
    second.close()   # one worker leaves cleanly: "offline", answered at once by the other
    assert watch.wait_sequence(topic, before, ["offline", "online"])[-1] == "online"
    # a worker killed without a goodbye: its last will says "offline" (after 1.5 x keepalive), the other answers
    code = ("import sys, time; from app.mqtt import MqttPublisher; p = MqttPublisher(sys.argv[1], sys.argv[2], '', "
            "keepalive_s=5).start()\nwhile not p.connected: time.sleep(0.05)\nprint('connected', flush=True)\n"
            "time.sleep(600)")
    killed = subprocess.Popen([sys.executable, "-c", code, broker.url, prefix], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True)
    assert killed.stdout.readline().strip() == "connected"
    before = len(watch.wait(topic))
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert watch.wait_sequence(topic, before, ["offline", "online"])[-1] == "online"
    late = Subscriber(broker.port, topic)
    assert late.wait(topic)[0][1:] == ("online", True)
    late.close()
    first.close()   # the last worker leaves: the service is offline
    later = Subscriber(broker.port, topic)
    assert later.wait(topic)[0][1:] == ("offline", True)
    later.close()
    watch.close()


def test_gunicorn_workers_share_availability(broker, redis_server, model_server, tmp_path, prefixes):
    from conftest import GunicornServer, app_values, as_env
    prefix, ha = prefixes
    env = as_env(app_values(redis_server.url, model_server, f"{prefix}:", mqtt_url=broker.url,
                            mqtt_topic_prefix=prefix, mqtt_discovery_prefix=ha, mqtt_keepalive_s=5))
    (tmp_path / "metrics").mkdir()
    server = GunicornServer(env, tmp_path / "metrics").start()
    topic = f"{prefix}/available"
    watch = Subscriber(broker.port, topic)
    try:
        wait_until(lambda: 'facerec_mqtt_connected 2.0' in requests.get(server.url + "/metrics", timeout=5).text, 30,
                   "both workers connected")
        assert watch.wait(topic)[-1][1] == "online"
        response = requests.post(server.url + "/recognize?camera_id=hall", data=photo_bytes("madonna", 0),
                                 headers={"Content-Type": "image/jpeg"}, timeout=30)
        os.kill(int(response.headers["X-Facerec-Worker"]), signal.SIGKILL)   # Gunicorn starts another
        after = watch.wait_sequence(topic, len(watch.wait(topic)), ["offline", "online"])   # its will, answered
        assert after[-1] == "online"
    finally:
        server.stop()   # every worker says goodbye (worker_exit): offline stays
    late = Subscriber(broker.port, topic)
    assert late.wait(topic)[0][1:] == ("offline", True)
    late.close()
    watch.close()


def test_user_and_password(make_client, tmp_path, prefixes):
    broker = Broker(tmp_path, users={"camera": "s3cret/pass"}).start()
    try:
        right = make_client(mqtt_url=f"mqtt://camera:s3cret%2Fpass@127.0.0.1:{broker.port}",
                            mqtt_topic_prefix=prefixes[0])
        connected(right.application.extensions["facerec"].publisher)
        wrong = make_client(mqtt_url=f"mqtt://camera:nope@127.0.0.1:{broker.port}", mqtt_topic_prefix=prefixes[0])
        time.sleep(1.5)
        assert not wrong.application.extensions["facerec"].publisher.connected
        assert wrong.post("/recognize", data=photo_bytes("madonna", 0), content_type="image/jpeg").status_code == 200
        for c in (right, wrong):
            c.application.extensions["facerec"].close()
    finally:
        broker.stop()


def certificates(folder):
    """A CA, and a certificate it signed for 127.0.0.1 (openssl): (CA file, certificate, key)."""
    def openssl(*args):
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, cwd=folder)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=facerec test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj",
            "/CN=127.0.0.1")
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
            "server.crt", "-days", "2", "-extfile", "san.cnf")
    return tuple(str(folder / name) for name in ("ca.crt", "server.crt", "server.key"))


def test_tls(make_client, tmp_path, prefixes):
    ca, cert, key = certificates(tmp_path)
    broker = Broker(tmp_path, tls=(ca, cert, key)).start()
    prefix = prefixes[0]
    try:
        trusted = make_client(mqtt_url=broker.url, mqtt_tls_ca=ca, mqtt_topic_prefix=prefix)
        connected(trusted.application.extensions["facerec"].publisher)
        watch = Subscriber(broker.port, f"{prefix}/events/#", ca=ca)
        trusted.post("/recognize?camera_id=tls", data=photo_bytes("madonna", 0), content_type="image/jpeg")
        assert json.loads(watch.wait(f"{prefix}/events/tls")[0][1])["count"] == 1
        watch.close()
        unknown_ca = make_client(mqtt_url=broker.url, mqtt_topic_prefix=prefix)   # the system's CAs: refused
        time.sleep(1.5)
        assert not unknown_ca.application.extensions["facerec"].publisher.connected
        for c in (trusted, unknown_ca):
            c.application.extensions["facerec"].close()
    finally:
        broker.stop()
