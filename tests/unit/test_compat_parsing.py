"""How the compatibility APIs (DeepStack, CompreFace) and the native API read a request: number
fields, flags, ids, images under any field name, base64 and text fields; every problem a 4xx
error naming the field, before any model work. Parsed inside a bare Flask app's request
context: no services."""
import base64
import io

import numpy as np
import pytest
from flask import Flask

from app.api import compat, compreface_io, deepstack, uploads
from app.errors import BadRequest, InvalidBase64, InvalidField, MissingImage, UnsupportedMediaType
from app.pipeline import Face, Frame


@pytest.fixture(scope="module")
def app():
    return Flask(__name__)


@pytest.mark.parametrize("text, kind, expected", [
    ("0.5", float, 0.5), ("3", int, 3), (" 7 ", int, 7), ("1e3", float, 1000.0), ("-2", int, -2),
    ("abc", float, None), ("nan", float, None), ("inf", float, None), ("1e999", float, None), ("²", int, None),
    ("0.5", int, None), ("", float, None),
    # what int() and float() take but a number written in ASCII is not
    ("1_000", int, None), ("1_000.5", float, None), ("\uff15", int, None), ("\u0661\u0667", float, None),
    ("infinity", float, None), ("0x10", int, None),
])
def test_finite_numbers_or_none(text, kind, expected):
    assert uploads.finite_number(text, kind) == expected


def test_boxes_are_whole_pixels_inside_the_frame():
    frame = Frame(100, 50, [], np.zeros((50, 100, 3), np.uint8))
    assert compat.box_ints(np.array([10.4, 5.6, 40.5, 30.2]), frame) == {"x_min": 10, "y_min": 6, "x_max": 40,
                                                                          "y_max": 30}
    assert compat.box_ints(np.array([-20, -5, 130, 80]), frame) == {"x_min": 0, "y_min": 0, "x_max": 100,
                                                                     "y_max": 50}
    tiny = compat.box_ints(np.array([99.7, 49.9, 99.8, 49.95]), frame)   # never empty, never outside
    assert tiny == {"x_min": 99, "y_min": 49, "x_max": 100, "y_max": 50}


def test_compreface_options_and_their_defaults(app):
    with app.test_request_context("/?limit=2&det_prob_threshold=0.8&prediction_count=3&status=TRUE"
                                  "&face_plugins=Landmarks, calculator,age&detect_faces=false"):
        opts = compreface_io.options()
    assert (opts.limit, opts.det_prob_threshold, opts.prediction_count) == (2, 0.8, 3)
    assert opts.plugins == {"landmarks", "calculator"} and opts.status and not opts.detect_faces
    with app.test_request_context("/?face_plugins=undefined&limit=null&status=undefined"):  # Double Take's
        assert compreface_io.options() == compreface_io.Options()


@pytest.mark.parametrize("query, says", [
    ("limit=-1", "limit should be between 0 and 1000"),
    ("limit=two", "limit must be a number between 0 and 1000, got 'two'"),
    ("det_prob_threshold=1.5", "det_prob_threshold should be between 0.0 and 1.0"),
    ("det_prob_threshold=nan", "det_prob_threshold must be a number"),
    ("prediction_count=0", "prediction_count should be between 1 and 100"),
    ("status=maybe", "status must be true or false, got 'maybe'"),
])
def test_bad_compreface_options_are_400_naming_the_field(app, query, says):
    with app.test_request_context(f"/?{query}"), pytest.raises(InvalidField, match=says) as info:
        compreface_io.options()
    assert info.value.status == 400


def test_compreface_selection_keeps_the_largest_faces_over_the_threshold():
    def face(side, score):
        return Face(np.array([0, 0, side, side], np.float32), score, np.zeros((5, 2), np.float32))
    frame = Frame(640, 480, [face(10, 0.99), face(50, 0.5), face(30, 0.95), face(40, 0.9)], None)
    pick = compreface_io.selection(compreface_io.Options(limit=2, det_prob_threshold=0.9))
    assert [f.box[2] for f in pick(frame)] == [40, 30]
    whole = compreface_io.selection(compreface_io.Options(detect_faces=False))(frame)
    assert len(whole) == 1 and whole[0].box.tolist() == [0, 0, 640, 480]


def test_compreface_image_ids_are_dashed_uuids_of_our_face_ids():
    fid = "0123456789abcdef0123456789abcdef"
    assert compreface_io.image_id(fid) == "01234567-89ab-cdef-0123-456789abcdef"
    assert compreface_io.face_id(compreface_io.image_id(fid)) == fid == compreface_io.face_id(fid)
    assert compreface_io.image_id("imported-1") == "imported-1" == compreface_io.face_id("imported-1")
    assert compreface_io.image_id("z" * 32) == "z" * 32

    # each image id reads back as the one face it shows: only these two exact forms are converted
    # (an upper-case or otherwise dashed id, which an import may hold, was read as another face's)
    for other in (fid.upper(), "0123-4567-89ab-cdef-0123-4567-89ab-cdef", "{01234567-89ab-cdef-0123-456789abcdef}"):
        assert compreface_io.face_id(compreface_io.image_id(other)) == other != fid
    assert compreface_io.face_id("01234567-89AB-CDEF-0123-456789ABCDEF") == fid   # as CompreFace reads its UUIDs


