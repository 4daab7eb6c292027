"""The CompreFace API (/api/v1/...): Exadel's SDK (compreface-sdk 0.6.0, in its own venv)
against a live server, requests shaped exactly like Double Take's, and every response and
error shape, on the real Redis and models."""
import base64
import io
import json

import numpy as np
from api_client import Api
from compat import client_python, double_take_post, photo_paths, run_client  # noqa: F401 - fixtures

from samples.photos import encode_jpeg, photo_bytes, three_face_frame

KEY = "cf-test-key"
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def add(client, subject, image, status=201):
    """CompreFace's enrollment: an example `image` of `subject` (multipart `file`)."""
    return Api(client).call("POST", "/api/v1/recognition/faces", query={"subject": subject}, images=(image,),
                            image_field="file").expect(status)


def recognize(client, image, **query):
    return Api(client).call("POST", "/api/v1/recognition/recognize", query=query, images=(image,),
                            image_field="file")


def error(response, status, code):
    assert response.status_code == status and response.json["code"] == code, (response.status_code, response.json)
    assert set(response.json) == {"message", "code"} and response.json["message"]
    return response.json["message"]


def test_compreface_sdk(live_server, client_python, photo_paths):  # noqa: F811
    import re
    server = live_server(api_keys=(KEY,))
    r = run_client(client_python, "compreface_client.py", server.url, KEY, json.dumps(photo_paths))
    assert r["subject_add"] == {"subject": "Elton John"} and r["subject_add_again"]["code"] == 43
    assert all(re.match(UUID, a["image_id"]) and a["subject"] == "Madonna" for a in r["add"]) and len(r["add"]) == 3
    assert r["add_bytes"]["subject"] == "elton john"   # echoed as sent, added to "Elton John"
    assert r["add_group"]["code"] == 31 and r["add_faceless"]["code"] == 28
    assert r["list"]["total_elements"] == 4 and r["list"]["page_number"] == 0 and r["list"]["total_pages"] == 1
    assert sorted(f["subject"] for f in r["list"]["faces"]) == ["Elton John", "Madonna", "Madonna", "Madonna"]
    [face] = r["recognize"]["result"]
    assert face["subjects"][0]["subject"] == "Madonna" and 0.5 < face["subjects"][0]["similarity"] <= 1
    assert len(face["subjects"]) == 1   # prediction_count 3, but only subjects within the threshold
    dim = server.app.extensions["facerec"].pipeline.embedder.dim   # the server's embedder's (128, or 256 fused)
    assert len(face["landmarks"]) == 5 and len(face["embedding"]) == dim and set(face["execution_time"]) == {
        "detector", "calculator"}
    assert set(r["recognize"]["plugins_versions"]) == {"detector", "calculator"}
    by_x = sorted(r["recognize_group"]["result"], key=lambda f: f["box"]["x_min"])
    assert [[s["subject"] for s in f["subjects"]] for f in by_x] == [[], ["Madonna"], []]
    assert r["recognize_faceless"] == {"message": "No face is found in the given image", "code": 28}
    [verified] = r["verify_example"]["result"]
    assert verified["subject"] == "Madonna" and verified["similarity"] > 0.5
    assert r["subjects"]["subjects"] == ["Elton John", "Madonna"]
    assert r["rename"] == {"updated": True} and r["rename_missing"]["code"] == 42
    assert r["subjects_renamed"]["subjects"] == ["Madonna", "Sir Elton"]
    assert r["delete_one"] == {"image_id": r["add"][0]["image_id"], "subject": "Madonna"}
    assert r["delete_missing"]["code"] == 44
    assert r["delete_all"] == {"deleted": 2}
    assert len(r["detect"]["result"]) == 3 and all(0.8 <= f["box"]["probability"] <= 1 for f in r["detect"]["result"])
    [same], [other] = r["verify_same"]["result"], r["verify_other"]["result"]
    assert same["face_matches"][0]["similarity"] > 0.5 > other["face_matches"][0]["similarity"]
    assert set(same["source_image_face"]["box"]) == {"probability", "x_min", "y_min", "x_max", "y_max"}
    assert r["verify_group_source"]["code"] == 31
    assert r["wrong_key"]["code"] == 10
    assert r["subject_delete"] == {"subject": "Sir Elton"} and r["subject_delete_missing"]["code"] == 42
    assert r["subjects_delete_all"] == {"deleted": 0} and r["subjects_left"] == {"subjects": []}


