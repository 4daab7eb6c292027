"""The HTTP API on the real Redis and the real models over gRPC."""
import base64
import io

import numpy as np

from app.api.schemas import DetectResponse, EnrollResponse, PeopleResponse, RecognizeResponse, VerifyResponse
from samples.photos import encode_jpeg, photo, photo_bytes, three_face_frame


def test_enroll_then_recognize(api):
    body = api.enroll("Madonna", photo_bytes("madonna", 0, "train"),
                      photo_bytes("madonna", 1, "train")).expect(201, EnrollResponse)
    assert body.created and len(body.faces) == 2
    result = api.recognize(photo_bytes("madonna", 0), camera_id="door").expect(200, RecognizeResponse)
    assert result.camera_id == "door" and len(result.faces) == 1
    face = result.faces[0]
    assert face.match is not None and face.match.name == "Madonna" and face.match.person_id == body.person_id
    assert face.match.confidence > 0.5 and face.candidates[0] == face.match
    assert set(result.timing_ms) == {"sync", "decode", "detect", "embed", "quality", "match", "track", "visitors",
                                     "total"}
    assert face.reason is None and 0 < face.quality <= 1 and face.track_id == face.track.id
    stages = sum(v for k, v in result.timing_ms.items() if k != "total")
    assert abs(result.timing_ms["total"] - stages) < 0.05  # the total is the stages, computed once
    assert set(face.landmarks) == {"left_eye", "right_eye", "nose", "mouth_left", "mouth_right"}


def test_every_face_in_a_frame_is_returned(api):
    api.enroll("Ben", photo_bytes("ben_afflek", 0, "train"), photo_bytes("ben_afflek", 1, "train")).expect(201)
    api.enroll("Jerry", photo_bytes("jerry_seinfeld", 0, "train"),
               photo_bytes("jerry_seinfeld", 1, "train")).expect(201)
    # Ben, Madonna, Jerry from left to right
    result = api.recognize(encode_jpeg(three_face_frame())).expect(200, RecognizeResponse)
    assert len(result.faces) == 3
    by_x = sorted(result.faces, key=lambda f: f.box.x1)
    assert [f.match.name if f.match else None for f in by_x] == ["Ben", None, "Jerry"]
    assert len(by_x[1].candidates) == 2  # an unknown face still lists the nearest people


def test_unknown_face_with_an_empty_gallery(api):
    result = api.recognize(photo_bytes("elton_john", 0)).expect(200, RecognizeResponse)
    assert len(result.faces) == 1 and result.faces[0].match is None and result.faces[0].candidates == []


def test_recognitions_are_events(client, api):
    api.enroll("Elton", photo_bytes("elton_john", 0, "train")).expect(201)
    first = api.recognize(photo_bytes("elton_john", 0), camera_id="lobby").expect(200, RecognizeResponse)
    events = client.get("/events?count=5").json["events"]
    assert events[0]["event_id"] == first.event_id and events[0]["camera_id"] == "lobby"
    face = events[0]["faces"][0]
    assert face["name"] == "Elton" and face["distance"] < 1.1
    thumb = client.get(f"/events/thumbnails/{face['thumbnail']}")
    assert thumb.status_code == 200 and thumb.data[:2] == b"\xff\xd8"


def test_images_as_json_base64_and_raw_body(client):
    b64 = base64.b64encode(photo_bytes("mindy_kaling", 0, "train")).decode()
    response = client.post("/enroll", json={"name": "Mindy", "images": [b64, "data:image/jpeg;base64," + b64]})
    assert response.status_code == 201 and len(response.json["faces"]) == 2
    raw = client.post("/recognize", data=photo_bytes("mindy_kaling", 0), content_type="image/jpeg")
    as_json = client.post("/recognize", json={"image": base64.b64encode(photo_bytes("mindy_kaling", 0)).decode()})
    assert raw.json["faces"][0]["match"]["name"] == as_json.json["faces"][0]["match"]["name"] == "Mindy"


def test_add_faces_to_a_person(client, api):
    pid = api.enroll("Jerry", photo_bytes("jerry_seinfeld", 0, "train")).expect(201)["person_id"]
    response = client.post("/enroll", data={"person_id": pid, "image": (io.BytesIO(photo_bytes(
        "jerry_seinfeld", 2, "train")), "x.jpg")}, content_type="multipart/form-data")
    assert response.status_code == 200 and response.json["created"] is False and response.json["name"] == "Jerry"
    assert len(client.get(f"/people/{pid}").json["faces"]) == 2


def test_names_are_unique(client, api):
    pid = api.enroll("Ben", photo_bytes("ben_afflek", 0, "train")).expect(201)["person_id"]
    response = client.post("/enroll", data={"name": "Ben", "image": (io.BytesIO(photo_bytes("ben_afflek", 1, "train")),
                                                                     "b.jpg")}, content_type="multipart/form-data")
    assert response.status_code == 409 and response.json["error"]["code"] == "name_taken"
    assert pid in response.json["error"]["message"]
    assert client.get("/people").json["count"] == 1


def test_detect_finds_faces_without_matching(client):
    response = client.post("/detect", data=encode_jpeg(three_face_frame()), content_type="image/jpeg")
    body = DetectResponse.model_validate(response.json)
    assert len(body.faces) == 3 and "embed" not in body.timing_ms


