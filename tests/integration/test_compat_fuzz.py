"""Hostile input to the compatibility APIs, generated: random form fields, query options,
path segments, mutated images and JSON bodies on every DeepStack and CompreFace route. None
may get a 5xx; every error of a route is in its API's own shape (DeepStack {"success": false,
"error"}, CompreFace {"message", "code"}) without a trace (a path or method with no route at
all is the app's 404/405); the app keeps serving."""
import io

import cv2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from images import jpeg_claiming

from samples.photos import encode_jpeg, photo, photo_bytes

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
SENT = []
DEEPSTACK = ["face", "face/recognize", "face/register", "face/list", "face/delete", "face/match", "detection",
             "custom/x"]
COMPREFACE = [("POST", "recognition/recognize"), ("POST", "detection/detect"), ("POST", "verification/verify"),
              ("POST", "recognition/faces"), ("GET", "recognition/faces"), ("DELETE", "recognition/faces"),
              ("POST", "recognition/faces/delete"), ("GET", "recognition/subjects"),
              ("POST", "recognition/subjects")]
SMALL_FACE = encode_jpeg(cv2.resize(photo("madonna", 0), (96, 96)), 70)


@pytest.fixture(scope="module")
def fuzz_client(module_app):
    client = module_app.test_client()
    yield client
    assert len(SENT) >= 400 and max(SENT) < 500
    ok = client.post("/v1/vision/face/recognize", data={"image": (io.BytesIO(photo_bytes("madonna", 0)), "a.jpg")})
    assert ok.status_code == 200 and len(ok.json["predictions"]) == 1   # still serving, models included


