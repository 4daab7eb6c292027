"""Corrections and a gallery that explains itself, on the real Redis and the real models:
every match names the face that matched, "not X" stops a look-alike, "this is X" adds the face,
and the people report flags outliers and look-alikes."""
import io

from samples.photos import photo_bytes, photos_bytes


def test_every_match_names_the_enrolled_face_that_matched(client, api):
    enrolled = api.enroll("Madonna", *photos_bytes("madonna", [0, 1, 2], "train")).expect(201)
    fids = [f["face_id"] for f in enrolled["faces"]]
    face = api.recognize(photo_bytes("madonna", 0)).expect(200)["faces"][0]
    match = face["match"]
    assert match["face_id"] in fids and face["candidates"][0]["face_id"] == match["face_id"]
    verify = client.post("/verify", data={"image": [(io.BytesIO(photo_bytes("madonna", 0)), "a.jpg"), (io.BytesIO(
        photo_bytes("madonna", fids.index(match["face_id"]), "train")), "b.jpg")]}, content_type="multipart/form-data")
    assert abs(verify.json["distance"] - match["distance"]) < 1e-3  # that face is the one at that distance
    client.delete(f"/people/{enrolled['person_id']}/faces/{match['face_id']}")
    again = api.recognize(photo_bytes("madonna", 0)).expect(200)["faces"][0]["candidates"][0]
    assert again["face_id"] in fids and again["face_id"] != match["face_id"] and again["distance"] >= match["distance"]


def test_not_person_stops_a_look_alike_and_keeps_the_person(make_client, api):
    client = make_client(match_threshold=1.5)  # raised so that Jerry passes for Ben
    api = api.of(client)
    ben = api.enroll("Ben", *photos_bytes("ben_afflek", range(5), "train")).expect(201)["person_id"]
    looks = [api.recognize(photo_bytes("jerry_seinfeld", i)).expect(200)["faces"][0] for i in range(5)]
    assert sum(bool(f["match"]) and f["match"]["person_id"] == ben for f in looks) >= 4
    first = client.get("/events?count=5").json["events"][-1]  # Jerry's first photo
    done = api.correct(event_id=first["event_id"], face_index=0, not_person_id=ben).expect(200)
    assert done["correction"] == "not_person" and done["name"] == "Ben" and done["negatives"] == 1
    for i in range(1, 5):  # Jerry's other photos are no longer Ben
        face = api.recognize(photo_bytes("jerry_seinfeld", i)).expect(200)["faces"][0]
        assert face["match"] is None and face["candidates"][0]["person_id"] == ben, i
    for i in range(5):  # Ben's own photos still are
        assert api.recognize(photo_bytes("ben_afflek", i)).expect(200)["faces"][0]["match"]["person_id"] == ben, i
    for surface, path, subjects in (("DeepStack", "/v1/vision/face/recognize", "predictions"),
                                    ("CompreFace", "/api/v1/recognition/recognize", "result")):
        field = "image" if surface == "DeepStack" else "file"   # the compatibility APIs follow the correction too
        answer = client.post(path, data={field: (io.BytesIO(photo_bytes("jerry_seinfeld", 1, "val")), "a.jpg")},
                             content_type="multipart/form-data").json[subjects][0]
        named = [answer["userid"]] if surface == "DeepStack" else [s["subject"] for s in answer["subjects"]]
        assert "Ben" not in named, (surface, answer)
    again = api.correct(event_id=first["event_id"], face_index=0, not_person_id=ben).expect(200)
    assert again["negatives"] == 1


def test_a_correction_reaches_every_worker(make_app, server_settings, api):
    import uuid
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    first, second = (api.of(make_app(match_threshold=1.5, redis_prefix=prefix).test_client()) for _ in range(2))
    ben = first.enroll("Ben", *photos_bytes("ben_afflek", range(5), "train")).expect(201)["person_id"]
    # its copy is loaded
    assert second.recognize(photo_bytes("jerry_seinfeld", 1)).expect(200)["faces"][0]["match"]["person_id"] == ben
    event = first.recognize(photo_bytes("jerry_seinfeld", 0)).expect(200)
    first.correct(event_id=event["event_id"], face_index=0, not_person_id=ben).expect(200)
    assert second.recognize(photo_bytes("jerry_seinfeld", 1)).expect(200)["faces"][0]["match"] is None


