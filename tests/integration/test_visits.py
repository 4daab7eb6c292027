"""Visits on the real Redis, the real models over gRPC, real mosquitto and Gunicorn: face
quality, tracks across frames (and across workers), a visit's identity from all its frames,
one MQTT message per visit, "ended" for a camera that falls silent (exactly once, however many
workers sweep), Redis refusing writes during a visit, hostile fields."""
import io
import json
import threading
import time
import uuid

import numpy as np
import pytest
import requests
from servers import Broker
from test_mqtt import Subscriber, connected

from app.api.schemas import RecognizeResponse
from app.api.schemas_visits import Track
from samples.camera import Look, camera_frame
from samples.photos import photo, photo_bytes
from scripts.processes import wait_until


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    server = Broker(tmp_path_factory.mktemp("mosquitto")).start()
    yield server
    server.stop()



def face_box(client, rgb):
    """The largest face of a photo, found by the server itself."""
    from samples.photos import encode_jpeg
    faces = client.post("/detect", data=encode_jpeg(rgb), content_type="image/jpeg").json["faces"]
    box = max(faces, key=lambda f: (f["box"]["x2"] - f["box"]["x1"]))["box"]
    return box["x1"], box["y1"], box["x2"], box["y2"]


def walk_up(client, person, index=0, frames=6, start_px=60, end_px=110):
    """A person walking up to the door: their photo growing in a 1280x720 frame."""
    rgb = photo(person, index)
    box = face_box(client, rgb)
    step = (end_px - start_px) / max(frames - 1, 1)
    return [camera_frame(rgb, box, Look(start_px + i * step, quality=70)) for i in range(frames)]


def test_a_visit_is_one_track_whose_name_is_decided_from_its_frames(client, api):
    api.enroll("Madonna", photo_bytes("madonna", 0, "train"), photo_bytes("madonna", 1, "train")).expect(201)
    t0 = time.time() - 60
    results = [api.recognize(f, camera_id="door", timestamp=t0 + i * 0.4).expect(200, RecognizeResponse)
               for i, f in enumerate(walk_up(client, "madonna"))]
    faces = [r.faces[0] for r in results]
    assert all(f.quality > 0 and f.quality_parts.eye_distance_px > 10 for f in faces)
    assert len({f.track_id for f in faces}) == 1 and faces[0].track_id is not None
    last = faces[-1].track
    assert last.decided and last.name == "Madonna" and last.frames == 6
    assert abs(last.first_seen - t0) < 0.01 and abs(last.last_seen - (t0 + 2.0)) < 0.01
    decided_at = next(i for i, f in enumerate(faces) if f.track.decided)
    assert decided_at <= 2   # a clear face: decided within 3 frames
    again = client.get(f"/tracks/{faces[0].track_id}")
    assert again.status_code == 200 and Track.model_validate(again.json) == last
    assert client.get("/tracks/" + "0" * 32).json["error"]["code"] == "track_not_found"
    assert client.get("/tracks/..%2F..").status_code == 404
    # another camera, or after TRACK_GAP_S, is another visit
    other = api.recognize(walk_up(client, "madonna", frames=1)[0], camera_id="garage",
                          timestamp=t0 + 2.5).expect(200, RecognizeResponse)
    later = api.recognize(walk_up(client, "madonna", frames=1)[0], camera_id="door",
                          timestamp=t0 + 30).expect(200, RecognizeResponse)
    assert len({faces[0].track_id, other.faces[0].track_id, later.faces[0].track_id}) == 3


def test_one_look_alike_frame_does_not_rename_a_decided_visit(client, api):
    api.enroll("Madonna", photo_bytes("madonna", 0, "train"), photo_bytes("madonna", 1, "train")).expect(201)
    api.enroll("Mindy", photo_bytes("mindy_kaling", 0, "train"), photo_bytes("mindy_kaling", 1, "train")).expect(201)
    t0 = time.time() - 60
    frames = walk_up(client, "madonna", frames=3)
    for i, frame in enumerate(frames):
        track = api.recognize(frame, camera_id="door", timestamp=t0 + i,
                              visit_key="evt-1.a").expect(200, RecognizeResponse).faces[0].track
    assert track.decided and track.name == "Madonna"
    # one frame of the same visit (the same external visit key) in which the face reads as Mindy
    odd = api.recognize(walk_up(client, "mindy_kaling", frames=1)[0], camera_id="door", timestamp=t0 + 3,
                        visit_key="evt-1.a").expect(200, RecognizeResponse).faces[0]
    assert odd.match is not None and odd.match.name == "Mindy"      # the frame alone says Mindy ...
    assert odd.track.id == track.id and odd.track.name == "Madonna" and odd.track.decided  # ... the visit does not