@st.composite
def image(draw):
    data = bytearray(SMALL_FACE)
    for _ in range(draw(st.integers(0, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if draw(st.booleans()):
            data[at] = draw(st.integers(0, 255))
        else:
            data = data[:at]
    return bytes(data) if draw(st.booleans()) else draw(st.binary(max_size=64))


text = st.one_of(st.text(max_size=60), st.sampled_from(["", " ", "nan", "inf", "-1", "1e400", "True", "undefined",
                                                         "0.5", "100", "\u200b", "a/b", "a;b"]))
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                           max_leaves=8)


def check(response, shape):
    SENT.append(response.status_code)
    assert response.status_code < 500, (response.status_code, response.get_data()[:300])
    assert "Traceback" not in response.get_data(as_text=True)
    if response.status_code in (404, 405) and response.get_json(silent=True).get("error", {}).get("code") in (
            "not_found", "method_not_allowed"):
        return   # no route for this path and method: answered by the app, in the native shape
    if response.status_code >= 400:
        body = response.get_json(silent=True)
        if shape == "deepstack":
            assert body["success"] is False and body["error"], body
        else:
            assert set(body) == {"message", "code"} and body["message"] and isinstance(body["code"], int), body


@FUZZ
@given(path=st.sampled_from(DEEPSTACK), slash=st.booleans(), files=st.lists(
    st.tuples(st.sampled_from(["image", "image1", "image2", "file"]), image()), max_size=3),
    fields=st.dictionaries(st.sampled_from(["userid", "min_confidence", "api_key", "camera_id"]), text))
def test_deepstack_routes(fuzz_client, path, slash, files, fields):
    data = {**fields}
    for name, content in files:
        data.setdefault(name, []).append((io.BytesIO(content), f"{name}.jpg"))
    check(fuzz_client.post(f"/v1/vision/{path}{'/' if slash else ''}", data=data,
                           content_type="multipart/form-data"), "deepstack")


@FUZZ
@given(route=st.sampled_from(COMPREFACE), query=st.dictionaries(st.sampled_from([
    "limit", "det_prob_threshold", "prediction_count", "face_plugins", "status", "detect_faces", "subject", "page",
    "size", "camera_id"]), text), files=st.lists(st.tuples(st.sampled_from(["file", "source_image", "target_image"]),
                                                          image()), max_size=3),
       body=st.one_of(st.none(), json_values))
def test_compreface_routes(fuzz_client, route, query, files, body):
    method, path = route
    if body is None:
        data = {}
        for name, content in files:
            data.setdefault(name, []).append((io.BytesIO(content), f"{name}.jpg"))
        response = fuzz_client.open(f"/api/v1/{path}", method=method, query_string=query, data=data,
                                    content_type="multipart/form-data")
    else:
        response = fuzz_client.open(f"/api/v1/{path}", method=method, query_string=query, json=body)
    check(response, "compreface")


@FUZZ
@given(method=st.sampled_from(["GET", "PUT", "DELETE", "POST"]),
       segment=st.text(min_size=1, max_size=80).filter(lambda s: not set(s) & set("/?#%")),
       suffix=st.sampled_from(["subjects/{}", "faces/{}", "faces/{}/img", "faces/{}/verify"]), body=json_values)
def test_compreface_path_segments(fuzz_client, method, segment, suffix, body):
    check(fuzz_client.open(f"/api/v1/recognition/{suffix.format(segment)}", method=method, json=body),
          "compreface")


def test_not_a_number_is_refused(fuzz_client):
    for value in ("nan", "inf", "-inf"):
        response = fuzz_client.post(f"/api/v1/recognition/recognize?det_prob_threshold={value}",
                                    data={"file": (io.BytesIO(SMALL_FACE), "a.jpg")})
        assert response.status_code == 400 and response.json["code"] == 26
        response = fuzz_client.post("/v1/vision/face/recognize", data={
            "image": (io.BytesIO(SMALL_FACE), "a.jpg"), "min_confidence": value})
        assert response.status_code == 400 and response.json["error"].startswith("Invalid value for min_confidence")


# --- the classes of issue 23: huge numbers on every option, deep JSON on every body, every decode path ---
odd_numbers = st.one_of(st.integers().map(str), st.integers(min_value=10 ** 300).map(str),
                        st.integers(1, 6000).map(lambda n: "9" * n), st.floats().map(repr),
                        st.sampled_from(["1e400", "-1e400", "-0", "0x10", "1_000", "\u00b2", "\uff15", "+3"]))
NUMERIC = [("POST", "recognition/recognize", "limit"), ("POST", "recognition/recognize", "prediction_count"),
           ("POST", "recognition/recognize", "det_prob_threshold"), ("POST", "detection/detect", "limit"),
           ("POST", "verification/verify", "limit"), ("GET", "recognition/faces", "page"),
           ("GET", "recognition/faces", "size")]


@settings(FUZZ, max_examples=100)
@given(route=st.sampled_from(NUMERIC), value=odd_numbers, deepstack=st.booleans())
def test_numeric_options(fuzz_client, route, value, deepstack):
    if deepstack:
        check(fuzz_client.post("/v1/vision/face", data={"image": (io.BytesIO(SMALL_FACE), "a.jpg"),
                                                        "min_confidence": value}), "deepstack")
        return
    method, path, name = route
    check(fuzz_client.open(f"/api/v1/{path}", method=method, query_string={name: value},
                           data={"file": (io.BytesIO(SMALL_FACE), "a.jpg")} if method == "POST" else None),
          "compreface")


@settings(FUZZ, max_examples=60)
@given(route=st.sampled_from(COMPREFACE), depth=st.integers(1, 100_000), opener=st.sampled_from(["[", '{"file":']))
def test_deep_json_bodies(fuzz_client, route, depth, opener):
    method, path = route
    closer = "]" if opener == "[" else "}"
    check(fuzz_client.open(f"/api/v1/{path}", method=method, data=opener * depth + "1" + closer * depth,
                           content_type="application/json"), "compreface")


@settings(FUZZ, max_examples=60)
@given(width=st.integers(1, 65535), height=st.integers(1, 65535), which=st.sampled_from(
    ["verification/verify", "faces/verify", "match", "recognize"]))
def test_every_decode_path_checks_headers(fuzz_client, width, height, which):
    bomb = jpeg_claiming(width, height)
    if which == "match":
        check(fuzz_client.post("/v1/vision/face/match", data={"image1": (io.BytesIO(bomb), "a.jpg"),
                                                              "image2": (io.BytesIO(bomb), "b.jpg")}), "deepstack")
    elif which == "verification/verify":
        check(fuzz_client.post("/api/v1/verification/verify", data={"source_image": (io.BytesIO(bomb), "a.jpg"),
                                                                    "target_image": (io.BytesIO(bomb), "b.jpg")}),
              "compreface")
    elif which == "faces/verify":
        check(fuzz_client.post("/api/v1/recognition/faces/0123/verify", data={"file": (io.BytesIO(bomb), "a.jpg")}),
              "compreface")
    else:
        check(fuzz_client.post("/api/v1/recognition/recognize", data={"file": (io.BytesIO(bomb), "a.jpg")}),
              "compreface")