def test_this_is_adds_the_face_to_a_person(client, api):
    unknown = api.recognize(photo_bytes("elton_john", 1)).expect(200)
    assert unknown["faces"][0]["match"] is None
    made = api.correct(event_id=unknown["event_id"], face_index=0, name="Elton").expect(201)
    assert made["created"] and made["correction"] == "is_person" and made["name"] == "Elton"
    elton = made["person_id"]
    assert api.recognize(photo_bytes("elton_john", 1)).expect(200)["faces"][0]["match"]["person_id"] == elton
    other = api.recognize(photo_bytes("elton_john", 3)).expect(200)
    added = api.correct(event_id=other["event_id"], face_index=0, person_id=elton).expect(200)
    assert not added["created"] and added["face_id"] in client.get(f"/people/{elton}").json["faces"]
    assert len(client.get(f"/people/{elton}").json["faces"]) == 2
    again = api.correct(event_id=other["event_id"], face_index=0, person_id=elton).expect(200)
    assert again["face_id"] == added["face_id"]
    assert len(client.get(f"/people/{elton}").json["faces"]) == 2  # the same correction again adds nothing
    mindy = api.enroll("Mindy", *photos_bytes("mindy_kaling", [0], "train")).expect(201)["person_id"]
    taken = api.correct(event_id=other["event_id"], face_index=0, person_id=mindy).expect(409)
    assert taken["error"]["code"] == "face_id_taken" and elton in taken["error"]["message"]
    # "not Elton" on that face takes it back out of Elton's faces
    undone = api.correct(event_id=other["event_id"], face_index=0, not_person_id=elton).expect(200)
    assert undone["negatives"] == 1 and added["face_id"] not in client.get(f"/people/{elton}").json["faces"]


def test_corrections_refuse_bad_input(client, api):
    pid = api.enroll("Mindy", *photos_bytes("mindy_kaling", [0], "train")).expect(201)["person_id"]
    event = api.recognize(photo_bytes("mindy_kaling", 0)).expect(200)["event_id"]
    cases = [({"event_id": event, "face_index": 0}, 400, "invalid_field"),
             ({"event_id": event, "face_index": 0, "person_id": pid, "not_person_id": pid}, 400, "invalid_field"),
             ({"event_id": "not-an-id", "face_index": 0, "person_id": pid}, 400, "invalid_field"),
             ({"event_id": "99999999999999999999-0", "face_index": 0, "person_id": pid}, 400, "invalid_field"),
             ({"event_id": "\u0661\u0662-\u0660", "face_index": 0, "person_id": pid}, 400, "invalid_field"),
             ({"event_id": "\uff11-\uff10", "face_index": 0, "name": "X"}, 400, "invalid_field"),
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


def test_person_report_flags_a_wrong_photo(client, api):
    pid = api.enroll("Madonna", *photos_bytes("madonna", [0, 1, 2, 3], "train")).expect(201)["person_id"]
    wrong = api.add_faces(pid, *photos_bytes("elton_john", [0], "train")).expect(200)["faces"][0]["face_id"]
    report = {f["face_id"]: f for f in client.get(f"/people/{pid}").json["face_report"]}
    assert len(report) == 5 and [fid for fid, f in report.items() if f["outlier"]] == [wrong]
    assert report[wrong]["median_other"] > 1.1 and report[wrong]["nearest_other"] <= report[wrong]["median_other"]
    health = client.get("/gallery/health").json
    assert [o["face_id"] for o in health["outliers"]] == [wrong] and health["outliers"][0]["name"] == "Madonna"
    # two faces: no telling which is wrong
    two = api.enroll("Ben", *photos_bytes("ben_afflek", [0, 1], "train")).expect(201)["person_id"]
    assert not any(f["outlier"] for f in client.get(f"/people/{two}").json["face_report"])


def test_gallery_health_lists_look_alikes(make_client, api):
    client = make_client(health_max_faces=12)
    api = api.of(client)
    first = api.enroll("Jerry", *photos_bytes("jerry_seinfeld", [0, 1, 2], "train")).expect(201)["person_id"]
    # one person enrolled twice
    twice = api.enroll("J. Seinfeld", *photos_bytes("jerry_seinfeld", [3, 4], "train")).expect(201)["person_id"]
    api.enroll("Mindy", *photos_bytes("mindy_kaling", [0, 1, 2], "train")).expect(201)
    health = client.get("/gallery/health").json
    threshold = client.application.extensions["facerec"].rule.threshold   # MATCH_THRESHOLD of the embedder
    assert health["people"] == 3 and health["faces"] == 8 and health["threshold"] == threshold
    assert len(health["look_alikes"]) == 1
    pair = health["look_alikes"][0]
    assert {pair["a"]["person_id"], pair["b"]["person_id"]} == {first, twice} and pair["distance"] <= threshold
    api.enroll("Elton", *photos_bytes("elton_john", range(5), "train")).expect(201)
    too_large = client.get("/gallery/health")
    assert too_large.status_code == 409 and "HEALTH_MAX_FACES" in too_large.json["error"]["message"]


def test_negatives_are_capped_and_dropped_with_their_person(make_client, api):
    client = make_client(negatives_per_person=2, match_threshold=1.5)
    api = api.of(client)
    ben = api.enroll("Ben", *photos_bytes("ben_afflek", [0, 1], "train")).expect(201)["person_id"]
    events = [api.recognize(photo_bytes("jerry_seinfeld", i)).expect(200)["event_id"] for i in range(3)]
    counts = [api.correct(event_id=e, face_index=0, not_person_id=ben).expect(200)["negatives"] for e in events]
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