def test_a_visit_its_frames_leave_unnamed_is_named_by_its_mean_face(make_client, api):
    """Small, blurred faces of an enrolled person: at the threshold set here her frames alone
    (a few match, more land over it) do not name the visit, the quality-weighted mean of its
    faces (the gallery's answer for it: app/usecases/visits.mean_match) does; with
    VISIT_MEAN_FACES 0 the same frames are not named."""
    probe = make_client()
    api.of(probe).enroll("Madonna", photo_bytes("madonna", 0, "train"), photo_bytes("madonna", 1, "train")).expect(201)
    rgb = photo("madonna", 2)
    box = face_box(probe, rgb)
    rng = np.random.default_rng(0)
    frames = [camera_frame(rgb, box, Look(30 + 4 * i, blur=int(rng.integers(2, 9)), quality=int(rng.integers(20, 45)),
                                          noise=float(rng.uniform(3, 8))), seed=i + 10) for i in range(6)]
    s = probe.application.extensions["facerec"]
    faces = []
    for frame in frames:
        analyzed = s.pipeline.analyze(frame)
        faces.append(analyzed.largest_face())
        s.pipeline.assess(analyzed, faces[-1:])
    qualities = [face.quality.quality for face in faces]
    alone = [s.replica.match(face.vector, 1)[0].distance for face in faces]
    weighted = sum(q * face.vector for q, face in zip(qualities, faces))
    mean = s.replica.match(weighted / np.linalg.norm(weighted), 1)[0].distance

    def frames_name_her(threshold):   # the frames alone, by the visits' own rule (app/visits/identity.py)
        from app.visits.identity import Identity, VisitRules, accumulate, decided
        from app.visits.identity import Look as Evidence
        rules, evidence, names = VisitRules(threshold, near_miss=0.0, mean_faces=0), {}, {}
        identity = Identity(None, None, False, 0.0)
        for q, d in zip(qualities, alone):
            look = Evidence(q, "m", "Madonna", d) if d <= threshold else Evidence(q, distance=d)
            accumulate(evidence, names, look, rules)
            identity = decided(evidence, names, identity, set(), rules)
        return identity.decided and identity.name == "Madonna"
    threshold = next((t for t in np.arange(mean + 0.002, mean + 0.05, 0.004) if not frames_name_her(t)), None)
    assert min(qualities) >= 0.2 and threshold is not None, (qualities, alone, mean)
    assert sum(d <= threshold for d in alone) >= 1   # some frames match her: the mean is not alone in it
    for mean_faces, named in ((3, True), (0, False)):
        client = make_client(match_threshold=float(threshold), visit_near_miss=0.0, visit_mean_faces=mean_faces)
        api.of(client).enroll("Madonna", photo_bytes("madonna", 0, "train"),
                              photo_bytes("madonna", 1, "train")).expect(201)
        t0 = time.time() - 60
        answers = [api.of(client).recognize(f, camera_id="door", timestamp=t0 + i * 0.4, visit_key="evt-7.a")
                   .expect(200, RecognizeResponse) for i, f in enumerate(frames)]   # one visit (its key)
        seen = [max(a.faces, key=lambda f: f.box.x2 - f.box.x1) for a in answers]
        assert len({f.track_id for f in seen}) == 1
        last = seen[-1].track
        assert (last.decided and last.name == "Madonna") is named, (mean_faces, last, alone, mean, threshold)


