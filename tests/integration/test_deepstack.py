"""The DeepStack / CodeProject.AI face API (/v1/vision/face...): Home Assistant's client
(deepstack-python 0.9, in its own venv) against a live server, requests shaped exactly like
Double Take's, and every response and error shape, on the real Redis and models."""
import base64
import io
from urllib.parse import urlsplit

import numpy as np
from compat import client_python, double_take_post, photo_paths, run_client  # noqa: F401 - fixtures

from samples.photos import encode_jpeg, photo_bytes, three_face_frame

KEY = "ds-test-key"


def post(client, path, files=(), **fields):
    data = {**fields, **{name: (io.BytesIO(content), f"{name}.jpg") for name, content in files}}
    return client.post(f"/v1/vision/{path}", data=data, content_type="multipart/form-data")


def failed(response, status, error):
    assert response.status_code == status, response.json
    assert response.json["success"] is False and response.json["error"].startswith(error), response.json
    return response.json


def register(client, name, *images):
    for image in images:
        response = post(client, "face/register", [("image", image)], userid=name)
        assert response.status_code == 200 and response.json["success"] is True, response.json
    return response.json


def test_deepstack_python_as_home_assistant_uses_it(live_server, client_python, photo_paths):  # noqa: F811
    server = live_server(api_keys=(KEY,))
    url = urlsplit(server.url)
    report = run_client(client_python, "deepstack_client.py", url.hostname, url.port, KEY, __import__("json").dumps(
        photo_paths))
    assert report["register"] == ["face added", "face updated", "face updated"]   # one photo per call, all kept
    assert report["faces"] == ["Madonna"]
    assert list(report["recognized"]) == ["Madonna"] and report["recognized"]["Madonna"] > 50.0
    [face] = report["recognize"]
    assert all(isinstance(face[k], int) for k in ("x_min", "y_min", "x_max", "y_max"))
    assert [f["userid"] for f in report["stranger"]] == ["unknown"] and report["stranger"][0]["confidence"] == 0
    by_x = sorted(report["group"], key=lambda f: f["x_min"])
    assert [f["userid"] for f in by_x] == ["unknown", "Madonna", "unknown"]
    assert len(report["detect"]) == 3 and all(0.9 < f["confidence"] <= 1 for f in report["detect"])
    assert report["no_face"] == []   # 200 with no predictions: Home Assistant reads them unconditionally
    assert "401" in report["wrong_key"]


def test_registered_faces_keep_the_crop_a_reembedding_needs(client):
    register(client, "Madonna", photo_bytes("madonna", 0, "train"))
    assert post(client, "face/register", [("image", photo_bytes("madonna", 1, "train"))],
                userid="Madonna").json["success"] is True
    [person] = client.get("/gallery/export").json["people"]
    assert len(person["faces"]) == 2
    assert all(base64.b64decode(face["crop"]["image"])[:2] == b"\xff\xd8" for face in person["faces"])


def test_every_registered_photo_is_kept(client):
    images = [photo_bytes("madonna", i, "train") for i in range(3)]
    assert register(client, "Madonna", images[0])["message"] == "face added"
    assert register(client, "madonna", *images[1:])["message"] == "face updated"   # same person, any case
    people = client.get("/people").json["people"]
    assert [(p["name"], p["face_count"]) for p in people] == [("Madonna", 3)]
    # several images in one call, any field names; the one without a face is skipped
    faceless = encode_jpeg(np.full((200, 200, 3), 90, np.uint8))
    response = post(client, "face/register/", [("image1", photo_bytes("jerry_seinfeld", 0, "train")),
                                                ("image2", faceless)], userid="Jerry")
    assert response.json["message"] == "face added"
    assert post(client, "face/list").json["faces"] == ["Jerry", "Madonna"]


def test_recognize_shapes_and_thresholds(client):
    register(client, "Madonna", photo_bytes("madonna", 0, "train"), photo_bytes("madonna", 1, "train"))
    body = post(client, "face/recognize", [("image", photo_bytes("madonna", 0))]).json
    assert body["success"] is True and isinstance(body["duration"], float) and body["duration"] > 0
    [face] = body["predictions"]
    assert face["userid"] == "Madonna" and 0.5 < face["confidence"] <= 1
    native = client.post("/recognize", data=photo_bytes("madonna", 0), content_type="image/jpeg").json
    assert face["confidence"] == round(native["faces"][0]["match"]["confidence"], 4)   # one confidence everywhere
    stricter = post(client, "face/recognize", [("image", photo_bytes("madonna", 0))],
                    min_confidence=str(face["confidence"] + 0.001)).json["predictions"][0]
    assert stricter["userid"] == "unknown" and stricter["confidence"] == 0
    # a client cannot make the server looser than MATCH_THRESHOLD
    stranger = post(client, "face/recognize", [("image", photo_bytes("jerry_seinfeld", 0))], min_confidence="0.0")
    assert stranger.json["predictions"][0]["userid"] == "unknown"
    blank = post(client, "face/recognize", [("image", encode_jpeg(np.full((240, 320, 3), 90, np.uint8)))])
    assert blank.status_code == 200 and blank.json["predictions"] == []


