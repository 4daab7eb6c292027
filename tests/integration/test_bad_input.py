"""Bad input gets a clear JSON 4xx naming what was wrong, nothing is stored, and the app
keeps serving. Outages of the model server get a 503 naming it; a Redis outage, a 503 naming
it for what needs Redis (recognition answers from the worker's gallery copy instead)."""
import base64
import io

import pytest
from images import png, png_header_only, truncated

from samples.photos import encode_jpeg, photo_bytes
from scripts.processes import free_port


@pytest.fixture(params=["mtcnn, facenet+sface", "yunet, sface"])
def client(request, make_client):
    """Every bad input below, through the default pipeline and through YuNet with SFace alone
    (each over gRPC): the answer must not depend on the models."""
    preprocessor, embedder = request.param.split(", ")
    return make_client() if preprocessor == "mtcnn" else make_client(preprocessor=preprocessor, embedder=embedder)


def error_of(response, status, code):
    assert response.status_code == status, response.json
    assert response.is_json and set(response.json) == {"error"}
    assert response.json["error"]["code"] == code
    message = response.json["error"]["message"]
    assert message and "Traceback" not in message
    return message


def still_serves_and_stored_nothing(client):
    assert client.get("/people").json["count"] == 0
    ok = client.post("/recognize", data=photo_bytes("madonna", 0), content_type="image/jpeg")
    assert ok.status_code == 200 and len(ok.json["faces"]) == 1



@pytest.mark.parametrize("endpoint", ["/recognize", "/enroll", "/detect"])
def test_not_an_image(client, endpoint):
    response = client.post(endpoint, data=b"this is a text file, not a photo", content_type="image/jpeg",
                           query_string={"name": "Someone"})
    assert "not an image" in error_of(response, 400, "invalid_image")
    still_serves_and_stored_nothing(client)


def test_empty_body(client):
    assert "no body" in error_of(client.post("/recognize"), 400, "missing_image")
    assert "empty" in error_of(client.post("/recognize", data=b"", content_type="image/jpeg"), 400, "invalid_image")
    still_serves_and_stored_nothing(client)


def test_truncated_jpeg(client, api):
    message = error_of(api.enroll("Madonna", truncated(photo_bytes("madonna", 0))), 400, "invalid_image")
    assert "truncated JPEG" in message and "send a complete JPEG or PNG" in message
    still_serves_and_stored_nothing(client)


def test_decompression_bomb(client):
    response = client.post("/recognize", data=png_header_only(20000, 20000), content_type="image/png")
    assert "20000x20000" in error_of(response, 413, "image_too_large")
    still_serves_and_stored_nothing(client)


def test_enroll_with_no_face_writes_nothing(client, api):
    faceless = encode_jpeg(__import__("numpy").full((300, 400, 3), 120, "uint8"))
    message = error_of(api.enroll("Nobody", faceless), 422, "no_face")
    assert "no face found" in message
    # several images: the one without a face is named, and none of the others is stored
    data = {"name": "Madonna", "image": [(io.BytesIO(photo_bytes("madonna", 0)), "a.jpg"),
                                         (io.BytesIO(faceless), "b.jpg")]}
    response = client.post("/enroll", data=data, content_type="multipart/form-data")
    assert "image 2 of 2" in error_of(response, 422, "no_face")
    still_serves_and_stored_nothing(client)


def test_enroll_with_a_tiny_image(client, api):
    tiny = png(__import__("numpy").zeros((1, 1, 3), "uint8"))
    error_of(api.enroll("Dot", tiny), 422, "no_face")
    still_serves_and_stored_nothing(client)


def test_enroll_without_a_name(client, api):
    assert "`name`" in error_of(api.enroll(None, photo_bytes("madonna", 0)), 400, "invalid_field")
    assert "not both" in error_of(api.enroll("A", photo_bytes("madonna", 0), person_id="b"),
                                  400, "invalid_field")
    response = client.post("/enroll", json={"name": 42, "image": base64.b64encode(photo_bytes("madonna", 0)).decode()})
    assert "must be a string" in error_of(response, 400, "invalid_field")
    still_serves_and_stored_nothing(client)


def test_unknown_person_id(client, api):
    for response in (client.get("/people/nobody"), client.delete("/people/nobody"),
                     client.patch("/people/nobody", json={"name": "X"}),
                     client.delete("/people/nobody/faces/none"),
                     api.enroll(None, photo_bytes("madonna", 0), person_id="nobody"),
                     client.post("/verify", data=photo_bytes("madonna", 0), content_type="image/jpeg",
                                 query_string={"person_id": "nobody"})):
        assert "nobody" in error_of(response, 404, "person_not_found")
    still_serves_and_stored_nothing(client)


def test_invalid_base64(client):
    response = client.post("/recognize", json={"image": "this is *not* base64!"})
    assert "not valid base64" in error_of(response, 400, "invalid_base64")
    response = client.post("/recognize", json={"image": ["a list"]})
    error_of(response, 400, "invalid_field")
    response = client.post("/recognize", data=b"{not json", content_type="application/json")
    error_of(response, 400, "bad_request")
    still_serves_and_stored_nothing(client)


def test_wrong_content_type(client):
    response = client.post("/recognize", data=b"hello", content_type="text/plain")
    message = error_of(response, 415, "unsupported_media_type")
    assert "text/plain" in message and "multipart/form-data" in message
    still_serves_and_stored_nothing(client)


