"""Hostile input, generated: well over 1000 requests of mutated JPEG/PNG bytes, odd sizes and
channels, huge dimensions in headers, bad base64 and wrong JSON types. None may get a 5xx,
every error must be the JSON error shape without a stack trace, and the app must keep serving."""
import base64
import io
import re
import struct
import time

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from images import png_header_only

from samples.photos import encode_jpeg, photo

EXAMPLES = 300  # per test: 4 x 300 = 1200 requests, plus the follow-up checks
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
ENDPOINTS = ["/recognize", "/enroll", "/detect", "/embed", "/verify"]
SEEDS = {}
SENT = []  # status of every fuzzed request


@pytest.fixture(scope="module")
def fuzz_client(module_app):
    client = module_app.test_client()
    yield client
    assert len(SENT) >= 1000 and max(SENT) < 500
    assert client.get("/healthz").status_code == 200
    ok = client.post("/recognize", data=encode_jpeg(photo("madonna", 0)), content_type="image/jpeg")
    assert ok.status_code == 200 and len(ok.json["faces"]) == 1  # still serving, models included


def seeds():
    if not SEEDS:
        face = cv2.resize(photo("madonna", 0), (96, 96))
        SEEDS["jpeg"] = encode_jpeg(face, 70)
        SEEDS["png"] = cv2.imencode(".png", face)[1].tobytes()
    return SEEDS


def check(response):
    SENT.append(response.status_code)
    assert response.status_code < 500, (response.status_code, response.get_data()[:300])
    if response.status_code >= 400:
        body = response.get_json(silent=True)
        assert body and set(body) == {"error"} and body["error"]["code"] and body["error"]["message"]
        assert "Traceback" not in response.get_data(as_text=True)


@st.composite
def mutated_image(draw):
    data = bytearray(seeds()[draw(st.sampled_from(["jpeg", "png"]))])
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            data = data[:at]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 64))]
    return bytes(data)


@st.composite
def odd_image(draw):
    h, w = draw(st.integers(1, 64)), draw(st.integers(1, 64))
    channels = draw(st.sampled_from([1, 3, 4]))
    depth = draw(st.sampled_from([np.uint8, np.uint16]))
    pixels = np.frombuffer(draw(st.binary(min_size=h * w * channels * np.dtype(depth).itemsize,
                                          max_size=h * w * channels * np.dtype(depth).itemsize)), depth)
    pixels = pixels.reshape((h, w, channels) if channels > 1 else (h, w))
    fmt = ".png" if depth == np.uint16 else draw(st.sampled_from([".png", ".jpg", ".bmp", ".webp"]))
    if fmt == ".jpg" and channels == 4:
        fmt = ".png"
    return cv2.imencode(fmt, pixels)[1].tobytes()


