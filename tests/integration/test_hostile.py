"""Holes found by hostile testing, each closed and kept closed: gallery import that reached into
other keys or moved faces, blank and look-alike names, tiny files that decode to huge frames,
event thumbnails that grew without bound, a full Redis, client mistakes answered with 500,
cross-site form posts, and the worker pid in every answer. Real Redis, real models over gRPC."""
import base64
import io

import numpy as np
import pytest
import redis
from images import jpeg_claiming

from samples.photos import encode_jpeg, photo_bytes
from scripts.processes import free_port


def error_of(response, status, code):
    assert response.status_code == status, response.text[:500]   # a test response or an api Reply
    assert response.is_json and set(response.json) == {"error"} and response.json["error"]["code"] == code
    return response.json["error"]["message"]



def gallery_file(client, people):
    model = client.get("/gallery/export").json["model"]
    return {"format": "facerec-gallery/1", "model": model, "people": people}


def a_face(face_id, seed=0):
    vector = np.random.default_rng(seed).standard_normal(128).astype("<f4")
    vector /= np.linalg.norm(vector)
    return {"face_id": face_id, "embedding": base64.b64encode(vector.tobytes()).decode(), "thumbnail": ""}


def still_whole(client):
    """The gallery answers: listing, export and recognition."""
    assert client.get("/people").status_code == 200
    assert client.get("/gallery/export").status_code == 200
    assert client.post("/recognize", data=photo_bytes("madonna", 0), content_type="image/jpeg").status_code == 200


# --- 1. gallery import ---------------------------------------------------------------------

def test_import_refuses_ids_that_reach_into_other_keys(client, api):
    pid = api.enroll("X", photo_bytes("madonna", 0, "train")).expect(201)["person_id"]
    file = gallery_file(client, [{"person_id": f"{pid}:faces", "name": "Y", "faces": [a_face("f1")]}])
    message = error_of(client.post("/gallery/import", json=file), 422, "invalid_gallery")
    assert f"{pid}:faces" in message
    file["people"][0].update(person_id="ok-id", faces=[a_face("bad id with spaces")])
    assert "bad id with spaces" in error_of(client.post("/gallery/import", json=file), 422, "invalid_gallery")
    assert client.get("/people").json["count"] == 1
    still_whole(client)


def test_import_refuses_a_face_id_repeated_or_of_another_person(client, api):
    madonna = api.enroll("Madonna", photo_bytes("madonna", 0, "train")).expect(201)
    taken = madonna["faces"][0]["face_id"]
    twice = gallery_file(client, [{"person_id": "a", "name": "A", "faces": [a_face("same")]},
                                  {"person_id": "b", "name": "B", "faces": [a_face("same", 1)]}])
    assert "same" in error_of(client.post("/gallery/import", json=twice), 422, "invalid_gallery")
    moved = gallery_file(client, [{"person_id": "b", "name": "B", "faces": [a_face(taken)]}])
    assert taken in error_of(client.post("/gallery/import", json=moved), 409, "face_id_taken")
    assert client.get("/people").json["count"] == 1
    result = client.post("/recognize", data=photo_bytes("madonna", 0), content_type="image/jpeg").json
    assert result["faces"][0]["match"]["person_id"] == madonna["person_id"]  # the face did not move


def test_a_face_without_a_thumbnail_is_a_404_not_an_empty_image(client, api):
    pid = api.enroll("Madonna", photo_bytes("madonna", 0, "train")).expect(201)["person_id"]
    exported = client.get("/gallery/export").json
    face = exported["people"][0]["faces"][0]
    face["thumbnail"] = ""   # a gallery file may carry none
    assert client.delete(f"/people/{pid}").status_code == 200
    assert client.post("/gallery/import", json=exported).status_code < 300
    assert client.get(f"/people/{pid}/faces/{face['face_id']}/thumbnail").status_code == 404
    image_id = client.get("/api/v1/recognition/faces").json["faces"][0]["image_id"]
    assert client.get(f"/api/v1/recognition/faces/{image_id}/img").status_code == 404


