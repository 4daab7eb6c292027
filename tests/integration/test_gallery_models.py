"""Galleries that survive a model change: a gallery enrolled by one EMBEDDER is refused by a
worker of another (409 gallery_model_mismatch, /readyz naming both models) until `reembed`
has re-embedded every face from its kept crop; then the same people are recognized. Real
Redis, real models over gRPC, workers sharing one gallery (one key prefix)."""
import base64
import threading
import time
import uuid

import pytest
from api_client import Api

from app.errors import ModelUnavailable
from app.gallery.model_record import LEGACY_MODEL_ID
from samples.photos import PEOPLE, photo_bytes, photos_bytes

PER_PERSON = 3


def enroll_everyone(client, per_person=PER_PERSON):
    """{person: their id}, each enrolled with `per_person` train photos."""
    api = Api(client)
    return {person: api.enroll(person, *photos_bytes(person, (0, 2, 4, 5)[:per_person], "train")).expect(201)[
        "person_id"] for person in PEOPLE}


def names_recognized(client):
    """{person: name matched on their first val photo}."""
    names = {}
    for person in PEOPLE:
        match = Api(client).recognize(photo_bytes(person, 0)).expect(200)["faces"][0]["match"]
        names[person] = match and match["name"]
    return names


def error_code(response, status):
    assert response.status_code == status, response.json
    return response.json["error"]["code"], response.json["error"]["message"]