def test_requests_shaped_like_double_take(live_server):
    url = live_server(api_keys=(KEY,)).url + "/api/v1/recognition"
    headers = {"x-api-key": KEY}
    for i in range(2):   # training: one image per call, the name with a space sent as '+'
        image = ("madonna.jpg", photo_bytes("madonna", i, "train"), "image/jpeg")
        response = double_take_post(f"{url}/faces?subject=Madonna+Ciccone", {"file": image}, headers)
        assert response.status_code == 201 and response.json()["subject"] == "Madonna Ciccone", response.text
    frame = ("frame.jpg", encode_jpeg(three_face_frame()), "image/jpeg")
    response = double_take_post(f"{url}/recognize?face_plugins=undefined&det_prob_threshold=0.8", {"file": frame},
                                headers)
    assert response.status_code == 200, response.text
    best = [f["subjects"][0] for f in response.json()["result"] if f["subjects"]]
    assert [s["subject"].lower() for s in best] == ["madonna ciccone"] and best[0]["similarity"] * 100 >= 60
    blank = ("blank.jpg", encode_jpeg(np.full((240, 320, 3), 90, np.uint8)), "image/jpeg")
    response = double_take_post(f"{url}/recognize?face_plugins=undefined&det_prob_threshold=0.8", {"file": blank},
                                headers)
    assert response.status_code == 400 and response.json() == {"message": "No face is found in the given image",
                                                                "code": 28}   # the one error Double Take silences
    response = double_take_post(f"{url}/faces?subject=Madonna+Ciccone", {}, headers, method="DELETE")
    assert response.json() == {"deleted": 2}


def test_recognize_options(client):
    add(client, "Madonna", photo_bytes("madonna", 0, "train"))
    frame = encode_jpeg(three_face_frame())
    result = recognize(client, frame).json["result"]
    assert len(result) == 3 and all(set(f) == {"box", "subjects"} for f in result)   # no plugins: no extras
    largest = recognize(client, frame, limit="1").json["result"]
    assert len(largest) == 1 and largest[0]["box"] == max((f["box"] for f in result), key=lambda b: (
        b["x_max"] - b["x_min"]) * (b["y_max"] - b["y_min"]))
    error(recognize(client, frame, det_prob_threshold="1.0"), 400, 28)   # every face left out: no face
    whole = recognize(client, photo_bytes("madonna", 0), detect_faces="false").json["result"]
    assert len(whole) == 1 and whole[0]["box"]["x_min"] == 0 and whole[0]["box"]["probability"] == 1.0
    body = base64.b64encode(photo_bytes("madonna", 0)).decode()
    as_json = client.post("/api/v1/recognition/recognize?status=True", json={"file": body}).json
    assert as_json["result"][0]["subjects"][0]["subject"] == "Madonna" and "plugins_versions" in as_json
    events = client.get("/events?count=1").json["events"]
    assert events[0]["camera_id"] == "compreface" and events[0]["faces"][0]["name"] == "Madonna"


