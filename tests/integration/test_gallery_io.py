"""GET /gallery/export and POST /gallery/import stream: a round trip keeps every person,
embedding and thumbnail; an import checks the whole file before writing anything; and a
server moving a 100k-face gallery out and back in grows by a few MB, not by the file."""
import base64
import codecs
import json
import os
import subprocess
import sys
import threading
import time
import uuid

import numpy as np
import pytest
import redis
import requests

from app.gallery import NewFace
from app.gallery.codec import encode_vector
from samples.photos import encode_jpeg
from samples.vectors import unit
from scripts.processes import free_port, http_answers, wait_until
from scripts.pypi_assets import ROOT


def gallery_of(app) -> dict:
    """{pid: (name, {fid: (embedding, thumbnail)})} from the app's export."""
    response = app.test_client().get("/gallery/export")
    assert response.status_code == 200 and response.is_streamed
    body = json.loads(response.get_data())
    return {p["person_id"]: (p["name"], {f["face_id"]: (f["embedding"], f["thumbnail"]) for f in p["faces"]})
            for p in body["people"]}, body


def test_export_streams_and_an_import_brings_back_everything(make_app):
    rng = np.random.default_rng(0)
    source, target = make_app(), make_app()
    store = source.extensions["facerec"].store
    for p in range(30):
        faces = [NewFace(v, thumbnail=encode_jpeg(np.full((16, 16, 3), p * 3 + i, np.uint8)))   # imports take JPEGs
                 for i, v in enumerate(unit(3, rng, store.dim))]
        store.create_person(f"Person {p} é", faces)
    exported, body = gallery_of(source)
    assert len(exported) == 30 and sum(len(faces) for _, faces in exported.values()) == 90
    assert list(exported) == sorted(exported)  # by person id, as read in batches
    response = target.test_client().post("/gallery/import", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.json
    assert response.json == {"people_created": 30, "faces_added": 90, "skipped": [], "names_kept": []}
    assert gallery_of(target)[0] == exported
    again = target.test_client().post("/gallery/import", data=json.dumps(body), content_type="application/json")
    assert again.json["faces_added"] == 0  # nothing twice


def test_an_import_reads_a_file_an_editor_saved_with_a_byte_order_mark(make_app):
    rng = np.random.default_rng(1)
    source, target = make_app(), make_app()
    store = source.extensions["facerec"].store
    store.create_person("Ada", [NewFace(v) for v in unit(2, rng, store.dim)])
    _, body = gallery_of(source)
    response = target.test_client().post("/gallery/import", data=codecs.BOM_UTF8 + json.dumps(body).encode(),
                                         content_type="application/json")
    assert response.status_code == 200, response.json
    assert response.json["people_created"] == 1 and response.json["faces_added"] == 2


def test_a_person_renamed_here_keeps_the_name_and_the_import_says_so(make_app):
    rng = np.random.default_rng(2)
    app = make_app()
    store = app.extensions["facerec"].store
    pid, _ = store.create_person("Ann", [NewFace(v) for v in unit(1, rng, store.dim)])
    _, body = gallery_of(app)
    body["people"][0]["faces"].append(face("f-later", rng, store.dim))
    store.rename(pid, "Anna Smith")
    response = app.test_client().post("/gallery/import", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.json
    assert response.json["faces_added"] == 1 and response.json["skipped"] == []
    assert response.json["names_kept"] == [f"{pid} (Ann in the file): named Anna Smith here, kept"]
    assert store.person(pid)["name"] == "Anna Smith" and len(store.person(pid)["faces"]) == 2


def face(fid, rng, dim):
    vector = unit(1, rng, dim)[0]
    return {"face_id": fid, "embedding": base64.b64encode(encode_vector(vector, dim)).decode(), "thumbnail": ""}


@pytest.mark.parametrize("problem, status, code, says", [
    ("bad id", 422, "invalid_gallery", "these are not: bad id!"),
    ("repeated", 422, "invalid_gallery", "repeated in the file: twice"),
    ("taken", 409, "face_id_taken", "taken-face (of"),
    ("bad vector", 400, "bad_request", "unit length"),
    ("bad name", 400, "invalid_field", "person last"),
    ("crop past float32", 400, "bad_request", "crop's box"),
    ("other model", 409, "model_mismatch", "arcface"),
    ("cut short", 400, "bad_request", "not valid JSON"),
    ("not an object", 400, "bad_request", "not a JSON object"),
])
def test_an_import_writes_nothing_unless_the_whole_file_is_sound(make_app, problem, status, code, says):
    rng = np.random.default_rng(1)
    app = make_app()
    s = app.extensions["facerec"]
    dim = s.store.dim
    owner, _ = s.store.create_person("Owner", [NewFace(unit(1, rng, dim)[0], face_id="taken-face")])
    people = [{"person_id": f"p{i}", "name": f"Good {i}", "faces": [face(f"f{i}", rng, dim)]} for i in range(5)]
    last = {"person_id": "last", "name": "Last", "faces": [face("lf", rng, dim)]}
    if problem == "bad id":
        last["faces"][0]["face_id"] = "bad id!"
    elif problem == "repeated":
        people[0]["faces"].append(face("twice", rng, dim))
        last["faces"].append(face("twice", rng, dim))
    elif problem == "taken":
        last["faces"].append(face("taken-face", rng, dim))
    elif problem == "bad vector":
        last["faces"][0]["embedding"] = base64.b64encode(np.full(dim, 0.5, "<f4").tobytes()).decode()
    elif problem == "bad name":
        last["name"] = "\u200b\u200b"
    elif problem == "crop past float32":   # finite as a JSON number, infinite once stored as float32
        crop = base64.b64encode(encode_jpeg(np.full((64, 64, 3), 128, np.uint8))).decode()
        last["faces"][0]["crop"] = {"image": crop, "box": [1e300, 0, 1, 1], "landmarks": [[1, 1]] * 5}
    model = "arcface-r100/box" if problem == "other model" else s.pipeline.model_id
    body = json.dumps({"format": "facerec-gallery/1", "model": model, "people": people + [last]})
    if problem == "cut short":
        body = body[: len(body) - 30]
    elif problem == "not an object":
        body = json.dumps([model])
    response = app.test_client().post("/gallery/import", data=body, content_type="application/json")
    assert response.status_code == status and response.json["error"]["code"] == code, response.json
    assert says in response.json["error"]["message"]
    assert [p["person_id"] for p in s.store.people()] == [owner]  # the five good people were not written


SERVER = """
import sys, threading
from werkzeug.serving import make_server
from app import create_app
app = create_app()
app.extensions["facerec"].replica.stop_maintenance()  # only the request's own work is measured
server = make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True)
server.serve_forever()
"""


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def peak_growth(pid: int, work) -> tuple[int, object]:
    """(largest RSS growth of process `pid` while work() runs, what it returned)."""
    before, peak, done = rss(pid), [0], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], rss(pid))
            time.sleep(0.01)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = work()
    finally:
        done.set()
        watcher.join()
    return max(peak[0], rss(pid)) - before, result