def test_a_malformed_stored_vector_is_skipped_and_reported(make_client, server_settings, redis_server, api, tmp_path):
    settings = server_settings()
    first = make_client(redis_prefix=settings.redis_prefix)
    elton = api.of(first).enroll("Elton", photo_bytes("elton_john", 0, "train")).expect(201)
    madonna = api.of(first).enroll("Madonna", photo_bytes("madonna", 0, "train")).expect(201)
    client = redis.Redis.from_url(redis_server.url)
    client.hset(f"{settings.redis_prefix}person:{elton['person_id']}:faces", "broken", b"\x01\x02\x03")
    # A new worker on another host reads every stored face: no snapshot of the first worker's
    # (made before the damage, and never holding it) in its folder or in Redis.
    client.delete(f"{settings.redis_prefix}gallery:snapshot")
    restarted = make_client(redis_prefix=settings.redis_prefix, gallery_cache_dir=str(tmp_path))
    result = restarted.post("/recognize", data=photo_bytes("madonna", 0), content_type="image/jpeg").json
    assert result["faces"][0]["match"]["person_id"] == madonna["person_id"]
    assert restarted.get("/readyz").json["ready"] is True
    exported = restarted.get("/gallery/export").json
    faces = {p["name"]: [f["face_id"] for f in p["faces"]] for p in exported["people"]}
    assert "broken" not in faces["Elton"] and len(faces["Elton"]) == 1
    assert "facerec_gallery_unreadable_faces 1.0" in restarted.get("/metrics").data.decode()


def test_readiness_fails_when_the_gallery_cannot_be_loaded(make_client, server_settings, redis_server):
    settings = server_settings()
    redis.Redis.from_url(redis_server.url).set(f"{settings.redis_prefix}people", "not a set")
    client = make_client(redis_prefix=settings.redis_prefix)
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["ready"] is False
    assert "gallery" in ready.json["checks"]["gallery"]
    response = client.post("/recognize", data=photo_bytes("madonna", 0), content_type="image/jpeg")
    message = error_of(response, 503, "redis_error")
    assert "WRONGTYPE" not in message and settings.redis_prefix not in message


# --- 3. names ------------------------------------------------------------------------------

@pytest.mark.parametrize("blank", ["   ", "\t\n", "\u200b", " \u200b\u200d ", "A\x00B", "bell\x07"])
def test_blank_invisible_and_control_names_are_refused(client, blank, api):
    pid = api.enroll("Mindy", photo_bytes("mindy_kaling", 0, "train")).expect(201)["person_id"]
    error_of(client.patch(f"/people/{pid}", json={"name": blank}), 400, "invalid_field")
    error_of(client.post("/enroll", data={"name": blank, "image": (io.BytesIO(photo_bytes("madonna", 0)), "f.jpg")},
                         content_type="multipart/form-data"), 400, "invalid_field")
    assert client.get(f"/people/{pid}").json["name"] == "Mindy"
    still_whole(client)


def test_names_are_unique_whatever_their_case_and_unicode_form(client, api):
    obama = api.enroll("Obama", photo_bytes("madonna", 0, "train")).expect(201)["person_id"]
    assert obama in error_of(client.post("/enroll", data={"name": " obama ", "image": (
        io.BytesIO(photo_bytes("madonna", 0)), "f.jpg")}, content_type="multipart/form-data"), 409, "name_taken")
    cafe = api.enroll("Caf\u00e9", photo_bytes("elton_john", 0, "train")).expect(201)["person_id"]  # é, one code point
    error_of(client.patch(f"/people/{obama}", json={"name": "CAFE\u0301"}), 409, "name_taken")  # E + accent
    renamed = client.patch(f"/people/{cafe}", json={"name": "  caf\u0065\u0301  "})  # same name, other case/form
    assert renamed.status_code == 200 and renamed.json["name"] == "caf\u00e9"       # stored NFC, stripped
    still_whole(client)


# --- 4. tiny requests, huge frames -----------------------------------------------------------

def test_a_tiny_file_claiming_a_huge_frame_is_refused(client):
    bomb = jpeg_claiming(7000, 7000)
    assert len(bomb) < 1000
    message = error_of(client.post("/recognize", data=bomb, content_type="image/jpeg"), 400, "invalid_image")
    assert "7000x7000" in message
    images = [(io.BytesIO(bomb), f"{i}.jpg") for i in range(10)]
    response = client.post("/enroll", data={"name": "Bomb", "image": images}, content_type="multipart/form-data")
    assert "image 1 of 10" in error_of(response, 400, "invalid_image")