def test_compreface_images_come_as_any_single_part_or_base64_json(app):
    with app.test_request_context("/", method="POST", data={"photo": (io.BytesIO(b"jpeg"), "a.jpg")}):
        assert compreface_io.image() == b"jpeg"          # the only file part, whatever its name
    with app.test_request_context("/", method="POST", json={"file": base64.b64encode(b"png").decode()}):
        assert compreface_io.image() == b"png"
    with app.test_request_context("/", method="POST", json={"file": "***"}), pytest.raises(InvalidBase64):
        compreface_io.image()
    with app.test_request_context("/", method="POST", json={"image": "aGk="}), \
            pytest.raises(MissingImage, match="Required part file"):
        compreface_io.image()


def test_deepstack_min_confidence_and_userid(app):
    with app.test_request_context("/", method="POST", data={"min_confidence": "0.7", "userid": "Ada"}):
        assert deepstack.min_confidence(0.55) == 0.7 and deepstack.userid() == "Ada"
    with app.test_request_context("/?min_confidence=0.45"):   # the query, when the form has none
        assert deepstack.min_confidence(None) == 0.45
    with app.test_request_context("/", method="POST", data={"min_confidence": ""}):
        assert deepstack.min_confidence(None) is None
    for value, says in (("abc", "Invalid value"), ("1.5", "greater than 1"), ("-0.1", "negative"),
                        ("nan", "Invalid value")):
        with app.test_request_context("/", method="POST", data={"min_confidence": value}), \
                pytest.raises(InvalidField, match=says):
            deepstack.min_confidence(None)
    with app.test_request_context("/", method="POST", data={"userid": "  "}), \
            pytest.raises(InvalidField, match="userid not specified"):
        deepstack.userid()


def test_native_uploads_read_every_way_a_client_sends_images(app):
    b64 = base64.b64encode(b"one").decode()
    with app.test_request_context("/?camera_id=door", method="POST", data={
            "image": [(io.BytesIO(b"one"), "a.jpg"), (io.BytesIO(b"two"), "b.jpg")], "name": "Ada"}):
        upload = uploads.read_upload(10)
    assert upload.images == [b"one", b"two"] and upload.fields == {"camera_id": "door", "name": "Ada"}
    with app.test_request_context("/?name=Ada", method="POST", data=b"raw", content_type="image/jpeg"):
        assert uploads.read_upload(10) == uploads.Upload([b"raw"], {"name": "Ada"})
    with app.test_request_context("/", method="POST", json={"image": "data:image/jpeg;base64," + b64,
                                                            "images": [b64], "camera_id": "yard"}):
        assert uploads.read_upload(10) == uploads.Upload([b"one", b"one"], {"camera_id": "yard"})


@pytest.mark.parametrize("request_kwargs, error, says", [
    ({}, MissingImage, "no body"),
    ({"data": b"x", "content_type": "text/plain"}, UnsupportedMediaType, "'text/plain' is not accepted"),
    ({"json": {"images": "abc"}}, InvalidField, "must be a list"),
    ({"json": {"image": 5}}, InvalidField, "must be a base64 string, got int"),
    ({"json": {"images": ["aGk=", "***"]}}, InvalidBase64, r"`images\[1\]` is not valid base64"),
    ({"json": ["image"]}, BadRequest, "not a JSON object"),
    ({"data": "{" * 5, "content_type": "application/json"}, BadRequest, "not a JSON object"),
    ({"json": {"name": "Ada"}}, MissingImage, "no image in the request"),
    ({"json": {"images": ["aGk="] * 3}}, BadRequest, "3 images in one request; at most 2"),
])
def test_native_uploads_refuse_what_they_cannot_read(app, request_kwargs, error, says):
    with app.test_request_context("/", method="POST", **request_kwargs), pytest.raises(error, match=says) as info:
        uploads.read_upload(2)
    assert 400 <= info.value.status < 500


def test_text_fields_and_number_arguments(app):
    upload = uploads.Upload([], {"camera_id": "  door ", "empty": "", "long": "x" * 201, "bell": "a\x07",
                                 "number": 5})
    assert uploads.text_field(upload, "camera_id") == "door" and uploads.text_field(upload, "empty") is None
    assert uploads.text_field(upload, "missing") is None
    for name, says in (("long", "at most 200"), ("bell", "control"), ("number", "must be a string")):
        with pytest.raises(InvalidField, match=says):
            uploads.text_field(upload, name)
    with app.test_request_context("/?count=7&offset=x&big=999"):
        assert uploads.int_arg("count", 10, 1, 100) == 7 and uploads.int_arg("missing", 10, 1, 100) == 10
        for name in ("offset", "big"):
            with pytest.raises(BadRequest, match=f"`{name}` must be a number from 1 to 100"):
                uploads.int_arg(name, 10, 1, 100)