def test_a_tiny_blurred_face_is_reported_but_not_matched(make_client, api):
    client = make_client(min_match_quality=0.3, min_enroll_quality=0.3)
    api = api.of(client)
    api.enroll("Madonna", photo_bytes("madonna", 0, "train"), photo_bytes("madonna", 1, "train")).expect(201)
    rgb = photo("madonna", 0)
    frame = camera_frame(rgb, face_box(client, rgb), Look(30, blur=7, quality=30))
    result = api.recognize(frame, camera_id="door").expect(200, RecognizeResponse)
    [face] = result.faces
    assert face.quality < 0.3 and face.reason == "low_quality" and face.match is None and face.visitor_id is None
    assert face.track_id is not None and not face.track.decided
    madonna = client.get("/people").json["people"][0]["person_id"]
    refused = client.post("/corrections", json={"event_id": result.event_id, "face_index": 0,
                                                "not_person_id": madonna})   # never a correction target
    assert refused.status_code == 409 and refused.json["error"]["code"] == "not_correctable"
    refused = client.post("/enroll", data={"name": "Tiny", "image": (io.BytesIO(frame), "a.jpg")},
                          content_type="multipart/form-data")
    assert refused.status_code == 422 and refused.json["error"]["code"] == "low_quality"
    assert any(p in refused.json["error"]["message"] for p in ("too small", "blurred", "turned away"))
    forced = client.post("/enroll", data={"name": "Tiny", "image": (io.BytesIO(frame), "a.jpg"), "force": "true"},
                         content_type="multipart/form-data")
    assert forced.status_code == 201
    report = client.get(f"/people/{forced.json['person_id']}").json["face_report"]
    assert len(report) == 1 and report[0]["quality"] < 0.3
    clear = api.recognize(photo_bytes("madonna", 0), camera_id="porch").expect(200, RecognizeResponse).faces[0]
    assert clear.reason is None and clear.match.name == "Madonna" and clear.quality >= 0.3
    assert client.get("/visitors").json["count"] == 0


def test_hostile_timestamp_visit_key_and_camera_are_refused_and_nothing_is_stored(client, api):
    image = photo_bytes("madonna", 0)
    bad = [{"timestamp": "nan"}, {"timestamp": "inf"}, {"timestamp": "-1"}, {"timestamp": "946684799"},
           {"timestamp": str(time.time() + 3 * 86400)}, {"timestamp": "1e400"}, {"timestamp": "yesterday"},
           {"timestamp": "2024-06-01T10:00:00"}, {"timestamp": "9" * 5000}, {"visit_key": "a/b"},
           {"visit_key": "x" * 129}, {"visit_key": "évent"}, {"visit_key": "a b"}, {"camera_id": "door\x00"},
           {"camera_id": "x" * 201}]
    for fields in bad:
        response = client.post("/recognize", data=image, content_type="image/jpeg", query_string=fields)
        assert response.status_code == 400 and response.json["error"]["code"] == "invalid_field", (fields,
                                                                                                  response.json)
        assert next(iter(fields)) in response.json["error"]["message"]
    for body in ({"timestamp": True}, {"timestamp": [1]}, {"timestamp": {"a": 1}}, {"timestamp": 10 ** 400},
                 {"visit_key": 5}, {"camera_id": ["a"]}):
        response = client.post("/recognize", json={"image": __import__("base64").b64encode(image).decode(), **body})
        assert response.status_code == 400, (body, response.json)
    s = client.application.extensions["facerec"]
    assert client.get("/events").json["events"] == []
    assert not list(s.redis.scan_iter(s.settings.redis_prefix + "visits:*"))
    fine = api.recognize(image, timestamp="2025-06-01T10:00:00+02:00",
                         visit_key="1718000000.123456-abc123").expect(200, RecognizeResponse)
    assert fine.faces[0].track.first_seen == 1748764800.0


def test_redis_refusing_writes_during_a_visit_leaves_frames_answered(client, api):
    api.enroll("Madonna", photo_bytes("madonna", 0, "train")).expect(201)
    frames = walk_up(client, "madonna", frames=3)
    first = api.recognize(frames[0], camera_id="door").expect(200, RecognizeResponse).faces[0]
    s = client.application.extensions["facerec"]
    s.redis.config_set("maxmemory", 1)   # Redis full: every write is refused (OOM)
    try:
        during = api.recognize(frames[1], camera_id="door").expect(200, RecognizeResponse)
    finally:
        s.redis.config_set("maxmemory", 0)
    assert during.faces[0].match.name == "Madonna" and during.faces[0].track_id is None
    after = api.recognize(frames[2], camera_id="door").expect(200, RecognizeResponse).faces[0]
    assert after.track_id == first.track_id and after.track.frames == 2