def test_the_pixels_of_one_request_are_capped_before_decoding(make_client):
    client = make_client(max_request_pixels=5_000_000)
    frame = encode_jpeg(np.full((1500, 2000, 3), 128, np.uint8))  # 3 M pixels each, plausible size
    images = [(io.BytesIO(frame), f"{i}.jpg") for i in range(2)]
    response = client.post("/enroll", data={"name": "Big", "image": images}, content_type="multipart/form-data")
    assert "MAX_REQUEST_PIXELS" in error_of(response, 413, "too_many_pixels")
    assert client.get("/people").json["count"] == 0


# --- 5. events and a full Redis ---------------------------------------------------------------

def test_event_thumbnails_live_in_the_stream_and_are_bounded_by_size(redis_server):
    from app.events import EventLog
    client = redis.Redis.from_url(redis_server.url)
    events = EventLog(client, "events-size-test:", maxlen=10_000, max_bytes=300_000)
    thumbnail = bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8))
    for i in range(400):
        events.record("door", [{"name": None, "box": [0, 0, 1, 1]}] * 3, [thumbnail] * 3)
    assert client.memory_usage(events.key, samples=0) <= 2 * 300_000  # the budget, and at most 100 more events
    assert client.keys("events-size-test:*") == [events.key.encode()]   # no thumbnail keys beside the stream
    newest = events.recent(1)[0]
    assert events.thumbnail(newest["faces"][2]["thumbnail"]) == thumbnail
    assert events.thumbnail("no-such-thing") is None and events.thumbnail("1-1.999") is None


@pytest.fixture
def small_redis(tmp_path):
    from scripts.processes import start_redis
    port = free_port()
    process = start_redis(tmp_path, port)
    client = redis.Redis(port=port)
    client.config_set("maxmemory-policy", "noeviction")
    yield f"redis://127.0.0.1:{port}/0", client
    process.terminate()
    process.wait(timeout=10)


def test_a_full_redis_still_recognizes_and_lets_people_be_deleted(make_client, small_redis, api):
    url, raw = small_redis
    client = make_client(redis_url=url, redis_prefix="full:")
    api = api.of(client)
    pid = api.enroll("Madonna", photo_bytes("madonna", 0, "train")).expect(201)["person_id"]
    raw.config_set("maxmemory", raw.info("memory")["used_memory"] + 2_000_000)
    filler = bytes(16000)
    try:
        for i in range(10_000):  # events until Redis refuses (what a busy week of frames does)
            raw.xadd("full:events", {"camera_id": "x", "time": "0", "faces": "[]", "thumb:0": filler})
    except redis.OutOfMemoryError:
        pass
    else:
        pytest.fail("Redis never filled up")
    raw.config_set("maxmemory", raw.info("memory")["used_memory"] - 100_000)  # over the limit: no MULTI, no writes
    recognized = client.post("/recognize", data=photo_bytes("madonna", 0), content_type="image/jpeg")
    assert recognized.status_code == 200 and recognized.json["event_id"] is None
    fresh = make_client(redis_url=url, redis_prefix="full:")  # a worker starting now loads the gallery
    assert fresh.post("/recognize", data=photo_bytes("madonna", 0), content_type="image/jpeg").status_code == 200
    assert fresh.get("/people").status_code == 200 and fresh.get(f"/people/{pid}").status_code == 200
    assert recognized.json["faces"][0]["match"]["person_id"] == pid
    full = error_of(client.post("/enroll", data={"name": "Jerry", "image": (io.BytesIO(photo_bytes(
        "jerry_seinfeld", 0, "train")), "f.jpg")}, content_type="multipart/form-data"), 507, "redis_full")
    assert "full:" not in full and "OOM" not in full and "XADD" not in full.upper()
    registered = client.post("/v1/vision/face/register", data={"userid": "Jerry", "image": (io.BytesIO(photo_bytes(
        "jerry_seinfeld", 0, "train")), "f.jpg")}, content_type="multipart/form-data")   # the same for DeepStack's
    assert registered.status_code == 507 and registered.json["success"] is False, registered.json
    assert "full:" not in registered.json["error"] and "OOM" not in registered.json["error"]
    assert client.delete(f"/people/{pid}").status_code == 200      # an operator can free space
    assert client.get("/people").json["count"] == 0
    assert client.post("/recognize", data=photo_bytes("madonna", 0), content_type="image/jpeg").status_code == 200


# --- 6. client mistakes are 4xx, found before any model work -----------------------------------

@pytest.fixture
def no_models(make_client):
    """An app whose model server is gone: a 400 from it proves the check came before the models."""
    from conftest import model_settings
    return make_client(**model_settings(f"127.0.0.1:{free_port()}"),
                       grpc_timeout_s=1.0)