def test_oversize_body(make_client, api):
    client = make_client(max_content_length=64 * 1024)
    api = api.of(client)
    big = photo_bytes("madonna", 0) * 20
    response = client.post("/recognize", data=big, content_type="image/jpeg")
    assert "MAX_CONTENT_LENGTH" in error_of(response, 413, "request_entity_too_large")
    response = api.enroll("Big", big)
    error_of(response, 413, "request_entity_too_large")
    still_serves_and_stored_nothing(client)


def test_unknown_route_and_method(client):
    error_of(client.get("/nowhere"), 404, "not_found")
    error_of(client.get("/recognize"), 405, "method_not_allowed")


def test_model_server_down(make_client):
    addr = f"127.0.0.1:{free_port()}"
    client = make_client(mtcnn_addr=addr, grpc_timeout_s=2.0)
    message = error_of(client.post("/recognize", data=photo_bytes("madonna", 0), content_type="image/jpeg"),
                       503, "model_unavailable")
    assert f"model 'mtcnn' at {addr} is unreachable" in message
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["ready"] is False
    assert "mtcnn" in ready.json["checks"]["mtcnn"] and ready.json["checks"]["facenet_sface"] == "ok"
    assert client.get("/healthz").status_code == 200
    assert 'facerec_model_errors_total{code="model_unavailable",model="mtcnn"}' in client.get("/metrics").data.decode()


def test_redis_down(make_client, api):
    """Redis never there: recognition still detects (200, every match null, marked degraded);
    what needs Redis is 503 naming it, with Retry-After."""
    client = make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout_s=1.0)
    api = api.of(client)
    recognized = client.post("/recognize", data=photo_bytes("madonna", 0), content_type="image/jpeg")
    assert recognized.status_code == 200 and recognized.json["degraded"] == {"redis": "unreachable",
                                                                             "gallery_age_s": None}
    [face] = recognized.json["faces"]
    assert face["match"] is None and face["reason"] == "gallery_unavailable" and recognized.json["event_id"] is None
    degraded = [line for line in client.get("/metrics").data.decode().splitlines()
                if line.startswith("facerec_recognitions_degraded_total ")]
    assert degraded and float(degraded[0].split()[1]) >= 1
    for response in (api.enroll("Madonna", photo_bytes("madonna", 0)), client.get("/people")):
        assert "Redis at redis://127.0.0.1" in error_of(response, 503, "redis_unavailable")
        assert response.headers["Retry-After"] == "1"
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "Redis" in ready.json["checks"]["redis"]
    assert client.get("/healthz").status_code == 200


def test_api_keys(make_client):
    client = make_client(api_keys=("k-one", "k-two"))
    assert client.get("/healthz").status_code == 200
    assert "requires an X-API-Key" in error_of(client.get("/people"), 401, "unauthorized")
    error_of(client.get("/people", headers={"X-API-Key": "wrong"}), 401, "unauthorized")
    error_of(client.post("/recognize", data=photo_bytes("madonna", 0), content_type="image/jpeg"), 401, "unauthorized")
    for key in ("k-one", "k-two"):
        assert client.get("/people", headers={"X-API-Key": key}).status_code == 200
    public = {"ops.healthz": "/healthz", "web.index": "/", "static": "/static/app.js"}  # no data in these
    for endpoint, path in public.items():
        assert client.get(path).status_code == 200, path
    for rule in client.application.url_map.iter_rules():  # every other route, present or future, needs it
        if rule.endpoint in public:
            continue
        path = rule.rule.replace("<", "").replace(">", "")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for key, refused in refusals(rule.endpoint.split(".")[0]).items():
                response = client.open(path, method=method, headers={"X-API-Key": key} if key else {})
                assert refused(response), f"{method} {rule.rule} answered {response.status_code} with key {key!r}"


def refusals(blueprint):
    """{key sent: how the route must refuse it}; the compatibility APIs refuse in their clients' shapes."""
    if blueprint == "deepstack":   # {"success": false, "error": "Incorrect api key"}, 401
        return dict.fromkeys(("", "wrong"), lambda r: r.status_code == 401 and r.json["error"] == "Incorrect api key")
    if blueprint.startswith("compreface"):   # CompreFace: no key 400 code 20, an unknown key 404 code 10
        return {"": lambda r: r.status_code == 400 and r.json["code"] == 20,
                "wrong": lambda r: r.status_code == 404 and r.json["code"] == 10}
    return dict.fromkeys(("", "wrong"), lambda r: r.status_code == 401 and r.json["error"]["code"] == "unauthorized")


def test_keys_are_compared_in_constant_time_against_every_key(make_client, monkeypatch):
    import hmac
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    client = make_client(api_keys=("first", "second", "third"))
    assert client.get("/people", headers={"X-API-Key": "first"}).status_code == 200
    assert [a for a, _ in compared] == [b"first", b"second", b"third"]  # no early exit on a match


def test_an_unexpected_error_is_a_500_without_a_trace(make_client):
    client = make_client()

    def broken():
        raise RuntimeError("secret internal detail")
    client.application.add_url_rule("/broken-for-test", "broken", broken)
    response = client.get("/broken-for-test")
    assert response.status_code == 500 and response.json["error"]["code"] == "internal_error"
    assert "secret internal detail" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
