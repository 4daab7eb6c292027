"""Faults under load, on a stack of its own (Gunicorn, Redis with AOF fsync always, the model
server), loopback only and bounded in time and count: Redis goes away (stopped, or hung) and
comes back, a worker starts while Redis is away, the model server goes away and comes back, a
worker is killed."""
import os
import signal
import threading
import time
import uuid

import pytest
import requests

from samples.photos import photo_bytes


class Load:
    """`threads` clients posting one frame to /recognize in a loop, until stopped or `max_s`."""

    def __init__(self, url, threads=2, max_s=90.0, max_requests=2000, camera_id="default"):
        self.url, self.results, self.stop_flag = url, [], threading.Event()
        self.deadline, self.max_requests = time.monotonic() + max_s, max_requests
        self.threads = [threading.Thread(target=self.run) for _ in range(threads)]
        self.image, self.camera_id = photo_bytes("madonna", 0), camera_id

    def run(self):
        """Each result: (start, seconds, status, error code, error message, the JSON answered)."""
        while (not self.stop_flag.is_set() and time.monotonic() < self.deadline
               and len(self.results) < self.max_requests):
            start = time.monotonic()
            try:
                r = requests.post(f"{self.url}/recognize", data=self.image, headers={"Content-Type": "image/jpeg"},
                                  params={"camera_id": self.camera_id}, timeout=30)
                body = r.json()
                self.results.append((start, time.monotonic() - start, r.status_code,
                                     body.get("error", {}).get("code"), body.get("error", {}).get("message", ""),
                                     body))
            except (requests.RequestException, ValueError) as e:
                self.results.append((start, time.monotonic() - start, None, type(e).__name__, str(e), {}))
            time.sleep(0.02)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join()

    def since(self, t0, t1=float("inf")):
        return [r for r in self.results if t0 <= r[0] < t1]


def all_ok_lately(load, window_s=1.5):
    """Every request of the last window succeeded (so every worker has recovered)."""
    recent = load.since(time.monotonic() - window_s)
    return len(recent) >= 3 and all(r[2] == 200 for r in recent)


def wait_until(check, timeout_s=60.0, every_s=0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every_s)
    return False


@pytest.fixture(scope="module")
def stack(tmp_path_factory, exported):
    from conftest import GunicornServer, as_env, model_settings
    from servers import RedisServer

    from scripts.serve_models import spawn

    redis = RedisServer(tmp_path_factory.mktemp("fault-redis")).start()
    log = open(tmp_path_factory.mktemp("fault-models") / "serve.log", "w")
    models, addr = spawn(log_file=log)
    env = {"MODEL_BACKEND": "grpc", **as_env(model_settings(addr)),
           "REDIS_URL": redis.url,
           "REDIS_PREFIX": f"fault-{uuid.uuid4().hex[:6]}:", "GRPC_TIMEOUT_S": "3", "REDIS_TIMEOUT_S": "1"}
    app = GunicornServer(env, tmp_path_factory.mktemp("fault-metrics")).start()
    state = {"redis": redis, "models": models, "addr": addr, "app": app, "log": log}
    yield state
    app.stop()
    state["models"].terminate()
    state["models"].wait(timeout=30)
    redis.stop()
    log.close()


def named(result):
    """The name the first face of a recognition result got (None: unknown or no face)."""
    faces = result[5].get("faces") or [{}]
    return (faces[0].get("match") or {}).get("name")