def test_deeply_nested_json_is_a_400(no_models):
    body = "[" * 100_000 + "]" * 100_000
    for method, path in (("POST", "/recognize"), ("POST", "/gallery/import"), ("PATCH", "/people/x"),
                         ("POST", "/api/v1/recognition/recognize"), ("POST", "/api/v1/recognition/faces/delete")):
        response = no_models.open(path, method=method, data=body, content_type="application/json",
                                  headers={"x-api-key": "any"})  # CompreFace's clients always send one
        assert 400 <= response.status_code < 500 and response.is_json, (path, response.status_code)


@pytest.mark.parametrize("field", ["camera_id", "name", "person_id"])
def test_lone_surrogates_are_refused_before_the_models(no_models, field):
    image = base64.b64encode(photo_bytes("madonna", 0)).decode()
    body = '{"image": "%s", "%s": "ab\\ud800cd"}' % (image, field)
    path = "/recognize" if field == "camera_id" else "/enroll"
    error_of(no_models.post(path, data=body, content_type="application/json"), 400, "invalid_field")


def test_odd_query_values_and_ids_are_4xx(client, api):
    error_of(client.get("/events?count=\u00b2"), 400, "bad_request")
    error_of(client.get("/events?count=%EF%BC%95"), 400, "bad_request")  # a full-width digit
    pid = api.enroll("Madonna", photo_bytes("madonna", 0, "train")).expect(201)["person_id"]
    error_of(client.get(f"/people/{pid}:faces"), 404, "person_not_found")
    error_of(client.delete(f"/people/{pid}:thumbs"), 404, "person_not_found")


# --- 8. cross-site writes and the worker header --------------------------------------------------

def test_cross_site_writes_are_refused_without_a_key(make_client, api):
    client = make_client()
    api = api.of(client)
    form = {"name": "Victim", "image": (io.BytesIO(photo_bytes("madonna", 0)), "f.jpg")}
    response = client.post("/enroll", data=form, content_type="multipart/form-data",
                           headers={"Origin": "http://evil.example"})
    assert "evil.example" in error_of(response, 403, "cross_site_request")
    pid = api.enroll("Madonna", photo_bytes("madonna", 0, "train")).expect(201)["person_id"]
    error_of(client.delete(f"/people/{pid}", headers={"Origin": "https://evil.example"}), 403, "cross_site_request")
    assert client.delete(f"/people/{pid}", headers={"Origin": "http://localhost"}).status_code == 200  # same site
    assert client.get("/people", headers={"Origin": "http://evil.example"}).status_code == 200       # reads are fine
    allowed = make_client(allowed_origins="https://ha.example.org")
    assert allowed.post("/enroll", data={"name": "Jerry", "image": (io.BytesIO(photo_bytes("jerry_seinfeld", 0)),
                                                                   "f.jpg")}, content_type="multipart/form-data",
                        headers={"Origin": "https://ha.example.org"}).status_code == 201
    keyed = make_client(api_keys=("k",))
    assert keyed.post("/detect", data=photo_bytes("madonna", 0), content_type="image/jpeg",
                      headers={"Origin": "http://elsewhere.example", "X-API-Key": "k"}).status_code == 200


def test_an_origin_that_is_not_a_url_is_another_site(client):
    """An Origin urlsplit cannot read was a 500 on every write of every surface."""
    for origin in ("http://[::1", "http://[x", "https://[::1]:x"):
        error_of(client.delete("/people/abc", headers={"Origin": origin}), 403, "cross_site_request")
        assert client.post("/v1/vision/face/list", headers={"Origin": origin}).status_code == 403
        assert client.delete("/api/v1/recognition/subjects/x", headers={"Origin": origin}).status_code == 403


def test_made_up_methods_add_no_metric_series(client):
    """The method is a label of facerec_http_requests_total: one series per made-up method let
    anyone grow /metrics (and each worker's metric files) without end."""
    for k in range(5):
        assert client.open("/healthz", method=f"XMADEUP{k}").status_code == 405
    metrics = client.get("/metrics").text
    assert "XMADEUP" not in metrics
    assert 'method="other"' in metrics


def test_the_worker_pid_is_not_told_unless_asked(make_client):
    assert "X-Facerec-Worker" not in make_client().get("/healthz").headers
    assert make_client(worker_header=True).get("/healthz").headers["X-Facerec-Worker"].isdigit()