def test_a_visit_alternating_between_two_workers_stays_one_track(gunicorn_server):
    url = gunicorn_server.url
    files = {"image": ("a.jpg", photo_bytes("jerry_seinfeld", 0, "train"))}
    assert requests.post(f"{url}/enroll", data={"name": "Jerry"}, files=files, timeout=60).status_code == 201
    frame = photo_bytes("jerry_seinfeld", 0)
    t0, workers, tracks = time.time() - 100, set(), []
    for i in range(40):
        r = requests.post(f"{url}/recognize", params={"camera_id": "hall", "timestamp": t0 + i * 0.2}, data=frame,
                          headers={"Content-Type": "image/jpeg", "Connection": "close"}, timeout=60)
        assert r.status_code == 200, r.text
        workers.add(r.headers["X-Facerec-Worker"])
        tracks.append(r.json()["faces"][0]["track"])
        if len(workers) == 2 and i >= 5:
            break
    assert len(workers) == 2, "both workers answered frames of the visit"
    assert len({t["id"] for t in tracks}) == 1 and [t["frames"] for t in tracks] == list(range(1, len(tracks) + 1))
    assert tracks[-1]["name"] == "Jerry" and tracks[-1]["decided"]


def test_one_mqtt_message_per_visit(make_client, broker, api):
    prefix, ha = f"fr{uuid.uuid4().hex[:6]}", f"ha{uuid.uuid4().hex[:6]}"
    client = make_client(mqtt_url=broker.url, mqtt_topic_prefix=prefix, mqtt_discovery_prefix=ha, track_gap_s=5,
                         mqtt_frame_topics=False)
    api = api.of(client)
    connected(client.application.extensions["facerec"].publisher)
    watch = Subscriber(broker.port, f"{prefix}/#", f"{ha}/#")
    api.enroll("Madonna", photo_bytes("madonna", 0, "train"), photo_bytes("madonna", 1, "train")).expect(201)
    t0 = time.time() - 60
    for i, frame in enumerate(walk_up(client, "madonna", frames=6)):
        api.recognize(frame, camera_id="Front Door", timestamp=t0 + i * 0.5).expect(200, RecognizeResponse)
    [(_, text, _)] = watch.wait(f"{prefix}/visits/front_door")
    decided = json.loads(text)
    assert decided["event"] == "decided" and decided["camera_id"] == "Front Door"
    assert decided["track"]["name"] == "Madonna" and decided["track"]["decided"]
    assert json.loads(watch.wait(f"{prefix}/presence/madonna/attributes")[0][1])["last_camera"] == "Front Door"
    assert watch.wait(f"{prefix}/presence/madonna")[0][1] == "home"
    presence = json.loads(watch.wait(f"{ha}/binary_sensor/{prefix}/presence_madonna/config")[0][1])
    assert presence["device_class"] == "presence" and presence["off_delay"] == 600
    last = json.loads(watch.wait(f"{ha}/sensor/{prefix}/camera_front_door_last_visitor/config")[0][1])
    assert last["state_topic"] == f"{prefix}/last_visitor/front_door"
    # the camera's next frame, after TRACK_GAP_S: the first visit ended, a second one began
    api.recognize(walk_up(client, "madonna", frames=1)[0], camera_id="Front Door",
                  timestamp=t0 + 20).expect(200, RecognizeResponse)
    messages = [json.loads(m[1]) for m in watch.wait(f"{prefix}/visits/front_door", count=3)]
    assert messages[1]["event"] == "ended" and messages[1]["track"]["id"] == decided["track"]["id"]
    assert messages[2]["event"] == "decided" and messages[2]["track"]["id"] != decided["track"]["id"]
    time.sleep(1.0)
    assert len(watch.wait(f"{prefix}/visits/front_door")) == 3   # 6 frames: one "decided", one "ended"
    assert not [m for m in watch.messages if "/events/" in m[0] or "/matches/" in m[0]]   # per-frame topics off
    watch.close()
    client.application.extensions["facerec"].close()