def test_recognitions_are_events(client):
    register(client, "Madonna", photo_bytes("madonna", 0, "train"))
    post(client, "face/recognize", [("image", photo_bytes("madonna", 0))])
    client.post("/v1/vision/face/recognize?camera_id=porch", data={"image": (io.BytesIO(photo_bytes("madonna", 0)),
                                                                            "x.jpg")})
    events = client.get("/events?count=2").json["events"]
    assert [e["camera_id"] for e in events] == ["porch", "deepstack"]
    assert events[0]["faces"][0]["name"] == "Madonna"


def test_detect_match_delete(client):
    frame = encode_jpeg(three_face_frame())
    faces = post(client, "face", [("image", frame)]).json["predictions"]
    assert len(faces) == 3 and all(set(f) == {"confidence", "x_min", "y_min", "x_max", "y_max"} for f in faces)
    assert all(0 <= f["x_min"] < f["x_max"] <= 640 and 0 <= f["y_min"] < f["y_max"] <= 480 for f in faces)
    assert post(client, "face", [("image", frame)], min_confidence="1.0").json["predictions"] == []
    probe = ("image1", photo_bytes("madonna", 0))
    same = post(client, "face/match", [probe, ("image2", photo_bytes("madonna", 0, "train"))])
    other = post(client, "face/match", [probe, ("image2", photo_bytes("elton_john", 0))])
    assert same.json["similarity"] > 0.5 > other.json["similarity"]
    register(client, "Madonna", photo_bytes("madonna", 0, "train"))
    assert post(client, "face/delete", userid="MADONNA").json["success"] is True
    assert post(client, "face/delete", userid="Nobody").json["success"] is True   # as DeepStack: no error
    assert client.post("/v1/vision/face/list").json["faces"] == []   # an empty body, no content type


def test_errors_in_deepstack_shape(client):
    image = photo_bytes("madonna", 0)
    failed(post(client, "face/recognize"), 400, "No valid image file found")
    failed(post(client, "face/register", [("image", image)]), 400, "userid not specified")
    failed(post(client, "face/register", [("image", image)], userid="\u200b"), 400, "`userid` has no visible")
    failed(post(client, "face/register", userid="Ada"), 400, "No valid image file found")
    failed(post(client, "face/recognize", [("image", image)], min_confidence="high"), 400,
           "Invalid value for min_confidence")
    failed(post(client, "face/recognize", [("image", image)], min_confidence="1.5"), 400,
           "min_confidence cannot be greater than 1")
    failed(post(client, "face/recognize", [("image", b"not an image")]), 400, "invalid image: ")
    faceless = encode_jpeg(np.full((200, 200, 3), 90, np.uint8))
    failed(post(client, "face/register", [("image", faceless)], userid="Nobody"), 400, "no face detected")
    failed(post(client, "face/match", [("image1", image)]), 400, "expected two image files, only one found")
    failed(post(client, "face/match", [("a", image), ("b", image), ("c", image)]), 400, "only two images allowed")
    failed(post(client, "face/match", [("image1", image), ("image2", faceless)]), 400, "no face found")
    failed(post(client, "detection", [("image", image)]), 403, "Detection endpoint not activated")
    failed(post(client, "custom/mask", [("image", image)]), 403, "Custom vision endpoint not activated")
    # a route it does not find, or a method it does not take, in DeepStack's shape too (its clients read "success")
    failed(post(client, "face/nothing", [("image", image)]), 404, "")
    failed(client.delete("/v1/vision/face/recognize/"), 405, "")
    assert client.get("/people").json["count"] == 0


def test_api_key_in_form_or_header_never_the_query(make_client):
    client = make_client(api_keys=(KEY,))
    image = photo_bytes("madonna", 0)
    assert failed(post(client, "face/recognize", [("image", image)]), 401, "Incorrect api key")["duration"] == 0
    failed(post(client, "face/recognize", [("image", image)], api_key="wrong"), 401, "Incorrect api key")
    failed(client.post("/v1/vision/face/list", headers={"X-API-Key": "wrong"}), 401, "Incorrect api key")
    assert post(client, "face/recognize", [("image", image)], api_key=KEY).status_code == 200
    assert client.post(f"/v1/vision/face/list?api_key={KEY}").status_code == 401   # keys in URLs end up in logs
    assert client.post("/v1/vision/face/list", headers={"X-API-Key": KEY}).status_code == 200
    assert client.post("/v1/vision/face/list", data={"api_key": KEY}).status_code == 200   # urlencoded, as dsp


def test_requests_shaped_like_double_take(live_server):
    url = live_server().url + "/v1/vision/face"
    for i in range(2):   # training: one image per call
        image = ("madonna.jpg", photo_bytes("madonna", i, "train"), "image/jpeg")
        response = double_take_post(f"{url}/register", {"image": image, "userid": "madonna"})
        assert response.status_code == 200 and response.json()["success"] is True, response.text
    image = ("frame.jpg", encode_jpeg(three_face_frame()), "image/jpeg")
    body = double_take_post(f"{url}/recognize", {"image": image}).json()
    assert sorted(p["userid"].lower() for p in body["predictions"]) == ["madonna", "unknown", "unknown"]
    named = next(p for p in body["predictions"] if p["userid"] != "unknown")
    assert named["confidence"] * 100 >= 60   # Double Take's default match confidence
    assert all(isinstance(named[k], int) for k in ("x_min", "y_min", "x_max", "y_max"))   # Double Take's box math
    response = double_take_post(f"{url}/delete", {"userid": "madonna"})
    assert response.json()["success"] is True
    assert double_take_post(f"{url}/list", {}).json()["faces"] == []
