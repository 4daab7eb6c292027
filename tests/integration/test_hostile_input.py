"""Hostile input on the new surfaces (issue 23): huge numbers, image checks on every decode path,
deep JSON, import files that lie about their vectors or carry huge text, corrections the event
cannot back, keys in URLs, oversized batches. Each test names the hole it keeps closed. Real
Redis, real models over gRPC."""
import base64
import io
import json
import tracemalloc
import uuid

import numpy as np
import pytest
from images import jpeg_claiming
from test_hostile import error_of, gallery_file

from app.gallery import NewFace
from samples.photos import encode_jpeg, photo_bytes
from samples.vectors import unit

HUGE = "1" + "0" * 400
CF = {"x-api-key": "any"}


def a_face(client, face_id):
    """A face of the server's own vector size (app.extensions: the worker's store)."""
    vector = np.random.default_rng(0).standard_normal(client.application.extensions["facerec"].store.dim)
    vector = (vector / np.linalg.norm(vector)).astype("<f4")
    return {"face_id": face_id, "embedding": base64.b64encode(vector.tobytes()).decode(), "thumbnail": ""}


def cf_error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert set(response.json) == {"message", "code"}
    return response.json["message"]


@pytest.mark.parametrize("value", [HUGE, "-" + HUGE, "9" * 5000, "1e400"],
                         ids=["huge", "-huge", "5000 digits", "1e400"])