def test_subjects_and_faces(client):
    client.post("/api/v1/recognition/subjects", json={"subject": "Ada"})
    first = add(client, "ada", photo_bytes("madonna", 0, "train"))
    add(client, "Bob", photo_bytes("jerry_seinfeld", 0, "train"))
    add(client, "Bob", photo_bytes("jerry_seinfeld", 1, "train"))
    page = client.get("/api/v1/recognition/faces?page=1&size=2").json
    assert page["total_elements"] == 3 and page["total_pages"] == 2 and page["page_size"] == 2
    assert [f["subject"] for f in page["faces"]] == ["Bob"]
    only = client.get("/api/v1/recognition/faces?subject=ADA").json
    assert only["faces"] == [{"image_id": first["image_id"], "subject": "Ada"}]
    thumb = client.get(f"/api/v1/recognition/faces/{first['image_id']}/img")
    assert thumb.status_code == 200 and thumb.data[:2] == b"\xff\xd8"
    hex_id = first["image_id"].replace("-", "")   # either form of the id
    assert client.delete(f"/api/v1/recognition/faces/{hex_id}").json == {"image_id": first["image_id"],
                                                                          "subject": "Ada"}
    # a rename onto an existing name merges the two subjects
    assert client.put("/api/v1/recognition/subjects/Bob", json={"subject": "ada"}).json == {"updated": True}
    assert client.get("/api/v1/recognition/subjects/").json == {"subjects": ["Ada"]}
    assert client.get("/api/v1/recognition/faces?subject=Ada").json["total_elements"] == 2
    assert client.put("/api/v1/recognition/subjects/Ada", json={"subject": "Ada"}).json == {"updated": False}
    ids = [f["image_id"] for f in client.get("/api/v1/recognition/faces").json["faces"]]
    deleted = client.post("/api/v1/recognition/faces/delete", json=[ids[0], "nope"]).json
    assert deleted == [{"image_id": ids[0], "subject": "Ada"}]
    assert client.delete("/api/v1/recognition/faces").json == {"deleted": 1}   # every face; subjects stay
    assert client.get("/api/v1/recognition/subjects").json == {"subjects": ["Ada"]}
    assert client.delete("/api/v1/recognition/subjects").json == {"deleted": 1}


def test_errors_in_compreface_shape(client):
    image = photo_bytes("madonna", 0)
    error(client.get("/api/v1/recognition/nothing"), 404, 0)   # a route it does not find, in its clients' shape
    assert "file" in error(client.post("/api/v1/recognition/recognize", data={}), 400, 34)
    error(recognize(client, b"not an image"), 400, 28)
    error(recognize(client, image, det_prob_threshold="2"), 400, 26)
    error(recognize(client, image, status="maybe"), 400, 26)
    error(recognize(client, image, limit="-1"), 400, 26)
    error(client.post("/api/v1/recognition/recognize", json={"file": "not base64!"}), 400, 21)
    error(client.post("/api/v1/recognition/faces", data={"file": (io.BytesIO(image), "a.jpg")}), 400, 26)
    assert add(client, " ", image, status=400)["code"] == 26
    error(client.post("/api/v1/recognition/subjects", json={}), 400, 26)
    error(client.put("/api/v1/recognition/subjects/nobody", json={"subject": "X"}), 404, 42)
    error(client.delete("/api/v1/recognition/subjects/nobody"), 404, 42)
    error(client.delete("/api/v1/recognition/faces/00000000-0000-0000-0000-000000000000"), 404, 44)
    error(client.get("/api/v1/recognition/faces?size=0"), 400, 26)
    client.post("/api/v1/recognition/subjects", json={"subject": "Ada"})
    error(client.post("/api/v1/recognition/subjects", json={"subject": "ADA"}), 400, 43)
    assert client.get("/api/v1/recognition/faces").json["total_elements"] == 0


def test_api_key_header(make_client):
    client = make_client(api_keys=(KEY,))
    assert error(client.get("/api/v1/recognition/subjects"), 400, 20) == "Missing header: x-api-key"
    error(client.get("/api/v1/recognition/subjects", headers={"x-api-key": "wrong"}), 404, 10)
    assert client.get("/api/v1/recognition/subjects", headers={"x-api-key": KEY}).status_code == 200
    open_client = make_client()   # no API_KEYS: any key, or none, is accepted
    assert open_client.get("/api/v1/recognition/subjects", headers={"x-api-key": "anything"}).status_code == 200
    assert open_client.get("/api/v1/recognition/subjects").status_code == 200


def test_an_empty_or_encoded_slash_id_deletes_nothing(client):
    # werkzeug decodes %2F and merges slashes: "/faces/%2F" must not reach "delete every face"
    add(client, "Ada", photo_bytes("madonna", 0, "train"))
    for path in ("/api/v1/recognition/faces/%2F", "/api/v1/recognition/faces//", "/api/v1/recognition/faces/%2f%2F",
                 "/api/v1/recognition/subjects/%2F", "/api/v1/recognition/subjects//"):
        assert client.delete(path).status_code in (404, 405), path   # refused, never "delete every ..."
    assert client.get("/api/v1/recognition/faces").json["total_elements"] == 1
    assert client.get("/api/v1/recognition/subjects/").json == {"subjects": ["Ada"]}