def reembed_and_wait(client, timeout_s=120):
    started = client.post("/gallery/reembed")
    assert started.status_code in (200, 202), started.json
    deadline = time.monotonic() + timeout_s
    body = started.json
    while body["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
        body = client.get("/gallery/reembed").json
    return started, body


@pytest.fixture
def workers(make_client):
    """make(embedder, **settings) -> a client of a worker on the test's one gallery."""
    prefix = f"models-{uuid.uuid4().hex[:8]}:"
    return lambda embedder, **kw: make_client(embedder=embedder, redis_prefix=prefix, **kw)


def test_a_facenet_gallery_is_refused_by_sface_until_reembedded(workers):
    facenet, sface = workers("facenet"), workers("sface")
    ids = enroll_everyone(facenet)
    before = names_recognized(facenet)
    assert before == {p: p for p in PEOPLE}
    faces = {p: facenet.get(f"/people/{pid}").json["faces"] for p, pid in ids.items()}
    facenet_model, sface_model = facenet.get("/readyz").json["model"], sface.get("/readyz").json["model"]

    ready = sface.get("/readyz")
    assert ready.status_code == 503 and ready.json["gallery_model"] == facenet_model
    assert ready.json["checks"]["gallery"].startswith("gallery_model_mismatch: ")
    assert facenet_model in ready.json["checks"]["gallery"] and sface_model in ready.json["checks"]["gallery"]
    for response in (sface.post("/recognize", data=photo_bytes("madonna", 0), content_type="image/jpeg"),
                     sface.post("/enroll", data=photo_bytes("madonna", 1), content_type="image/jpeg",
                                query_string={"person_id": ids["madonna"]}),
                     sface.post("/verify", data=photo_bytes("madonna", 0), content_type="image/jpeg",
                                query_string={"person_id": ids["madonna"]})):
        code, message = error_code(response, 409)
        assert code == "gallery_model_mismatch" and facenet_model in message and "reembed" in message
    assert sface.get("/people").json["count"] == 5                      # the gallery itself still answers
    assert sface.post("/embed", data=photo_bytes("madonna", 0), content_type="image/jpeg").status_code == 200

    started, done = reembed_and_wait(sface)
    assert started.status_code == 202 and done["status"] == "done", done
    assert (done["people_done"], done["faces_done"], done["from_thumbnails"]) == (5, 5 * PER_PERSON, 0)
    assert done["not_reembedded"] == [] and done["gallery"]["model"] == sface_model
    assert sface.get("/readyz").status_code == 200
    assert names_recognized(sface) == before                            # the same people
    assert {p: sface.get(f"/people/{pid}").json["faces"] for p, pid in ids.items()} == faces   # same face ids
    code, message = error_code(facenet.post("/recognize", data=photo_bytes("madonna", 0),
                                            content_type="image/jpeg"), 409)   # now the FaceNet worker is refused
    assert code == "gallery_model_mismatch" and facenet.get("/readyz").status_code == 503
    again = sface.post("/gallery/reembed")
    assert again.status_code == 200 and again.json["status"] == "done"  # nothing left to do


def test_a_second_worker_of_the_new_model_follows_the_switch(workers):
    facenet = workers("facenet")
    enroll_everyone(facenet)
    one, other = workers("sface"), workers("sface")
    assert error_code(other.post("/recognize", data=photo_bytes("elton_john", 0), content_type="image/jpeg"),
                      409)[0] == "gallery_model_mismatch"
    assert reembed_and_wait(one)[1]["status"] == "done"
    assert names_recognized(other) == {p: p for p in PEOPLE}


def test_an_empty_gallery_adopts_the_model_of_its_first_enrollment(workers):
    sface, facenet = workers("sface"), workers("facenet")
    assert sface.get("/readyz").json["gallery_model"] is None and facenet.get("/readyz").status_code == 200
    response = sface.post("/enroll", data=photo_bytes("madonna", 0, "train"), content_type="image/jpeg",
                          query_string={"name": "Madonna"})
    assert response.status_code == 201
    assert sface.get("/readyz").json["gallery_model"] == sface.get("/readyz").json["model"]
    assert facenet.get("/readyz").status_code == 503
    pid = response.json["person_id"]
    assert sface.delete(f"/people/{pid}").status_code == 200       # empty again: anyone may enroll
    assert facenet.post("/enroll", data=photo_bytes("madonna", 0, "train"), content_type="image/jpeg",
                        query_string={"name": "Madonna"}).status_code == 201
    assert facenet.get("/readyz").json["gallery_model"] == facenet.get("/readyz").json["model"]


def test_reembedding_resumes_after_an_interruption_without_losing_or_repeating_a_face(workers, monkeypatch):
    from app.usecases import reembed
    facenet, sface = workers("facenet"), workers("sface")
    ids = enroll_everyone(facenet)
    faces = {p: facenet.get(f"/people/{pid}").json["faces"] for p, pid in ids.items()}
    monkeypatch.setattr(reembed, "BATCH_FACES", PER_PERSON)               # one person per model call
    network = sface.application.extensions["facerec"].pipeline.embedder
    real, embedded, calls = network.embed_inputs, [], []
    gate, checked = threading.Event(), threading.Event()

    def failing_third_call(inputs):
        calls.append(len(inputs["sface"]))
        if len(calls) == 2:       # hold the run: the server must keep answering meanwhile
            gate.set()
            checked.wait(30)
        if len(calls) == 3:
            raise ModelUnavailable("sface", "model 'sface' at test is unreachable: pulled for the test")
        embedded.append(len(inputs["sface"]))
        return real(inputs)
    monkeypatch.setattr(network, "embed_inputs", failing_third_call)

    assert sface.post("/gallery/reembed").status_code == 202
    assert gate.wait(30)
    progress = sface.get("/gallery/reembed").json
    assert progress["status"] == "running" and progress["people_done"] == 1
    assert sface.post("/gallery/reembed").json["status"] == "running"   # one run at a time
    assert error_code(sface.post("/recognize", data=photo_bytes("madonna", 0), content_type="image/jpeg"),
                      409)[0] == "gallery_model_mismatch"
    assert "reembedding" in sface.get("/readyz").json["checks"]["gallery"]
    assert sface.get("/readyz").status_code == 200 and sface.get("/people").json["count"] == 5
    checked.set()
    deadline = time.monotonic() + 30
    while sface.get("/gallery/reembed").json["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    stopped = sface.get("/gallery/reembed").json
    assert stopped["status"] == "interrupted" and "pulled for the test" in stopped["error"]
    assert stopped["people_done"] == 2 and stopped["faces_done"] == 2 * PER_PERSON

    monkeypatch.setattr(network, "embed_inputs", lambda inputs: embedded.append(len(inputs["sface"])) or real(inputs))
    _, done = reembed_and_wait(sface)
    assert done["status"] == "done" and (done["people_done"], done["faces_done"]) == (5, 5 * PER_PERSON)
    assert sum(embedded) == 5 * PER_PERSON                                 # each face embedded once
    assert {p: sface.get(f"/people/{pid}").json["faces"] for p, pid in ids.items()} == faces
    assert names_recognized(sface) == {p: p for p in PEOPLE}


def test_a_gallery_from_before_crops_is_reembedded_from_its_thumbnails(workers, redis_server):
    """No model record and no crops (a gallery written before this change): taken to be FaceNet
    box+10%; re-embedded from the thumbnails where the face is found; a face without anything
    to re-embed from is removed and reported."""
    import redis
    facenet = workers("facenet")
    ids = enroll_everyone(facenet, per_person=2)
    prefix = facenet.application.extensions["facerec"].settings.redis_prefix
    r = redis.Redis.from_url(redis_server.url)
    r.delete(prefix + "gallery:model", *(f"{prefix}person:{pid}:crops" for pid in ids.values()))
    lost = r.hkeys(f"{prefix}person:{ids['jerry_seinfeld']}:faces")[0].decode()
    r.hdel(f"{prefix}person:{ids['jerry_seinfeld']}:thumbs", lost)
    assert facenet.get("/readyz").json["gallery_model"] == LEGACY_MODEL_ID

    sface = workers("sface")
    assert LEGACY_MODEL_ID in sface.get("/readyz").json["checks"]["gallery"]
    _, done = reembed_and_wait(sface)
    assert done["status"] == "done" and done["faces_done"] == done["from_thumbnails"] == 9
    assert done["not_reembedded"] == [{"person_id": ids["jerry_seinfeld"], "face_id": lost,
                                       "reason": "no face crop and no thumbnail was kept; enroll a new photo of "
                                                 "this person"}]
    assert lost not in sface.get(f"/people/{ids['jerry_seinfeld']}").json["faces"]
    recognized = names_recognized(sface)
    assert sum(recognized[p] == p for p in PEOPLE) >= 4 and all(n in (None, p) for p, n in recognized.items())


def test_export_and_import_carry_crops_and_the_model_to_a_server_of_another_model(workers, make_client):
    facenet = workers("facenet")
    enroll_everyone(facenet, per_person=2)
    exported = facenet.get("/gallery/export").json
    assert exported["model"] == facenet.get("/readyz").json["model"]
    face = exported["people"][0]["faces"][0]
    assert base64.b64decode(face["crop"]["image"])[:2] == b"\xff\xd8"
    assert len(face["crop"]["box"]) == 4 and len(face["crop"]["landmarks"]) == 5

    elsewhere = make_client(embedder="facenet+sface")                 # another server, its own empty gallery
    report = elsewhere.post("/gallery/import", json=exported)
    assert report.status_code == 200 and report.json["faces_added"] == 10
    ready = elsewhere.get("/readyz")
    assert ready.status_code == 503 and ready.json["gallery_model"] == exported["model"]
    _, done = reembed_and_wait(elsewhere)
    assert done["status"] == "done" and done["faces_done"] == 10 and done["from_thumbnails"] == 0
    assert names_recognized(elsewhere) == {p: p for p in PEOPLE}
    again = elsewhere.get("/gallery/export").json
    assert again["model"] == elsewhere.get("/readyz").json["model"]
    assert len(base64.b64decode(again["people"][0]["faces"][0]["embedding"])) == 256 * 4

    refused = elsewhere.post("/gallery/import", json=exported)          # now a gallery of another model
    code, message = error_code(refused, 409)
    assert code == "model_mismatch" and exported["model"] in message


def test_a_malformed_crop_in_an_import_is_refused(workers, make_client):
    facenet = workers("facenet")
    enroll_everyone(facenet, per_person=1)
    exported = facenet.get("/gallery/export").json
    target = make_client(embedder="facenet")
    bad = exported["people"][0]["faces"][0]
    for crop, expected in (({**bad["crop"], "image": base64.b64encode(b"GIF89a").decode()}, "not a JPEG"),
                           ({**bad["crop"], "landmarks": [[1.0]] * 5}, "5 pairs"),
                           ({**bad["crop"], "image": "***"}, "not base64")):
        body = {**exported, "people": [{**exported["people"][0], "faces": [{**bad, "crop": crop}]}]}
        code, message = error_code(target.post("/gallery/import", json=body), 400)
        assert expected in message
    assert target.get("/people").json["count"] == 0


def test_the_command_line_reembeds_and_waits(live_server):
    from click.testing import CliRunner

    from app.cli import cli
    prefix = f"cli-{uuid.uuid4().hex[:8]}:"
    facenet, sface = live_server(embedder="facenet", redis_prefix=prefix), live_server(embedder="sface",
                                                                                       redis_prefix=prefix)
    import requests
    for person in ("madonna", "elton_john"):
        requests.post(f"{facenet.url}/enroll", data={"name": person}, timeout=30,
                      files={"image": ("f.jpg", photo_bytes(person, 0, "train"))}).raise_for_status()
    result = CliRunner().invoke(cli, ["--url", sface.url, "reembed", "--poll", "0.1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "re-embedding 2 people to sface-" in result.output and "2 faces of 2 people re-embedded" in result.output
    again = CliRunner().invoke(cli, ["--url", sface.url, "reembed"], catch_exceptions=False)
    assert again.exit_code == 0 and "nothing to do" in again.output
    assert requests.get(f"{facenet.url}/readyz", timeout=10).json()["ready"] is False
    back = CliRunner().invoke(cli, ["--url", facenet.url, "reembed", "--poll", "0.1"], catch_exceptions=False)
    assert back.exit_code == 0 and "2 faces of 2 people re-embedded" in back.output   # and back to FaceNet
    assert requests.get(f"{facenet.url}/readyz", timeout=10).json()["ready"] is True


def test_a_run_whose_worker_died_says_interrupted_and_resumes(workers, redis_server):
    """A worker killed mid-run leaves the state "running" and its lock to expire: without the
    lock the state reads "interrupted", and the next POST takes the run over."""
    import redis
    facenet, sface = workers("facenet"), workers("sface")
    enroll_everyone(facenet, per_person=1)
    s = sface.application.extensions["facerec"]
    from app.gallery.model_record import REEMBEDDING, ModelRecord
    from app.gallery.reembed_state import ReembedState
    from app.usecases.reembed import _begin
    state = ReembedState(s.redis, s.settings.redis_prefix)
    _begin(s, state, s.store.model_record()[0])      # what a worker does before its thread starts
    assert s.store.model_record()[0].state == REEMBEDDING
    assert sface.get("/gallery/reembed").json["status"] == "interrupted"   # no thread, no lock
    assert redis.Redis.from_url(redis_server.url).exists(state.lock_key) == 0
    _, done = reembed_and_wait(sface)
    assert done["status"] == "done" and done["faces_done"] == 5 and done["people_done"] == 5
    assert s.store.model_record()[0] == ModelRecord(s.store.model, generation=s.store.model_record()[0].generation)


def test_a_default_gallery_moves_to_yunet_onet_with_dlib_sface(workers):
    """The upgrade to the faster configuration (docs/frame-cost.md): the default's gallery,
    re-embedded from its kept crops, knows the same people."""
    default = workers("facenet+sface")
    ids = enroll_everyone(default)
    before = names_recognized(default)
    fast = workers("dlib+sface", preprocessor="yunet+onet")
    assert fast.get("/readyz").status_code == 503                        # another model id: refused until then
    started, done = reembed_and_wait(fast)
    assert done["status"] == "done" and done["not_reembedded"] == [], done
    assert (done["people_done"], done["faces_done"]) == (len(ids), len(ids) * PER_PERSON)
    model = fast.get("/readyz").json["model"]
    assert done["gallery"]["model"] == model and model.startswith("dlib-resnet-v1/")
    assert names_recognized(fast) == before == {p: p for p in PEOPLE}