def test_huge_numbers_are_4xx_naming_the_range_on_every_surface(client, value):
    """Hole 1: huge integers on every numeric parameter -> 4xx naming the parameter and its range."""
    photo = photo_bytes("madonna", 0)
    for path in ("/api/v1/recognition/recognize", "/api/v1/detection/detect"):
        for name in ("limit", "prediction_count", "det_prob_threshold"):
            if name == "prediction_count" and "detect" in path:
                continue
            response = client.post(f"{path}?{name}={value}", data={"file": (io.BytesIO(photo), "a.jpg")},
                                   headers=CF, content_type="multipart/form-data")
            message = cf_error(response, 400)
            assert name in message and "between" in message, message
    for query in ("page", "size"):
        message = cf_error(client.get(f"/api/v1/recognition/faces?{query}={value}", headers=CF), 400)
        assert query in message and "1000" in message
    response = client.post("/v1/vision/face", data={"image": (io.BytesIO(photo), "a.jpg"), "min_confidence": value},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and "min_confidence" in response.json["error"]
    for path, name in (("/events", "count"), ("/visitors", "offset"), ("/visitors", "count")):
        message = error_of(client.get(f"{path}?{name}={value}"), 400, "bad_request")
        assert f"`{name}`" in message and " to " in message
    error_of(client.post("/corrections", json={"event_id": "1-0", "face_index": int(HUGE), "name": "X"}),
             400, "bad_request")


def test_the_verify_routes_cap_pixels_with_a_small_request_limit(make_client, api):
    """Hole 2: CompreFace's two verify routes, DeepStack's match and native /verify answer the same
    413 too_many_pixels for the same pair."""
    client = make_client(max_request_pixels=5_000_000)
    frame = encode_jpeg(np.full((1500, 2000, 3), 128, np.uint8))   # 3 M pixels each
    pair = lambda *names: {n: (io.BytesIO(frame), f"{n}.jpg") for n in names}  # noqa: E731
    response = client.post("/api/v1/verification/verify", data=pair("source_image", "target_image"), headers=CF,
                           content_type="multipart/form-data")
    assert "MAX_REQUEST_PIXELS" in cf_error(response, 413)
    response = client.post("/v1/vision/face/match", data=pair("image1", "image2"), content_type="multipart/form-data")
    assert response.status_code == 413 and "MAX_REQUEST_PIXELS" in response.json["error"]
    response = client.post("/verify", data={"image": [(io.BytesIO(frame), "a.jpg"), (io.BytesIO(frame), "b.jpg")]},
                           content_type="multipart/form-data")
    error_of(response, 413, "too_many_pixels")
    small = make_client(max_request_pixels=2_000_000, max_image_pixels=2_000_000)
    face = api.of(small).enroll("Madonna", photo_bytes("madonna", 0, "train")).expect(201)["faces"][0]["face_id"]
    response = small.post(f"/api/v1/recognition/faces/{face}/verify", data={"file": (io.BytesIO(frame), "a.jpg")},
                          headers=CF, content_type="multipart/form-data")
    assert cf_error(response, 413)


@pytest.mark.parametrize("path", ["/gallery/import", "/recognize", "/corrections", "/visitors/x/name",
                                  "/api/v1/recognition/recognize", "/api/v1/recognition/faces/delete",
                                  "/api/v1/recognition/subjects"])
def test_deep_json_is_refused_before_parsing_in_constant_memory(client, path):
    """Hole 3: a deeply nested body is refused (400) before any parser builds it, on every JSON
    body: the Python memory the request allocates stays far below the body's nesting cost."""
    body = b"[" * 200_000 + b"]" * 200_000
    tracemalloc.start()
    try:
        response = client.post(path, data=body, content_type="application/json", headers=CF)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    if path.endswith("/delete"):   # a 400 KB body is over this route's own cap first
        assert response.status_code == 413
    else:
        assert response.status_code == 400, response.get_data(as_text=True)[:200]
        assert "nests deeper" in response.get_data(as_text=True)
    assert peak < 24 << 20, peak   # the body and a few chunk-sized arrays (a worker grew by 20 GB before)
    nested = {"a": 1}
    for _ in range(40):
        nested = {"a": nested}
    assert client.post(path, json=nested, headers=CF).status_code == 400
    # Python's json reads UTF-16 too; the gauge counts UTF-8 bytes: a UTF-16 body whose characters
    # hold quote and bracket bytes (U+4E22 is 22 4E, U+5D5D is 5D 5D) would read as shallow
    utf16 = json.dumps({"x": "\u4e22" + "\u5d5d" * 40 + "\u4e22", "y": nested}, ensure_ascii=False).encode("utf-16-le")
    response = client.post(path, data=utf16, content_type="application/json", headers=CF)
    said = response.get_data(as_text=True)
    assert response.status_code == 400 and ("nests deeper" in said or "UTF-8" in said), said[:200]


def test_an_import_of_vectors_of_another_size_is_refused(client, api):
    """Hole 4: 64-d vectors under the server's own model id: 422, nothing written, dim kept."""
    madonna = api.enroll("Madonna", photo_bytes("madonna", 0, "train")).expect(201)
    file = gallery_file(client, [{"person_id": "p64", "name": "Short", "faces": [
        {"face_id": "f64", "embedding": base64.b64encode((np.ones(64, "<f4") / 8).tobytes()).decode(),
         "thumbnail": ""}]}])
    assert "64 values" in error_of(client.post("/gallery/import", json=file), 422, "invalid_gallery")
    assert client.get("/gallery/reembed").json["gallery"]["dim"] == client.application.extensions["facerec"].store.dim
    exported = client.get("/gallery/export").json["people"]
    assert [(p["person_id"], len(p["faces"])) for p in exported] == [(madonna["person_id"], 1)]


def test_an_import_into_an_empty_gallery_of_our_model_id_keeps_its_size(client):
    """Hole 4: into an empty gallery too, our model id with vectors of another size is refused."""
    model = client.get("/gallery/reembed").json["worker_model"]
    file = {"format": "facerec-gallery/1", "model": model, "people": [{"person_id": "p", "name": "P", "faces": [
        {"face_id": "f", "embedding": base64.b64encode((np.ones(64, "<f4") / 8).tobytes()).decode()}]}]}
    error_of(client.post("/gallery/import", json=file), 422, "invalid_gallery")
    assert client.get("/people").json["count"] == 0


@pytest.mark.parametrize("model", ["m" * 100_000, "a\nb", "a\u00e9b", ""], ids=["100k", "newline", "accent", "empty"])
def test_import_text_fields_are_checked_and_never_echoed(client, model):
    """Hole 5: a huge or odd model id is refused (400) without being echoed or adopted."""
    file = {"format": "facerec-gallery/1", "model": model, "people": [{"person_id": "p", "name": "P",
                                                                        "faces": [a_face(client, "f")]}]}
    response = client.post("/gallery/import", json=file)
    error_of(response, 400, "bad_request")
    assert len(response.data) < 2000
    assert client.get("/readyz").status_code == 200 and len(client.get("/readyz").data) < 5000
    long_date = gallery_file(client, [{"person_id": "p", "name": "P", "created_at": "x" * 10_000,
                                       "faces": [a_face(client, "f")]}])
    response = client.post("/gallery/import", json=long_date)
    error_of(response, 400, "bad_request")
    assert len(response.data) < 2000
    assert client.get("/people").json["count"] == 0


def _event_with_faces(client, faces: int, dim: int | None = None) -> str:
    """An event as a worker writes it: `faces` faces, thumbnails for the first 20."""
    s = client.application.extensions["facerec"]
    rng, dim = np.random.default_rng(0), dim or s.store.dim
    vectors = rng.standard_normal((faces, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    thumb = encode_jpeg(np.full((96, 96, 3), 90, np.uint8))
    entries = [{"person_id": None, "name": None, "distance": None, "box": [0, 0, 10, 10]} for _ in range(faces)]
    return s.events.record("cam", entries, [thumb] * faces, vectors)


def test_a_face_past_the_twentieth_is_corrected(client):
    """Hole 10: corrections of faces past the 20th of a frame (no thumbnail kept) work, never 500."""
    event = _event_with_faces(client, 24)
    response = client.post("/corrections", json={"event_id": event, "face_index": 21, "name": "Face 21"})
    assert response.status_code == 201, response.json
    pid = response.json["person_id"]
    face = response.json["face_id"]
    assert client.get(f"/people/{pid}/faces/{face}/thumbnail").status_code == 404   # none was kept
    assert client.post("/corrections", json={"event_id": event, "face_index": 3, "name": "Face 3"}).status_code == 201


def test_a_correction_of_an_event_of_another_model_is_a_409(client, api):
    """Hole 11: an event written by a worker of another model (64-d) -> 409 gallery_model_mismatch."""
    api.enroll("Madonna", photo_bytes("madonna", 0, "train")).expect(201)
    event = _event_with_faces(client, 2, dim=64)
    for body in ({"name": "New"}, {"not_person_id": client.get("/people").json["people"][0]["person_id"]}):
        error_of(client.post("/corrections", json={"event_id": event, "face_index": 0, **body}), 409,
                 "gallery_model_mismatch")


def test_a_crop_claiming_a_huge_frame_is_refused_on_import(client):
    """Hole 12: crops and thumbnails of an import pass the upload checks (pixels from the header)."""
    face = a_face(client, "f1")
    face["crop"] = {"image": base64.b64encode(jpeg_claiming(10000, 10000)).decode(), "box": [0, 0, 10, 10],
                    "landmarks": [[1, 1]] * 5}
    file = gallery_file(client, [{"person_id": "p", "name": "P", "faces": [face]}])
    assert "crop" in error_of(client.post("/gallery/import", json=file), 400, "bad_request")
    face.pop("crop")
    face["thumbnail"] = base64.b64encode(jpeg_claiming(10000, 10000)).decode()
    assert "thumbnail" in error_of(client.post("/gallery/import", json=file), 400, "bad_request")
    assert client.get("/people").json["count"] == 0


def test_reembed_checks_a_stored_crop_before_decoding_and_lists_it(make_client, server_settings, redis_server, api):
    """Hole 12: a bomb crop already in Redis is not decoded by reembed; the face is listed in
    not_reembedded (no grey frame is embedded)."""
    import time

    import redis as redis_lib

    from app.pipeline.enrolled_crop import EnrolledCrop
    settings = server_settings()
    facenet = make_client(redis_prefix=settings.redis_prefix)
    pid = api.of(facenet).enroll("Madonna", photo_bytes("madonna", 0, "train")).expect(201)["person_id"]
    r = redis_lib.Redis.from_url(redis_server.url)
    fid = r.hkeys(f"{settings.redis_prefix}person:{pid}:faces")[0].decode()
    bomb = EnrolledCrop(jpeg_claiming(10000, 10000), np.array([0, 0, 10, 10], np.float32),
                        np.ones((5, 2), np.float32)).to_bytes()
    r.hset(f"{settings.redis_prefix}person:{pid}:crops", fid, bomb)
    r.hdel(f"{settings.redis_prefix}person:{pid}:thumbs", fid)
    sface = make_client(redis_prefix=settings.redis_prefix, embedder="sface")
    assert sface.post("/gallery/reembed").status_code in (200, 202)
    for _ in range(300):
        status = sface.get("/gallery/reembed").json
        if status["status"] in ("done", "interrupted"):
            break
        time.sleep(0.1)
    assert status["status"] == "done", status
    assert [(f["person_id"], f["face_id"]) for f in status["not_reembedded"]] == [(pid, fid)]


def test_deepstack_keys_are_not_taken_from_the_query_string(make_client):
    """Hole 13: api_key from the form field or the header, never from the URL, on every surface."""
    client = make_client(api_keys=("k1",))
    assert client.post("/v1/vision/face/list?api_key=k1").status_code == 401
    assert client.post("/v1/vision/face/list", data={"api_key": "k1"}).status_code == 200
    assert client.post("/v1/vision/face/list", headers={"X-API-Key": "k1"}).status_code == 200
    assert client.get("/api/v1/recognition/subjects?x-api-key=k1").status_code == 400   # CompreFace: header only
    assert client.get("/api/v1/recognition/subjects?api_key=k1").status_code == 400
    assert client.get("/api/v1/recognition/subjects", headers={"x-api-key": "k1"}).status_code == 200
    assert client.get("/people?api_key=k1").status_code == 401                          # native: header only
    assert client.get("/people", headers={"X-API-Key": "k1"}).status_code == 200


def test_the_compreface_delete_batch_is_capped(client):
    """Also noticed: POST /faces/delete takes at most 1000 ids (413 beyond), the body is capped too."""
    ids = [f"{i:032x}" for i in range(1001)]
    assert "1000" in cf_error(client.post("/api/v1/recognition/faces/delete", json=ids, headers=CF), 413)
    response = client.post("/api/v1/recognition/faces/delete", json=["x" * 100] * 1000, headers=CF)
    assert response.status_code == 413
    assert client.post("/api/v1/recognition/faces/delete", json=ids[:1000], headers=CF).status_code == 200


def test_a_reembed_post_that_loses_the_race_says_running(make_client, server_settings, redis_server, api):
    """Also noticed: a POST /gallery/reembed that finds the lock held (a run starting, its state not
    yet written) answers "running", never "idle"."""
    import redis as redis_lib

    from app.gallery.reembed_state import ReembedState
    settings = server_settings()
    facenet = api.of(make_client(redis_prefix=settings.redis_prefix, embedder="facenet"))
    facenet.enroll("Madonna", photo_bytes("madonna", 0, "train")).expect(201)
    sface = make_client(redis_prefix=settings.redis_prefix, embedder="sface")
    state = ReembedState(redis_lib.Redis.from_url(redis_server.url), settings.redis_prefix)
    lock = state.lock(60)
    assert lock.acquire(blocking=False)   # the winner, between taking the lock and writing its state
    try:
        response = sface.post("/gallery/reembed")
        assert response.status_code == 200 and response.json["status"] == "running", response.json
    finally:
        lock.release()


# --- a second probe: names, text, numbers and sizes that slipped through ---------------------

LOOK_ALIKES = ["Ben\u200b", "B\u00aden", "Ben\u2060", "Ben\ufe0f", "\u202eneB", "Ben\U000e0041", "Ben\u200d"]
SHOW_NOTHING = ["\u3164", "\u2800", "\uffa0", "\u115f"]


@pytest.mark.parametrize("name", LOOK_ALIKES + SHOW_NOTHING)
def test_names_that_look_like_another_or_show_nothing_are_refused_everywhere(client, api, name):
    """Each was a second person whose name renders as "Ben" (or as nothing) beside Ben."""
    image = photo_bytes("ben_afflek", 1, "train")
    error_of(api.enroll(name, image), 400, "invalid_field")
    assert client.post("/api/v1/recognition/subjects", json={"subject": name}).status_code == 400
    register = client.post("/v1/vision/face/register", data={"userid": name, "image": (io.BytesIO(image), "a.jpg")},
                           content_type="multipart/form-data")
    assert register.status_code == 400 and register.json["success"] is False
    pid = api.enroll("Ben", image).expect(201)["person_id"]
    error_of(client.patch(f"/people/{pid}", json={"name": name}), 400, "invalid_field")
    assert [p["name"] for p in api.people().expect()["people"]] == ["Ben"]


def test_names_that_need_their_joiners_are_kept(api):
    image = photo_bytes("ben_afflek", 1, "train")
    family, heart, persian = ("\U0001f468\u200d\U0001f469\u200d\U0001f467", "\u2764\ufe0f",
                              "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645")
    for name in (family, heart, persian):
        assert api.enroll(name, image).expect(201)["name"] == name


def test_text_that_was_not_utf8_is_refused_not_stored_garbled(client):
    """werkzeug decodes a form field that is not UTF-8 with U+FFFD in place of each bad byte: a
    Latin-1 "José" was stored as "Jos\ufffd"."""
    image = photo_bytes("elton_john", 1, "train")
    body = (b"--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nJos\xe9\r\n"
            b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n"
            b"Content-Type: image/jpeg\r\n\r\n" + image + b"\r\n--b--\r\n")
    assert "UTF-8" in error_of(client.post("/enroll", data=body, content_type="multipart/form-data; boundary=b"),
                               400, "invalid_field")
    deepstack = client.post("/v1/vision/face/register", data=body.replace(b'name="name"', b'name="userid"'),
                            content_type="multipart/form-data; boundary=b")
    assert deepstack.status_code == 400
    camera = client.post("/recognize", data=body.replace(b'name="name"', b'name="camera_id"'),
                         content_type="multipart/form-data; boundary=b")
    error_of(camera, 400, "invalid_field")
    assert client.get("/people").json["count"] == 0


def test_a_name_is_measured_once_normalised_on_every_surface(client, api):
    """150 characters once composed (300 code points as sent): the native API refused what the
    compatibility APIs took."""
    name = "e\u0301" * 150
    image = photo_bytes("madonna", 0, "train")
    assert api.enroll(name, image).expect(201)["name"] == "\u00e9" * 150
    assert "at most 200" in error_of(api.enroll("e\u0301" * 201, image), 400, "invalid_field")
    assert "blank" in error_of(api.enroll("\u3000", image), 400, "invalid_field")


def test_a_form_of_many_parts_or_a_long_text_field_is_not_called_a_large_body(client):
    image = photo_bytes("madonna", 0)
    parts = {f"f{k}": "x" for k in range(1001)}
    many = client.post("/detect", data={**parts, "image": (io.BytesIO(image), "a.jpg")},
                       content_type="multipart/form-data")
    assert "parts" in error_of(many, 413, "request_entity_too_large")
    long = client.post("/enroll", data={"name": "x" * 600_000, "image": (io.BytesIO(image), "a.jpg")},
                       content_type="multipart/form-data")
    assert "text field" in error_of(long, 413, "request_entity_too_large")


@pytest.mark.parametrize("index", [True, "1", 1.0, "0"])
def test_a_face_index_must_be_a_json_integer(client, index):
    client.post("/recognize", data=photo_bytes("jerry_seinfeld", 0), content_type="image/jpeg")
    event = client.get("/events?count=1").json["events"][0]["event_id"]
    body = {"event_id": event, "face_index": index, "name": "X"}
    error_of(client.post("/corrections", json=body), 400, "bad_request")
    assert client.get("/people").json["count"] == 0


@pytest.mark.parametrize("stamp", ["\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660",
                                   "\uff11\uff17\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10", "1_700_000_000"])
def test_a_timestamp_is_written_in_ascii(client, stamp):
    error_of(client.post(f"/recognize?timestamp={stamp}", data=photo_bytes("madonna", 0), content_type="image/jpeg"),
             400, "invalid_field")


def test_an_imported_created_at_is_a_time_or_dropped(client):
    """Any text was stored and shown back on GET /people; now a time is kept, other text dropped
    (the import dates the person), and the file still imported (a restore must work)."""
    file = gallery_file(client, [{"person_id": "imp1", "name": "Imp One", "created_at": "\u0000\u202e<b>x</b>",
                                  "faces": []},
                                 {"person_id": "imp2", "name": "Imp Two", "created_at": "2026-01-31T12:00:00+00:00",
                                  "faces": []}])
    assert client.post("/gallery/import", json=file).json["people_created"] == 2
    assert client.get("/people/imp1").json["created_at"].startswith("20")
    assert client.get("/people/imp2").json["created_at"] == "2026-01-31T12:00:00+00:00"


def test_a_name_taken_is_told_as_it_is_stored(client, api):
    """"SS" is "ß" to the name index (case folded): the 409 named "SS", which no one is called."""
    image = photo_bytes("madonna", 0, "train")
    pid = api.enroll("Stra\u00dfe", image).expect(201)["person_id"]
    message = error_of(api.enroll("STRASSE", image), 409, "name_taken")
    assert "'Stra\u00dfe'" in message and pid in message
    other = api.enroll("Other", image).expect(201)["person_id"]
    assert "'Stra\u00dfe'" in error_of(client.patch(f"/people/{other}", json={"name": "strasse"}), 409, "name_taken")


def test_a_batch_delete_with_an_id_no_face_can_have_deletes_the_others_and_says_which(client):
    """Third probe: a lone surrogate among CompreFace's ids to delete was a 500 after the ids
    before it were deleted; an id that cannot be ours is no face (ignored, as unknown ids are)."""
    store = client.application.extensions["facerec"].store
    _, (fid,) = store.create_person("Ada", [NewFace(unit(1, np.random.default_rng(3), store.dim)[0])])
    body = json.dumps([str(uuid.UUID(hex=fid)), "\ud800", "x" * 5000])
    response = client.post("/api/v1/recognition/faces/delete", data=body, content_type="application/json", headers=CF)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.json == [{"image_id": str(uuid.UUID(hex=fid)), "subject": "Ada"}]


def test_each_compreface_image_id_is_one_face(client):
    """Third probe: an imported face id that was another face's id in upper case (or dashed
    otherwise) showed as that face's image id, and deleting it deleted the other person's face.
    Now only our own 32-hex ids show dashed, and an import refuses face ids in that dashed form."""
    store = client.application.extensions["facerec"].store
    madonna, (fid,) = store.create_person("Madonna", [NewFace(unit(1, np.random.default_rng(4), store.dim)[0])])
    file = gallery_file(client, [{"person_id": "collider", "name": "Collider", "faces": [a_face(client, fid.upper())]}])
    assert client.post("/gallery/import", json=file).status_code == 200
    listed = {f["image_id"]: f["subject"] for f in client.get("/api/v1/recognition/faces", headers=CF).json["faces"]}
    assert listed == {str(uuid.UUID(hex=fid)): "Madonna", fid.upper(): "Collider"}
    deleted = client.delete(f"/api/v1/recognition/faces/{fid.upper()}", headers=CF)
    assert deleted.status_code == 200 and deleted.json["subject"] == "Collider"
    assert store.person(madonna)["faces"] == [fid]
    dashed = str(uuid.uuid4())
    file["people"][0].update(person_id="dashed", name="Dashed", faces=[a_face(client, dashed)])
    assert dashed in error_of(client.post("/gallery/import", json=file), 422, "invalid_gallery")


def test_a_deepstack_delete_names_userid_in_its_refusal(client):
    """Third probe: a bad `userid` on /v1/vision/face/delete was refused naming `subject`."""
    response = client.post("/v1/vision/face/delete", data={"userid": "a\x01b"})
    assert response.status_code == 400 and "`userid`" in response.json["error"], response.json