def test_export_and_import_stream_in_constant_memory(redis_server, model_server, tmp_path):
    """100k faces (~75 MB of JSON) out of a server and back in: its memory grows by a few MB
    (measured: under 1 MB out, under 4 MB in, at 150k faces). Before streaming, the export
    built the whole file's objects in memory and the import refused bodies over 20 MiB."""
    prefix, port = f"io-{uuid.uuid4().hex[:6]}:", free_port()
    client = redis.Redis.from_url(redis_server.url)
    rng = np.random.default_rng(2)
    people, faces = 2000, 50
    with client.pipeline(transaction=False) as pipe:  # written straight into Redis's keys: the test's shortcut
        for p in range(people):
            key = f"{prefix}person:p{p:05d}"
            pipe.hset(key, mapping={"name": f"person {p}", "created_at": "", "updated_at": ""})
            pipe.hset(key + ":faces", mapping={f"f{p:05d}x{j}": v.astype("<f4").tobytes()
                                               for j, v in enumerate(unit(faces, rng))})
            pipe.sadd(prefix + "people", f"p{p:05d}")
            if p % 500 == 499:
                pipe.execute()
        pipe.execute()
    from conftest import app_values, as_env
    env = {**os.environ, **as_env(app_values(redis_server.url, model_server, prefix, str(tmp_path / "cache")))}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_answers(url + "/healthz"), 120, "the server", server)
        file = tmp_path / "gallery.json"

        def export():
            with requests.get(url + "/gallery/export", stream=True, timeout=120) as r, file.open("wb") as f:
                for piece in r.iter_content(1 << 20):
                    f.write(piece)
            return r.status_code
        grown, status = peak_growth(server.pid, export)
        assert status == 200 and file.stat().st_size > 70e6
        assert grown < 20e6, f"export grew the server by {grown / 1e6:.0f} MB"

        client.delete(*client.keys(prefix + "person:*"), prefix + "people")

        def upload():
            with file.open("rb") as f:
                return requests.post(url + "/gallery/import", data=f, timeout=300,
                                     headers={"Content-Type": "application/json"})
        grown, response = peak_growth(server.pid, upload)
        assert response.status_code == 200, response.text[:300]
        assert response.json()["faces_added"] == people * faces
        assert grown < 20e6, f"import grew the server by {grown / 1e6:.0f} MB"
        assert client.scard(prefix + "people") == people and client.hlen(f"{prefix}person:p00042:faces") == faces
    finally:
        server.terminate()
        server.wait(timeout=30)