def jpeg_header_only(width, height):
    """A JPEG whose frame header claims width x height, and nothing else of substance."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + sof + b"\xff\xd9"


huge_header = st.builds(lambda kind, w, h: (png_header_only if kind == "png" else jpeg_header_only)(w, h),
                        st.sampled_from(["png", "jpeg"]),
                        st.integers(1, 65535), st.integers(1, 65535))
image_bytes = st.one_of(mutated_image(), odd_image(), huge_header, st.binary(max_size=512))


@FUZZ
@given(endpoint=st.sampled_from(ENDPOINTS), data=image_bytes,
       content_type=st.sampled_from(["image/jpeg", "image/png", "application/octet-stream", "text/plain",
                                     "application/x-www-form-urlencoded", ""]),
       name=st.one_of(st.none(), st.text(max_size=300)))
def test_raw_bodies(fuzz_client, endpoint, data, content_type, name):
    query = {"name": name} if name is not None else {}
    check(fuzz_client.post(endpoint, data=data, content_type=content_type or None, query_string=query))


@FUZZ
@given(endpoint=st.sampled_from(ENDPOINTS), images=st.lists(image_bytes, max_size=3),
       fields=st.dictionaries(st.sampled_from(["name", "person_id", "camera_id", "image", "timestamp", "visit_key",
                                               "force"]), st.text(max_size=50)))
def test_multipart_forms(fuzz_client, endpoint, images, fields):
    data = {**fields, "image": [(io.BytesIO(img), f"{i}.jpg") for i, img in enumerate(images)]}
    check(fuzz_client.post(endpoint, data=data, content_type="multipart/form-data"))


any_text = st.text(st.characters(exclude_categories=()), max_size=40)  # lone surrogates and controls included
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                       max_size=4), max_leaves=12)
base64ish = st.one_of(image_bytes.map(lambda b: base64.b64encode(b).decode()),
                      st.text(max_size=200), image_bytes.map(lambda b: "data:image/png;base64," + base64.b64encode(b)
                                                             .decode()[:-2]))


@FUZZ
@given(endpoint=st.sampled_from(ENDPOINTS + ["/gallery/import"]),
       body=st.one_of(json_values, st.fixed_dictionaries(
           {}, optional={"image": st.one_of(base64ish, json_values),
                         "images": st.one_of(st.lists(base64ish, max_size=3), json_values),
                         "name": json_values, "person_id": json_values, "camera_id": json_values,
                         "model": json_values, "people": json_values, "timestamp": json_values,
                         "visit_key": json_values, "force": json_values})))
def test_json_bodies(fuzz_client, endpoint, body):
    check(fuzz_client.post(endpoint, json=body))


@FUZZ
@given(method=st.sampled_from(["GET", "PATCH", "DELETE", "POST"]),
       pid=st.text(min_size=1, max_size=80).filter(lambda s: "/" not in s and "?" not in s and "#" not in s),
       suffix=st.sampled_from(["", "/faces/x", "/faces/x/thumbnail"]), body=json_values)
def test_people_routes(fuzz_client, method, pid, suffix, body):
    check(fuzz_client.open(f"/people/{pid}{suffix}", method=method, json=body))


# --- the classes of issue 23: odd numbers on every numeric parameter, deep JSON on every body ---
odd_numbers = st.one_of(st.integers().map(str), st.integers(min_value=10 ** 300).map(str),
                        st.integers(1, 6000).map(lambda n: "9" * n), st.floats().map(repr),
                        st.sampled_from(["1e400", "-1e400", "nan", "inf", "-0", "0x10", "1_000", " 5", "\u00b2",
                                         "\uff15", "", "+3", "3.0"]))
JSON_ROUTES = [("POST", "/recognize"), ("POST", "/enroll"), ("POST", "/verify"), ("POST", "/gallery/import"),
               ("POST", "/corrections"), ("POST", "/visitors/x/name"), ("PATCH", "/people/x")]


@settings(FUZZ, max_examples=100)
@given(path=st.sampled_from(["/events?count=", "/visitors?offset=", "/visitors?count="]), value=odd_numbers)
def test_numeric_parameters(fuzz_client, path, value):
    check(fuzz_client.get(path + value.replace("&", "")))


@settings(FUZZ, max_examples=100)
@given(route=st.sampled_from(JSON_ROUTES), depth=st.integers(1, 100_000), opener=st.sampled_from(["[", '{"a":']),
       index=odd_numbers)
def test_deep_json_and_huge_numbers_in_bodies(fuzz_client, route, depth, opener, index):
    closer = "]" if opener == "[" else "}"
    method, path = route
    deep = opener * depth + "1" + closer * depth
    check(fuzz_client.open(path, method=method, data=deep, content_type="application/json"))
    number = index if index.lstrip("-").isdigit() else "1"
    check(fuzz_client.open(path, method=method, content_type="application/json",
                           data='{"event_id": "1-0", "face_index": %s, "name": "N"}' % number))


hostile_time = st.one_of(st.floats(), st.integers(-10 ** 30, 10 ** 30), st.text(max_size=40),
                         st.sampled_from(["nan", "inf", "-inf", "1e308", "0x10", "2024-01-01", "2024-01-01T00:00:00",
                                          "99999-01-01T00:00:00Z", " 1717000000 ", "1_717_000_000"]))


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(timestamp=hostile_time, visit_key=st.one_of(st.none(), st.text(max_size=140)),
       camera_id=st.one_of(st.none(), any_text))
def test_visit_fields_are_refused_before_anything_is_stored(fuzz_client, timestamp, visit_key, camera_id):
    """A real face with hostile `timestamp` / `visit_key` / `camera_id`: a 400 stores nothing (no
    event, no track); a 200 only for values within the contract."""
    s = fuzz_client.application.extensions["facerec"]
    fields = {k: v for k, v in {"timestamp": timestamp, "visit_key": visit_key, "camera_id": camera_id}.items()
              if v is not None}
    def stored():   # events, and the visits' keys (which only expire meanwhile: a set, not a count)
        return s.redis.xlen(s.events.key), set(s.redis.scan_iter(s.settings.redis_prefix + "visits:*"))
    before = stored()
    response = fuzz_client.post("/recognize", json={"image": base64.b64encode(seeds()["jpeg"]).decode(), **fields})
    check(response)
    if response.status_code == 200:   # then the values were within the contract
        for face in response.json["faces"]:
            assert face["track"] is None or 946684800 <= face["track"]["last_seen"] <= time.time() + 86400
        assert visit_key in (None, "") or re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", visit_key)
    else:
        assert response.status_code == 400
        after = stored()
        assert after[0] == before[0] and after[1] <= before[1]   # nothing stored, whatever expired


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(track_id=st.text(min_size=1, max_size=200).filter(lambda t: not set(t) & set("/?#")))
def test_track_ids(fuzz_client, track_id):
    response = fuzz_client.get(f"/tracks/{track_id}")
    check(response)
    assert response.status_code == 404