def test_two_sweepers_and_a_late_frame_end_each_silent_visit_once(make_app, broker):
    """Two workers' sweeps and a frame that comes after TRACK_GAP_S race to end the same silent
    visits: each visit ends once (one of them removes it from its camera's tracks), and MQTT
    carries one "ended" per visit the sweeps ended."""
    from app.usecases.visit_sweep import sweep_once
    from app.visits import Look as Evidence
    from app.visits import Sighting
    topic, prefix = f"fr{uuid.uuid4().hex[:6]}", f"sweep-{uuid.uuid4().hex[:6]}:"
    workers = [make_app(redis_prefix=prefix, mqtt_url=broker.url, mqtt_topic_prefix=topic, mqtt_discovery_prefix="",
                        mqtt_frame_topics=False, track_gap_s=5, visit_sweep_s=0).extensions["facerec"]
               for _ in range(2)]
    for s in workers:
        connected(s.publisher)
    watch = Subscriber(broker.port, f"{topic}/visits/#")
    time.sleep(0.5)   # subscribed
    rng, wall, cameras = np.random.default_rng(24), time.time(), 30

    def face():
        v = rng.normal(size=256)
        return [Sighting((100.0, 100.0, 200.0, 200.0), (v / np.linalg.norm(v)).astype(np.float32), 0.9)]
    opened = {}
    for i in range(cameras):   # one decided visit per camera, whose last frame came 30 s ago
        [track] = workers[0].visits.observe(f"cam {i}", wall - 30, face(), [Evidence(0.9, "p1", "Ada", 0.3)],
                                            received=wall - 30).faces
        assert track.decided and track.published == "p1"
        opened[f"cam {i}"] = track.id
    start, ended = threading.Barrier(3), {"sweep 0": [], "sweep 1": [], "frames": []}

    def sweep(k):
        start.wait()
        ended[f"sweep {k}"] = [track.id for _, track in sweep_once(workers[k])]

    def frames():   # the cameras of even number send a frame again, 30 s after the visit's last one
        start.wait()
        for i in range(0, cameras, 2):
            outcome = workers[1].visits.observe(f"cam {i}", wall, face(), [Evidence(0.9, "p1", "Ada", 0.3)])
            ended["frames"] += [track.id for track in outcome.ended]
    threads = [threading.Thread(target=sweep, args=(0,)), threading.Thread(target=sweep, args=(1,)),
               threading.Thread(target=frames)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    everything = [i for ids in ended.values() for i in ids]
    assert sorted(everything) == sorted(opened.values()), ended   # each visit ended, and only once
    swept = ended["sweep 0"] + ended["sweep 1"]
    assert swept, "the sweeps ended some visits"
    print("visits ended by", {who: len(ids) for who, ids in ended.items()})

    def ended_messages():
        return [json.loads(m[1]) for m in watch.messages if json.loads(m[1])["event"] == "ended"]
    wait_until(lambda: len(ended_messages()) >= len(swept), 15, "an \"ended\" message per swept visit")
    time.sleep(1.0)
    assert sorted(m["track"]["id"] for m in ended_messages()) == sorted(swept), "one message per swept visit"
    assert all(m["camera_id"] == next(c for c, i in opened.items() if i == m["track"]["id"])
               for m in ended_messages())
    # the visits the late frames opened are open: another sweep now ends nothing
    assert sweep_once(workers[0]) == [] and sweep_once(workers[1]) == []
    s = workers[0]
    assert {c.decode() for c in s.redis.zrange(s.visits.open_key, 0, -1)} == {f"cam {i}" for i in range(0, cameras, 2)}
    watch.close()


def test_a_camera_that_falls_silent_ends_its_visit_once(redis_server, model_server, gallery_cache, broker,
                                                         tmp_path_factory):
    """Gunicorn with two workers, each sweeping: a visit whose camera sends nothing more gets
    exactly one "ended", about TRACK_GAP_S after its last frame, without any further frame."""
    from conftest import GunicornServer, app_values, as_env
    topic, gap = f"fr{uuid.uuid4().hex[:6]}", 3.0
    env = as_env(app_values(redis_server.url, model_server, f"silent-{uuid.uuid4().hex[:6]}:", gallery_cache,
                            mqtt_url=broker.url, mqtt_topic_prefix=topic, mqtt_discovery_prefix="",
                            mqtt_frame_topics=False, track_gap_s=gap, visit_sweep_s=0.5))
    server = GunicornServer(env, tmp_path_factory.mktemp("silent-metrics")).start()
    watch = Subscriber(broker.port, f"{topic}/visits/#")
    try:
        files = {"image": ("a.jpg", photo_bytes("jerry_seinfeld", 0, "train"))}
        assert requests.post(f"{server.url}/enroll", data={"name": "Jerry"}, files=files, timeout=60).status_code == 201
        workers = set()
        for _ in range(6):
            r = requests.post(f"{server.url}/recognize", params={"camera_id": "Porch"}, timeout=60,
                              data=photo_bytes("jerry_seinfeld", 0),
                              headers={"Content-Type": "image/jpeg", "Connection": "close"})
            assert r.status_code == 200, r.text
            workers.add(r.headers["X-Facerec-Worker"])
        track = r.json()["faces"][0]["track"]
        assert track["decided"] and track["name"] == "Jerry"
        decided, ended = (json.loads(m[1]) for m in watch.wait(f"{topic}/visits/porch", count=2, timeout=gap + 15))
        waited = time.time() - track["last_seen"]   # the last frame's time (the server's clock: no timestamp sent)
        assert decided["event"] == "decided" and ended["event"] == "ended" and ended["camera_id"] == "Porch"
        assert ended["track"]["id"] == track["id"] and ended["track"]["frames"] == 6
        assert waited > gap, "not ended before TRACK_GAP_S"
        time.sleep(2.0)   # both workers swept several times more
        assert len(watch.wait(f"{topic}/visits/porch")) == 2, "exactly one \"ended\""
        print(f"ended {waited:.1f} s after the last frame (TRACK_GAP_S {gap}, VISIT_SWEEP_S 0.5), "
              f"{len(workers)} workers answered")
    finally:
        watch.close()
        server.stop()


def test_without_mqtt_the_sweep_still_ends_a_silent_unknown_visit(make_client, api):
    """No MQTT_URL: nothing to announce, but a stranger's visit whose camera falls silent still
    ends about TRACK_GAP_S after its last frame, by each worker's sweep thread (no frame and no
    sweep called here), and its visitor sighting then holds the mean of all its faces."""
    from app.usecases.visitors import refines_at
    client = make_client(track_gap_s=2.0, visit_sweep_s=0.2)
    assert not client.application.extensions["facerec"].settings.mqtt_url
    api = api.of(client)
    s = client.application.extensions["facerec"]
    faces = [api.recognize(f, camera_id="porch").expect(200)["faces"][0]
             for f in walk_up(client, "mindy_kaling", frames=5)]
    fed = [f for f in faces if f["visitor_id"] is not None]
    assert len({f["visitor_id"] for f in fed}) == 1 and not refines_at(len(fed))
    sid = s.redis.get(s.visits.prefix + f"visits:stranger:{faces[0]['track_id']}").decode()
    weight = lambda: json.loads(s.redis.hget(s.visitors.key("visitors:meta"), sid))["weight"]  # noqa: E731
    full = sum(f["quality"] for f in fed)
    deadline = time.monotonic() + 10
    while weight() < full - 5e-3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert weight() == pytest.approx(full, abs=5e-3)
    assert s.visits.sweep(time.time() + 60) == []   # already ended: nothing left open for that camera


@pytest.mark.parametrize("ending", ["next frame", "sweep"])
def test_an_unknown_visit_ends_with_its_sighting_holding_all_its_faces(client, api, ending):
    """A stranger walks up (nothing enrolled): one visitor for the visit; the camera's next frame
    after TRACK_GAP_S, or the sweep, ends it, and the visit's sighting then holds the mean of
    every face that fed it, the faces after its last scheduled refinement included."""
    from app.usecases.visit_sweep import sweep_once
    from app.usecases.visitors import refines_at
    s = client.application.extensions["facerec"]
    t0 = time.time() - 600
    faces = [api.recognize(f, camera_id="porch", timestamp=t0 + 0.4 * i).expect(200)["faces"][0]
             for i, f in enumerate(walk_up(client, "mindy_kaling", frames=5))]
    fed = [f for f in faces if f["visitor_id"] is not None]
    assert len({f["visitor_id"] for f in fed}) == 1 and not refines_at(len(fed))
    sid = s.redis.get(s.visits.prefix + f"visits:stranger:{faces[0]['track_id']}").decode()
    weight = lambda: json.loads(s.redis.hget(s.visitors.key("visitors:meta"), sid))["weight"]  # noqa: E731
    assert weight() < sum(f["quality"] for f in fed) - 0.05
    if ending == "sweep":
        assert [track.id for _, track in sweep_once(s, time.time() + 60)] == [faces[0]["track_id"]]
    else:
        api.recognize(walk_up(client, "mindy_kaling", frames=1)[0], camera_id="porch", timestamp=t0 + 60).expect(200)
    assert weight() == pytest.approx(sum(f["quality"] for f in fed), abs=5e-3)