def test_redis_outage_degrades_recognition_to_the_workers_copy(stack, api):
    """Redis stopped mid-visit: frames keep coming back 200 with the right name, from each
    worker's copy of the gallery, marked degraded, without track or event; writes are 503 with
    Retry-After; after Redis restarts, tracks and events resume without restarting Gunicorn and
    every enrollment acknowledged before the outage is still there."""
    url, redis = stack["app"].url, stack["redis"]
    server = api.of(url)
    name = f"before-outage-{uuid.uuid4().hex[:4]}"
    acknowledged = [server.enroll(name, photo_bytes("madonna", 1, "train")).expect(201)["person_id"]]
    acknowledged += [server.enroll(f"other-{i}", photo_bytes("mindy_kaling", i, "train")).expect(201)["person_id"]
                     for i in range(2)]
    with Load(url, camera_id=f"door-{uuid.uuid4().hex[:4]}") as load:
        time.sleep(1.5)
        t_stop = time.monotonic()
        redis.stop()
        time.sleep(4.0)
        writes = [requests.post(f"{url}/enroll", data={"name": "during"}, timeout=10,
                                files={"image": ("a.jpg", photo_bytes("madonna", 2, "train"))}),
                  requests.delete(f"{url}/people/{acknowledged[1]}", timeout=10),
                  requests.post(f"{url}/v1/vision/face/register", data={"userid": "during"}, timeout=10,
                                files={"image": ("a.jpg", photo_bytes("madonna", 2, "train"))})]
        t_start = time.monotonic()
        redis.start()
        assert wait_until(lambda: all_ok_lately(load) and all(r[5].get("degraded") is None
                                                              for r in load.since(time.monotonic() - 1.0)), 30)
        t_back = time.monotonic()
        time.sleep(1.5)
    before = load.since(0, t_stop - 1.0)   # (not those still in flight when Redis stopped)
    during = load.since(t_stop + 0.2, t_start)
    assert before and all(r[2] == 200 and r[5]["faces"][0]["track_id"] for r in before)
    assert during, "no request was answered while Redis was down"
    assert all(r[2] == 200 and named(r) == name for r in during), [r[:5] for r in during if r[2] != 200][:5]
    assert all(r[5]["degraded"]["redis"] == "unreachable" and r[5]["event_id"] is None for r in during)
    assert all(f["track_id"] is None and f["track"] is None for r in during for f in r[5]["faces"])
    ages = [r[5]["degraded"]["gallery_age_s"] for r in during]
    assert all(0 <= age < 10 for age in ages) and max(ages) > 1, "the copy's age grows during the outage"
    assert all(r[2] == 200 for r in load.results), "no 5xx and no dropped connection, ever"
    assert max(r[1] for r in load.results) < 10, "no request hung"
    for w in writes:   # what cannot be done without Redis says so, and when to try again
        assert w.status_code == 503 and w.headers["Retry-After"] == "1", (w.status_code, w.text)
    error = writes[0].json()["error"]
    assert error["code"] == "redis_unavailable" and "Redis at" in error["message"]
    after = load.since(t_back)
    assert after and all(r[2] == 200 and r[5]["degraded"] is None and r[5]["event_id"] for r in after)
    assert len({r[5]["faces"][0]["track_id"] for r in after}) == 1 and None not in {
        r[5]["faces"][0]["track_id"] for r in after}, "tracks resume after Redis is back"
    people = requests.get(f"{url}/people", timeout=10).json()["people"]
    assert set(acknowledged) <= {p["person_id"] for p in people}, "an acknowledged enrollment was lost"
    assert "during" not in {p["name"] for p in people}


def test_a_hung_redis_degrades_recognition_too(stack):
    """Redis stopped with SIGSTOP (connections open, no answer: every call runs into
    REDIS_TIMEOUT_S): frames are still answered 200 from the workers' copies, none hangs."""
    url, redis = stack["app"].url, stack["redis"]
    with Load(url) as load:
        time.sleep(1.0)
        t_stop = time.monotonic()
        redis.process.send_signal(signal.SIGSTOP)
        try:
            time.sleep(5.0)
        finally:
            redis.process.send_signal(signal.SIGCONT)
        t_cont = time.monotonic()
        assert wait_until(lambda: all_ok_lately(load) and all(r[5].get("degraded") is None
                                                              for r in load.since(time.monotonic() - 1.0)), 30)
    during = load.since(t_stop + 0.2, t_cont)
    assert during and all(r[2] == 200 for r in during), [r[:5] for r in during if r[2] != 200][:5]
    assert any(r[5].get("degraded") for r in during)
    assert all(r[2] == 200 for r in load.results) and max(r[1] for r in load.results) < 10


