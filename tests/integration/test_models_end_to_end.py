"""Every PREPROCESSOR x EMBEDDER the server offers, end to end over gRPC through the HTTP API:
the 5-celebrity train photos enrolled, the val photos recognized (each configuration at its
own default MATCH_THRESHOLD), and YuNet's answer equal to the model's."""

import numpy as np
import pytest
from api_client import Api

from samples.photos import PEOPLE, encode_jpeg, photo_bytes, photo_files, three_face_frame

ENROLLED_PER_PERSON = 5
# (PREPROCESSOR, EMBEDDER, FUSED_GRAPH, the served models readiness checks)
CONFIGURATIONS = [("mtcnn", "facenet", True, {"mtcnn", "facenet"}), ("mtcnn", "sface", True, {"mtcnn", "sface"}),
                  ("mtcnn", "facenet+sface", True, {"mtcnn", "facenet_sface"}),
                  ("mtcnn", "facenet+sface", False, {"mtcnn", "facenet", "sface"}),
                  ("yunet", "facenet", True, {"yunet", "facenet"}), ("yunet", "sface", True, {"yunet", "sface"}),
                  ("yunet", "facenet+sface", True, {"yunet", "facenet_sface"}),
                  ("yunet+onet", "facenet+sface", True, {"yunet+onet", "facenet_sface"}),
                  ("yunet+onet", "dlib+sface", True, {"yunet+onet", "dlib_sface"})]


def enroll_photos(client, person, count):
    """The person's first `count` train photos, one request each (a photo without a face is skipped)."""
    pid, added, api = None, 0, Api(client)
    for index in range(count):
        image = photo_bytes(person, index, "train")
        response = api.add_faces(pid, image) if pid else api.enroll(person, image)
        if response.status_code == 422:
            continue
        assert response.status_code in (200, 201), response.json
        pid, added = response.json["person_id"], added + 1
    return pid, added


@pytest.mark.parametrize("preprocessor, embedder, fused_graph, checked", CONFIGURATIONS)
def test_the_celebrity_val_set_is_recognized(make_client, preprocessor, embedder, fused_graph, checked):
    client = make_client(preprocessor=preprocessor, embedder=embedder, fused_graph=fused_graph)
    ready = client.get("/readyz").json
    assert ready["ready"] and ready["preprocessor"] == preprocessor and ready["embedder"] == embedder
    assert set(ready["checks"]) == {"redis", "gallery", *checked}
    for person in PEOPLE:
        assert enroll_photos(client, person, ENROLLED_PER_PERSON)[1] >= ENROLLED_PER_PERSON - 1
    assert client.get("/readyz").json["gallery_model"] == ready["model"]   # the empty gallery adopted it
    right = wrong = 0
    for person in PEOPLE:
        for index in range(len(photo_files(person, "val"))):
            response = client.post("/recognize", data=photo_bytes(person, index), content_type="image/jpeg")
            assert response.status_code == 200 and response.json["preprocessor"] == preprocessor
            face = max(response.json["faces"], key=lambda f: (f["box"]["x2"] - f["box"]["x1"]))
            name = face["match"] and face["match"]["name"]
            right, wrong = right + (name == person), wrong + (name not in (None, person))
            assert len(face["candidates"]) > 0
            assert face["candidates"][0]["name"] == person, f"{person} val {index}: nearest is someone else"
    print(f"{preprocessor} + {embedder}: {right} of 25 recognized, {wrong} wrong")
    assert wrong == 0 and right >= 22, (right, wrong)   # 25 val photos; the rest are "unknown"
    embedded = client.post("/embed", data=photo_bytes("madonna", 0), content_type="image/jpeg").json
    assert embedded["model"] == ready["model"] and len(embedded["faces"][0]["embedding"]) == (
        256 if "+" in embedder else 128)


def test_yunet_answers_what_the_model_finds_in_the_frame(make_client, model_server):
    """The detector adds nothing but clipping: the served model's boxes, scores and landmarks."""
    from app.model_clients.grpc_model import GrpcModel
    client = make_client(preprocessor="yunet")
    frame = three_face_frame()
    found = client.post("/detect", data=encode_jpeg(frame, quality=100), content_type="image/jpeg").json
    from app.pipeline.imaging import decode_image
    rgb = decode_image(encode_jpeg(frame, quality=100), 10 ** 8)
    raw = GrpcModel("yunet", model_server).predict({"image": rgb, "score_threshold": np.float32(0.7),
                                                    "nms_threshold": np.float32(0.3)})
    assert found["preprocessor"] == "yunet" and len(found["faces"]) == len(raw["scores"]) == 3
    for face, box, score, marks in zip(found["faces"], raw["boxes"], raw["scores"], raw["landmarks"]):
        assert [face["box"][k] for k in ("x1", "y1", "x2", "y2")] == pytest.approx(
            np.clip(box, 0, [640, 480, 640, 480]).tolist(), abs=0.06)
        assert face["score"] == pytest.approx(float(score), abs=1e-4)
        assert face["landmarks"]["left_eye"] == pytest.approx(marks[0].tolist(), abs=0.06)


def test_yunet_keeps_faces_down_to_its_score_threshold(make_client):
    """YUNET_SCORE_THRESHOLD is the served model's input: at 0.99 faces are dropped that 0.7 keeps."""
    data = encode_jpeg(three_face_frame())
    default = make_client(preprocessor="yunet").post("/detect", data=data, content_type="image/jpeg").json
    strict = make_client(preprocessor="yunet", yunet_score_threshold=0.99).post(
        "/detect", data=data, content_type="image/jpeg").json
    assert len(default["faces"]) == 3
    assert all(f["score"] >= 0.99 for f in strict["faces"]) and len(strict["faces"]) < 3