def test_verify(client, api):
    same = client.post("/verify", data={"image": [(io.BytesIO(photo_bytes("madonna", 0)), "a.jpg"),
                                                  (io.BytesIO(photo_bytes("madonna", 1, "train")), "b.jpg")]},
                       content_type="multipart/form-data")
    other = client.post("/verify", data={"image": [(io.BytesIO(photo_bytes("madonna", 0)), "a.jpg"),
                                                   (io.BytesIO(photo_bytes("elton_john", 0)), "b.jpg")]},
                        content_type="multipart/form-data")
    assert VerifyResponse.model_validate(same.json).same_person is True
    assert other.json["same_person"] is False and other.json["distance"] > same.json["distance"]
    pid = api.enroll("Madonna", photo_bytes("madonna", 2, "train")).expect(201)["person_id"]
    against_person = client.post("/verify", data=photo_bytes("madonna", 0), content_type="image/jpeg",
                                 query_string={"person_id": pid})
    assert against_person.json["same_person"] is True and against_person.json["person_id"] == pid


def test_people_management(client, api):
    pid = api.enroll("Ben", *(photo_bytes("ben_afflek", i, "train") for i in (0, 1))).expect(201)["person_id"]
    people = PeopleResponse.model_validate(client.get("/people").json)
    assert people.count == 1 and people.people[0].face_count == 2
    renamed = client.patch(f"/people/{pid}", json={"name": "Ben Affleck"})
    assert renamed.status_code == 200 and renamed.json["name"] == "Ben Affleck"
    recognized = api.recognize(photo_bytes("ben_afflek", 0)).expect(200, RecognizeResponse)
    assert recognized.faces[0].match.name == "Ben Affleck"
    faces = client.get(f"/people/{pid}").json["faces"]
    thumb = client.get(f"/people/{pid}/faces/{faces[0]}/thumbnail")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert client.delete(f"/people/{pid}/faces/{faces[0]}").status_code == 200
    assert client.get(f"/people/{pid}").json["faces"] == faces[1:]
    assert client.delete(f"/people/{pid}").json == {"deleted": pid}
    assert client.get("/people").json["count"] == 0
    assert api.recognize(photo_bytes("ben_afflek", 0)).expect(200, RecognizeResponse).faces[0].match is None


def test_health_readiness_metrics_and_openapi(client, api):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["ready"] is True
    assert ready.json["checks"] == {"redis": "ok", "gallery": "ok", "mtcnn": "ok", "facenet_sface": "ok"}
    assert ready.json["preprocessor"] == "mtcnn" and ready.json["model_backend"] == "grpc"
    assert ready.json["embedder"] == "facenet+sface" and ready.json["gallery_model"] is None  # empty gallery
    api.recognize(photo_bytes("madonna", 0)).expect(200, RecognizeResponse)
    text = client.get("/metrics").data.decode()
    assert 'facerec_http_requests_total{endpoint="api.recognize",method="POST",status="200"}' in text
    assert 'facerec_stage_seconds_count{stage="detect"}' in text
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert "RecognizeResponse" in spec["components"]["schemas"]


def test_the_openapi_document_is_valid_and_says_what_is_sent(client):
    from openapi_spec_validator import validate
    spec = client.get("/openapi.json").json
    validate(spec)  # raises on an invalid OpenAPI document
    enroll_form = spec["paths"]["/enroll"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"image", "name", "person_id"} <= set(enroll_form["properties"])  # form fields, not only query
    events = spec["paths"]["/events"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert events == {"$ref": "#/components/schemas/EventsResponse"}
    rename = spec["paths"]["/people/{pid}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert rename == {"$ref": "#/components/schemas/Rename"}


def test_every_route_is_in_the_openapi_document(client):
    spec = client.get("/openapi.json").json
    app = client.application
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        assert path in spec["paths"], f"{path} is not documented"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in spec["paths"][path], f"{method} {path} is not documented"


def test_grayscale_and_rgba_frames_work(client):
    import cv2
    rgb = photo("madonna", 0)
    gray = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))[1].tobytes()
    rgba = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA))[1].tobytes()
    for data in (gray, rgba):
        response = client.post("/recognize", data=data, content_type="image/png")
        assert response.status_code == 200 and len(response.json["faces"]) == 1


def test_tiny_frame_has_no_face(client):
    import cv2
    tiny = cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))[1].tobytes()
    response = client.post("/recognize", data=tiny, content_type="image/png")
    assert response.status_code == 200 and response.json["faces"] == []


def test_event_ids_redis_cannot_read_are_not_found_not_errors(client, api):
    api.recognize(photo_bytes("elton_john", 0)).expect(200, RecognizeResponse)   # the events stream exists
    # 20 digits pass the pattern but not Redis's 64-bit stream ids: a 404, never a Redis error
    big = "99999999999999999999-0"
    arabic = "\u0661\u0662-\u0660"   # Unicode digits: Python's \d and int() take them, Redis does not
    for path in (f"/events/thumbnails/{big}.0", f"/events/thumbnails/0-{'9' * 20}.0", f"/events/thumbnails/{arabic}.0"):
        response = client.get(path)
        assert response.status_code == 404 and "error" in response.json, (path, response.status_code)


def test_a_person_without_faces_is_reported_not_an_error(client, api):
    pid = api.enroll("Elton", photo_bytes("elton_john", 0, "train")).expect(201)["person_id"]
    fid = client.get(f"/people/{pid}").json["faces"][0]
    face_id = fid["face_id"] if isinstance(fid, dict) else fid
    assert client.delete(f"/people/{pid}/faces/{face_id}").status_code == 200
    person = client.get(f"/people/{pid}")
    assert person.status_code == 200 and person.json["faces"] == [] and person.json["face_report"] == []
    health = client.get("/gallery/health")
    assert health.status_code == 200, health.json