def test_no_recognition_path_gives_a_5xx_while_redis_is_down(stack):
    """Hostile and odd requests on every surface that recognizes a frame, with Redis down: each
    a 4xx or a 200, never a 500 or 503."""
    from samples.photos import encode_jpeg
    url, redis = stack["app"].url, stack["redis"]
    image, blank = photo_bytes("madonna", 0), encode_jpeg(__import__("numpy").zeros((200, 200, 3), "uint8"))
    jpeg = {"Content-Type": "image/jpeg"}
    redis.stop()
    try:
        answers = {
            "ok": requests.post(f"{url}/recognize", data=image, headers=jpeg, timeout=30),
            "faceless": requests.post(f"{url}/recognize", data=blank, headers=jpeg, timeout=30),
            "garbage": requests.post(f"{url}/recognize", data=b"\xff\xd8 not a jpeg", headers=jpeg, timeout=30),
            "empty": requests.post(f"{url}/recognize", data=b"", headers=jpeg, timeout=30),
            "bad timestamp": requests.post(f"{url}/recognize", data=image, headers=jpeg, timeout=30,
                                           params={"timestamp": "nan"}),
            "bad visit_key": requests.post(f"{url}/recognize", data=image, headers=jpeg, timeout=30,
                                           params={"visit_key": "a/b"}),
            "bad camera": requests.post(f"{url}/recognize", data=image, headers=jpeg, timeout=30,
                                        params={"camera_id": "x\x00"}),
            "json": requests.post(f"{url}/recognize", json={"image": "%%%"}, timeout=30),
            "deepstack": requests.post(f"{url}/v1/vision/face/recognize", timeout=30,
                                       files={"image": ("a.jpg", image)}),
            "deepstack garbage": requests.post(f"{url}/v1/vision/face/recognize", timeout=30,
                                               files={"image": ("a.jpg", b"GIF89a")}),
            "compreface": requests.post(f"{url}/api/v1/recognition/recognize", timeout=30,
                                        files={"file": ("a.jpg", image)}),
            "compreface faceless": requests.post(f"{url}/api/v1/recognition/recognize", timeout=30,
                                                 files={"file": ("a.jpg", blank)}),
            "compreface limit": requests.post(f"{url}/api/v1/recognition/recognize", timeout=30,
                                              params={"limit": "-1"}, files={"file": ("a.jpg", image)}),
        }
    finally:
        redis.start()
    statuses = {what: r.status_code for what, r in answers.items()}
    assert all(s == 200 or 400 <= s < 500 for s in statuses.values()), statuses
    assert statuses["ok"] == statuses["faceless"] == statuses["deepstack"] == statuses["compreface"] == 200
    assert answers["ok"].json()["degraded"]["redis"] == "unreachable"
    assert answers["deepstack"].json()["predictions"][0]["userid"].startswith("before-outage-")
    assert answers["compreface"].json()["result"][0]["subjects"][0]["subject"].startswith("before-outage-")


def test_a_worker_started_while_redis_is_down_still_answers(tmp_path_factory, exported, stack):
    """Gunicorn started with Redis away: /healthz answers, /readyz says Redis is unreachable,
    /recognize detects the faces and answers 200 with every match null (no gallery copy yet),
    writes are 503; once Redis is there, the workers load the gallery without a restart."""
    from conftest import GunicornServer, as_env, model_settings
    from servers import RedisServer
    redis = RedisServer(tmp_path_factory.mktemp("late-redis"))    # its port, not started yet
    env = {"MODEL_BACKEND": "grpc", **as_env(model_settings(stack["addr"])),
           "REDIS_URL": redis.url, "REDIS_PREFIX": f"late-{uuid.uuid4().hex[:6]}:", "REDIS_TIMEOUT_S": "1"}
    app = GunicornServer(env, tmp_path_factory.mktemp("late-metrics")).start(ready_path="/healthz")
    try:
        ready = requests.get(f"{app.url}/readyz", timeout=10)
        assert ready.status_code == 503 and "unreachable" in ready.json()["checks"]["redis"]
        for _ in range(4):   # both workers
            r = requests.post(f"{app.url}/recognize", data=photo_bytes("madonna", 0), timeout=30,
                              headers={"Content-Type": "image/jpeg", "Connection": "close"})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["degraded"] == {"redis": "unreachable", "gallery_age_s": None}
            assert len(body["faces"]) == 1 and body["faces"][0]["match"] is None
            assert body["faces"][0]["reason"] == "gallery_unavailable" and body["faces"][0]["track_id"] is None
        enroll = requests.post(f"{app.url}/enroll", data={"name": "Madonna"}, timeout=30,
                               files={"image": ("a.jpg", photo_bytes("madonna", 0, "train"))})
        assert enroll.status_code == 503 and enroll.headers["Retry-After"] == "1"
        redis.start()
        assert wait_until(lambda: requests.get(f"{app.url}/readyz", timeout=10).status_code == 200, 30)
        requests.post(f"{app.url}/enroll", data={"name": "Madonna"}, timeout=30,
                      files={"image": ("a.jpg", photo_bytes("madonna", 0, "train"))}).raise_for_status()

        def recognized():
            r = requests.post(f"{app.url}/recognize", data=photo_bytes("madonna", 0), timeout=30,
                              headers={"Content-Type": "image/jpeg", "Connection": "close"}).json()
            return r["degraded"] is None and r["faces"][0]["match"]["name"] == "Madonna" and r["faces"][0]["track_id"]
        assert wait_until(lambda: all(recognized() for _ in range(4)), 20)   # both workers, once they tried again
    finally:
        app.stop()
        if redis.process is not None:
            redis.stop()


