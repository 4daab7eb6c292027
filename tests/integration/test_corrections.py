"""Corrections and a gallery that explains itself, on the real Redis and the real models:
every match names the face that matched, "not X" stops a look-alike, "this is X" adds the face,
and the people report flags outliers and look-alikes."""
import io

from samples.photos import photo_bytes


def enroll(client, name, person, indices, split="train"):
    data = {"name": name, "image": [(io.BytesIO(photo_bytes(person, i, split)), f"{i}.jpg") for i in indices]}
    response = client.post("/enroll", data=data, content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    return response.json


def add_faces(client, pid, person, indices, split="train"):
    data = {"person_id": pid, "image": [(io.BytesIO(photo_bytes(person, i, split)), f"{i}.jpg") for i in indices]}
    response = client.post("/enroll", data=data, content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    return response.json


def recognize(client, person, index, split="val"):
    response = client.post("/recognize", data=photo_bytes(person, index, split), content_type="image/jpeg")
    assert response.status_code == 200, response.json
    return response.json


def correct(client, status=200, **body):
    response = client.post("/corrections", json=body)
    assert response.status_code == status, response.json
    return response.json


def test_every_match_names_the_enrolled_face_that_matched(client):
    enrolled = enroll(client, "Madonna", "madonna", [0, 1, 2])
    fids = [f["face_id"] for f in enrolled["faces"]]
    face = recognize(client, "madonna", 0)["faces"][0]
    match = face["match"]
    assert match["face_id"] in fids and face["candidates"][0]["face_id"] == match["face_id"]
    verify = client.post("/verify", data={"image": [(io.BytesIO(photo_bytes("madonna", 0)), "a.jpg"), (io.BytesIO(
        photo_bytes("madonna", fids.index(match["face_id"]), "train")), "b.jpg")]}, content_type="multipart/form-data")
    assert abs(verify.json["distance"] - match["distance"]) < 1e-3  # that face is the one at that distance
    client.delete(f"/people/{enrolled['person_id']}/faces/{match['face_id']}")
    again = recognize(client, "madonna", 0)["faces"][0]["candidates"][0]
    assert again["face_id"] in fids and again["face_id"] != match["face_id"] and again["distance"] >= match["distance"]


def test_not_person_stops_a_look_alike_and_keeps_the_person(make_client):
    client = make_client(match_threshold=1.5)  # raised so that Jerry passes for Ben
    ben = enroll(client, "Ben", "ben_afflek", range(5))["person_id"]
    looks = [recognize(client, "jerry_seinfeld", i)["faces"][0] for i in range(5)]
    assert sum(bool(f["match"]) and f["match"]["person_id"] == ben for f in looks) >= 4
    first = client.get("/events?count=5").json["events"][-1]  # Jerry's first photo
    done = correct(client, event_id=first["event_id"], face_index=0, not_person_id=ben)
    assert done["correction"] == "not_person" and done["name"] == "Ben" and done["negatives"] == 1
    for i in range(1, 5):  # Jerry's other photos are no longer Ben
        face = recognize(client, "jerry_seinfeld", i)["faces"][0]
        assert face["match"] is None and face["candidates"][0]["person_id"] == ben, i
    for i in range(5):  # Ben's own photos still are
        assert recognize(client, "ben_afflek", i)["faces"][0]["match"]["person_id"] == ben, i
    for api, path, subjects in (("DeepStack", "/v1/vision/face/recognize", "predictions"),
                                ("CompreFace", "/api/v1/recognition/recognize", "result")):
        field = "image" if api == "DeepStack" else "file"   # the compatibility APIs follow the correction too
        answer = client.post(path, data={field: (io.BytesIO(photo_bytes("jerry_seinfeld", 1, "val")), "a.jpg")},
                             content_type="multipart/form-data").json[subjects][0]
        named = [answer["userid"]] if api == "DeepStack" else [s["subject"] for s in answer["subjects"]]
        assert "Ben" not in named, (api, answer)
    assert correct(client, event_id=first["event_id"], face_index=0, not_person_id=ben)["negatives"] == 1  # again


def test_a_correction_reaches_every_worker(make_app, server_settings):
    import uuid
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    first, second = (make_app(match_threshold=1.5, redis_prefix=prefix).test_client() for _ in range(2))
    ben = enroll(first, "Ben", "ben_afflek", range(5))["person_id"]
    assert recognize(second, "jerry_seinfeld", 1)["faces"][0]["match"]["person_id"] == ben  # its copy is loaded
    event = recognize(first, "jerry_seinfeld", 0)
    correct(first, event_id=event["event_id"], face_index=0, not_person_id=ben)
    assert recognize(second, "jerry_seinfeld", 1)["faces"][0]["match"] is None


def test_this_is_adds_the_face_to_a_person(client):
    unknown = recognize(client, "elton_john", 1)
    assert unknown["faces"][0]["match"] is None
    made = correct(client, 201, event_id=unknown["event_id"], face_index=0, name="Elton")
    assert made["created"] and made["correction"] == "is_person" and made["name"] == "Elton"
    elton = made["person_id"]
    assert recognize(client, "elton_john", 1)["faces"][0]["match"]["person_id"] == elton
    other = recognize(client, "elton_john", 3)
    added = correct(client, event_id=other["event_id"], face_index=0, person_id=elton)
    assert not added["created"] and added["face_id"] in client.get(f"/people/{elton}").json["faces"]
    assert len(client.get(f"/people/{elton}").json["faces"]) == 2
    assert correct(client, event_id=other["event_id"], face_index=0, person_id=elton)["face_id"] == added["face_id"]
    assert len(client.get(f"/people/{elton}").json["faces"]) == 2  # the same correction again adds nothing
    mindy = enroll(client, "Mindy", "mindy_kaling", [0])["person_id"]
    taken = correct(client, 409, event_id=other["event_id"], face_index=0, person_id=mindy)
    assert taken["error"]["code"] == "face_id_taken" and elton in taken["error"]["message"]
    # "not Elton" on that face takes it back out of Elton's faces
    undone = correct(client, event_id=other["event_id"], face_index=0, not_person_id=elton)
    assert undone["negatives"] == 1 and added["face_id"] not in client.get(f"/people/{elton}").json["faces"]


def test_corrections_refuse_bad_input(client):
    pid = enroll(client, "Mindy", "mindy_kaling", [0])["person_id"]
    event = recognize(client, "mindy_kaling", 0)["event_id"]
    cases = [({"event_id": event, "face_index": 0}, 400, "invalid_field"),
             ({"event_id": event, "face_index": 0, "person_id": pid, "not_person_id": pid}, 400, "invalid_field"),
             ({"event_id": "not-an-id", "face_index": 0, "person_id": pid}, 400, "invalid_field"),
             ({"event_id": event, "face_index": -1, "person_id": pid}, 400, "bad_request"),
             ({"event_id": event, "face_index": "first", "person_id": pid}, 400, "bad_request"),
             ({"event_id": event, "face_index": 1, "person_id": pid}, 404, "event_not_found"),
             ({"event_id": "1-0", "face_index": 0, "person_id": pid}, 404, "event_not_found"),
             ({"event_id": event, "face_index": 0, "not_person_id": "nobody"}, 404, "person_not_found"),
             ({"event_id": event, "face_index": 0, "person_id": "../x"}, 404, "person_not_found"),
             ({"event_id": event, "face_index": 0, "name": "\u200b"}, 400, "invalid_field"),
             ({"event_id": event, "face_index": 0, "name": "mindy"}, 409, "name_taken")]
    for body, status, code in cases:
        response = client.post("/corrections", json=body)
        assert (response.status_code, response.json["error"]["code"]) == (status, code), body
    assert client.post("/corrections", data=b"x", content_type="text/plain").status_code == 400
    assert client.get(f"/people/{pid}").json["faces"].__len__() == 1 and client.get("/people").json["count"] == 1


def test_person_report_flags_a_wrong_photo(client):
    pid = enroll(client, "Madonna", "madonna", [0, 1, 2, 3])["person_id"]
    wrong = add_faces(client, pid, "elton_john", [0])["faces"][0]["face_id"]
    report = {f["face_id"]: f for f in client.get(f"/people/{pid}").json["face_report"]}
    assert len(report) == 5 and [fid for fid, f in report.items() if f["outlier"]] == [wrong]
    assert report[wrong]["median_other"] > 1.1 and report[wrong]["nearest_other"] <= report[wrong]["median_other"]
    health = client.get("/gallery/health").json
    assert [o["face_id"] for o in health["outliers"]] == [wrong] and health["outliers"][0]["name"] == "Madonna"
    two = enroll(client, "Ben", "ben_afflek", [0, 1])["person_id"]  # two faces: no telling which is wrong
    assert not any(f["outlier"] for f in client.get(f"/people/{two}").json["face_report"])


def test_gallery_health_lists_look_alikes(make_client):
    client = make_client(health_max_faces=12)
    first = enroll(client, "Jerry", "jerry_seinfeld", [0, 1, 2])["person_id"]
    twice = enroll(client, "J. Seinfeld", "jerry_seinfeld", [3, 4])["person_id"]  # one person enrolled twice
    enroll(client, "Mindy", "mindy_kaling", [0, 1, 2])
    health = client.get("/gallery/health").json
    threshold = client.application.extensions["facerec"].rule.threshold   # MATCH_THRESHOLD of the embedder
    assert health["people"] == 3 and health["faces"] == 8 and health["threshold"] == threshold
    assert len(health["look_alikes"]) == 1
    pair = health["look_alikes"][0]
    assert {pair["a"]["person_id"], pair["b"]["person_id"]} == {first, twice} and pair["distance"] <= threshold
    enroll(client, "Elton", "elton_john", range(5))
    too_large = client.get("/gallery/health")
    assert too_large.status_code == 409 and "HEALTH_MAX_FACES" in too_large.json["error"]["message"]


def test_negatives_are_capped_and_dropped_with_their_person(make_client):
    client = make_client(negatives_per_person=2, match_threshold=1.5)
    ben = enroll(client, "Ben", "ben_afflek", [0, 1])["person_id"]
    events = [recognize(client, "jerry_seinfeld", i)["event_id"] for i in range(3)]
    counts = [correct(client, event_id=e, face_index=0, not_person_id=ben)["negatives"] for e in events]
    assert counts == [1, 2, 2]  # the oldest goes beyond NEGATIVES_PER_PERSON
    s = client.application.extensions["facerec"]
    assert s.redis.zcard(s.negatives.key(ben) + ":order") == 2
    client.delete(f"/people/{ben}")
    from app.usecases import housekeeping
    assert housekeeping.run_once(s).pruned_people == 1
    assert not s.redis.exists(s.negatives.key(ben), s.negatives.key(ben) + ":order")
    assert s.redis.scard(s.negatives.people_key) == 0


def test_generated_bad_input_never_gets_a_5xx(client):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                      max_size=3), max_leaves=8)
    ids = st.text(min_size=1, max_size=70).filter(lambda s: not set(s) & set("/?#%"))
    event_ids = st.one_of(ids, st.from_regex(r"\A[0-9]{1,25}-[0-9]{1,25}\Z"), values)
    bodies = st.fixed_dictionaries({}, optional={"event_id": event_ids, "face_index": values, "not_person_id": values,
                                                 "person_id": values, "name": values})
    statuses = []

    @settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(body=st.one_of(bodies, values), vid=ids, method=st.sampled_from(["GET", "DELETE", "POST"]),
           suffix=st.sampled_from(["", "/name", "/sightings/x/thumbnail"]))
    def probe(body, vid, method, suffix):
        for response in (client.post("/corrections", json=body),
                         client.open(f"/visitors/{vid}{suffix}", method=method, json=body)):
            statuses.append(response.status_code)
            assert response.status_code < 500 and set(response.json) == {"error"}, (body, vid, response.json)
    probe()
    assert len(statuses) == 300 and client.get("/people").json["count"] == 0