def test_model_server_outage(stack):
    from scripts.serve_models import spawn
    url = stack["app"].url
    port = int(stack["addr"].rsplit(":", 1)[1])
    with Load(url) as load:
        time.sleep(1.5)
        t_stop = time.monotonic()
        stack["models"].terminate()
        stack["models"].wait(timeout=30)
        assert wait_until(lambda: load.since(time.monotonic() - 1.0)
                          and all(r[2] == 503 for r in load.since(time.monotonic() - 1.0)), 20)
        ready = requests.get(f"{url}/readyz", timeout=10)
        assert ready.status_code == 503 and ready.json()["ready"] is False
        assert "unreachable" in ready.json()["checks"]["mtcnn"]
        t_restart = time.monotonic()
        stack["models"], _ = spawn(port=port, log_file=stack["log"])
        assert wait_until(lambda: all_ok_lately(load), 30)
        t_back = time.monotonic()
        time.sleep(1.5)
    during = [r for r in load.since(t_stop + 1.0, t_restart) if r[2] != 200]
    assert during and all(r[2] == 503 and r[3] == "model_unavailable" and "model 'mtcnn'" in r[4] for r in during)
    assert all(r[2] in (200, 503) for r in load.results)
    assert all(r[2] == 200 for r in load.since(t_back))
    assert requests.get(f"{url}/readyz", timeout=10).json()["ready"] is True


def test_a_killed_worker_loses_only_its_requests(stack, api):
    url = stack["app"].url
    pid = api.of(url).enroll(f"before-kill-{uuid.uuid4().hex[:4]}",
                             photo_bytes("jerry_seinfeld", 1, "train")).expect(201)["person_id"]
    workers = set()
    assert wait_until(lambda: workers.add(requests.get(f"{url}/healthz", timeout=5).headers["X-Facerec-Worker"])
                      or len(workers) == 2, 20, 0.01)
    victim = int(sorted(workers)[0])
    with Load(url, threads=3) as load:
        time.sleep(1.5)
        t_kill = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        time.sleep(6.0)
    failed = [r for r in load.results if r[2] != 200]
    assert len(failed) <= 3, failed  # at most the requests in flight on that worker
    assert all(r[2] is None for r in failed), "a lost request is a dropped connection, never a 5xx"
    assert all(r[2] == 200 for r in load.since(t_kill + 3.0))
    answered = set()
    assert wait_until(lambda: answered.add(requests.get(f"{url}/healthz", timeout=5).headers["X-Facerec-Worker"])
                      or len(answered - {str(victim)}) == 2, 30, 0.01), "the master replaced the worker"
    people = {p["person_id"] for p in requests.get(f"{url}/people", timeout=10).json()["people"]}
    assert pid in people
    for _ in range(6):  # both workers, the new one included, see the same gallery
        r = requests.post(f"{url}/recognize", data=photo_bytes("jerry_seinfeld", 0),
                          headers={"Content-Type": "image/jpeg"}, timeout=30)
        assert r.json()["faces"][0]["match"]["person_id"] == pid
