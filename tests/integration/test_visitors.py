"""Unknown visitors on the real Redis and the real models: sightings join and start visitors,
re-clustering merges and splits, naming enrolls, forgetting forgets, and every store is capped."""
import itertools
import time
from collections import Counter

import numpy as np
import pytest
from api_client import Api

from app.usecases import housekeeping
from app.visitors.store import Sighting, new_id
from config import SettingsError, load_settings
from samples.photos import encode_jpeg, photo_bytes, three_face_frame
from samples.vectors import near, unit

VISITS = itertools.count()


def recognize(client, person, index, camera="door"):
    """The photo as a visit of its own: a minute after the previous one (more than TRACK_GAP_S), so
    each photo is a sighting (the frames of one visit are one sighting: test_visits.py)."""
    when = time.time() - 80_000 + 60 * next(VISITS)
    return Api(client).recognize(photo_bytes(person, index), camera_id=camera, timestamp=f"{when:.3f}").expect(200)


def visitor_of(client, person, index, camera="door"):
    faces = recognize(client, person, index, camera)["faces"]
    assert len(faces) == 1 and faces[0]["match"] is None
    return faces[0]["visitor_id"]


def services_of(client):
    return client.application.extensions["facerec"]


def test_sightings_join_a_visitor_or_start_one(client):
    first = visitor_of(client, "elton_john", 1, "door")
    assert first and visitor_of(client, "elton_john", 2, "garage") == first  # 0.85 apart: the same visitor
    other = visitor_of(client, "mindy_kaling", 0)
    assert other not in (None, first)
    listed = client.get("/visitors").json
    assert listed["count"] == 2 and [v["visitor_id"] for v in listed["visitors"]] == [other, first]  # newest first
    elton = client.get(f"/visitors/{first}").json
    assert elton["sightings"] == 2 and elton["cameras"] == ["door", "garage"]
    assert elton["first_seen"] <= elton["last_seen"] and len(elton["thumbnails"]) == 2
    thumb = client.get(f"/visitors/{first}/sightings/{elton['thumbnails'][0]}/thumbnail")
    assert thumb.status_code == 200 and thumb.data[:2] == b"\xff\xd8"
    assert client.get(f"/visitors/{other}/sightings/{elton['thumbnails'][0]}/thumbnail").status_code == 404
    events = client.get("/events?count=3").json["events"]
    assert [e["faces"][0]["visitor_id"] for e in events] == [other, first, first]


def test_every_worker_sees_the_same_visitors(make_app):
    import uuid
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    first, second = (make_app(redis_prefix=prefix).test_client() for _ in range(2))
    mindy = visitor_of(second, "mindy_kaling", 0)  # the second worker's copy is loaded ...
    elton = visitor_of(first, "elton_john", 1)
    assert visitor_of(second, "elton_john", 2) == elton != mindy  # ... and follows the first's sighting
    assert visitor_of(first, "mindy_kaling", 1) == mindy


def test_two_faces_of_one_frame_are_two_visitors(client):
    faces = client.post("/recognize", data=encode_jpeg(three_face_frame()), content_type="image/jpeg").json["faces"]
    ids = [f["visitor_id"] for f in faces]
    assert len(faces) == 3 and None not in ids and len(set(ids)) == 3


def test_known_small_and_unsure_faces_are_not_kept(make_client):
    strict = make_client(visitor_min_face_px=2000)
    assert recognize(strict, "elton_john", 1)["faces"][0]["visitor_id"] is None
    unsure = recognize(make_client(), "elton_john", 0)["faces"][0]  # detection score 0.84 < VISITOR_MIN_SCORE
    assert unsure["match"] is None and unsure["score"] < 0.9 and unsure["visitor_id"] is None
    assert strict.get("/visitors").json["count"] == 0
    client = make_client()
    client.post("/enroll", data=photo_bytes("elton_john", 1), content_type="image/jpeg", query_string={"name": "Elton"})
    face = recognize(client, "elton_john", 1)["faces"][0]
    assert face["match"]["name"] == "Elton" and face["visitor_id"] is None


def test_reclustering_merges_one_person_seen_as_two_visitors(make_client):
    client = make_client(visitor_min_samples=3)
    a, b = visitor_of(client, "madonna", 0), visitor_of(client, "madonna", 1)  # 1.17 apart: two visitors
    assert a != b
    assert visitor_of(client, "madonna", 2) in (a, b)  # 0.85 from the first: joins it, and bridges both
    result = housekeeping.run_once(services_of(client))
    assert result.ran and result.reclustering.moved == 1 and result.reclustering.visitors_after == 1
    listed = client.get("/visitors").json
    assert listed["count"] == 1 and listed["visitors"][0]["sightings"] == 3
    assert listed["visitors"][0]["visitor_id"] in (a, b)  # an id kept, not a new one
    again = housekeeping.run_once(services_of(client))  # its own moves changed the version: one more look
    assert again.reclustering.moved == 0
    assert housekeeping.run_once(services_of(client)).reclustering is None  # nothing changed since: skipped


def add(s, vid, vector, new, when=None):
    sighting = Sighting(new_id(), "cam", when or time.time(), 0.99, 80.0, 79.2)
    assert s.visitors.add(sighting, vid, new, vector, b"jpeg")
    return sighting.sighting_id


def test_reclustering_splits_an_impure_visitor_and_keeps_ids(client):
    s = services_of(client)
    rng = np.random.default_rng(7)
    alice, bob = unit(2, rng, s.visitors.dim)
    vid = new_id()
    for i in range(5):  # two tight groups far apart, joined into one visitor (as a chain would do)
        add(s, vid, near(alice, rng, 0.5), new=i == 0)
    for _ in range(3):
        add(s, vid, near(bob, rng, 0.5), new=False)
    result = housekeeping.run_once(s)
    assert result.reclustering.moved == 3 and result.reclustering.visitors_after == 2
    listed = {v["visitor_id"]: v["sightings"] for v in client.get("/visitors").json["visitors"]}
    assert listed[vid] == 5 and sorted(listed.values()) == [3, 5]  # the larger part keeps the id
    # a worker's index follows: a new face near the split-off part joins it, not the old id
    s.visitor_index.sync()
    assert s.visitor_index.nearest(near(bob, rng, 0.3))[0] != vid


def observed(s, vector):
    """The visitor an unknown face with embedding `vector` joins (through the use case recognize() calls)."""
    from app.pipeline import Face
    from app.usecases.recognition import RecognizedFace
    from app.usecases.visitors import observe
    face = RecognizedFace(Face(np.array([0, 0, 80, 80], np.float32), 0.99, np.zeros((5, 2), np.float32), vector),
                          candidates=[], match=None)
    observe(s, [face], [b"jpeg"], "door")
    return face.visitor_id


def along(s, rng, *chords):
    """Unit vectors on one great circle, at these distances (chords) from the first."""
    u, w = np.linalg.qr(rng.standard_normal((s.visitors.dim, 2)))[0].T
    angles = [2 * np.arcsin(c / 2) for c in chords]
    return [(np.cos(t) * u + np.sin(t) * w).astype(np.float32) for t in angles]


def chain(s, rng, step=0.9):
    """A, B, C: each neighbour pair `step` apart (within VISITOR_DISTANCE), A and C far apart,
    and M halfway between A and B (near both)."""
    angle = 2 * np.arcsin(step / 2)
    a, b, c, m = along(s, rng, 0.0, step, 2 * np.sin(angle), 2 * np.sin(angle / 4))
    assert np.linalg.norm(a - b) <= s.settings.visitor_distance and np.linalg.norm(b - c) <= s.settings.visitor_distance
    assert np.linalg.norm(a - c) > 1.5
    return a, b, c, m


def test_a_chain_of_look_alikes_does_not_become_one_visitor(client):
    s = services_of(client)
    a, b, c, m = chain(s, np.random.default_rng(3))
    first = observed(s, a)
    assert observed(s, b) == first            # near the visitor's only sighting: joins it
    assert observed(s, c) not in (None, first)  # near B only, not most of the visitor: a visitor of its own
    assert observed(s, m) == first            # near both A and B: joins
    # re-clustering keeps them apart too: DBSCAN alone would chain C in through B (a core sighting)
    assert housekeeping.run_once(s).ran
    owner = {k.decode(): v.decode() for k, v in s.redis.hgetall(s.visitors.key("visitors:of")).items()}
    assert len(set(owner.values())) == 2 and sorted(Counter(owner.values()).values()) == [1, 3]


def test_redis_refuses_a_join_that_the_visitor_no_longer_allows(make_app):
    """Two workers: the second decided from a copy taken before the first added B; Redis checks
    the rule against the visitor as it is when the face joins, so C is refused and stored nowhere."""
    import uuid
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    first, second = (services_of(make_app(redis_prefix=prefix).test_client()) for _ in range(2))
    a, b, c, _ = chain(first, np.random.default_rng(5))
    vid = observed(first, a)
    second.visitor_index.sync()
    assert [v for v, _ in second.visitor_index.joinable(c, second.settings.visitor_distance)] == []
    assert observed(first, b) == vid
    stale = Sighting(new_id(), "cam", time.time(), 0.99, 80.0, 79.2)
    assert not second.visitors.add(stale, vid, False, c, b"jpeg", within=second.settings.visitor_distance)
    assert second.redis.hget(second.visitors.key("visitors:of"), stale.sighting_id) is None
    assert second.visitors.visitor(vid).sightings == 2
    assert observed(second, c) not in (None, vid)   # through the use case: a visitor of its own


def test_naming_a_visitor_enrolls_its_best_faces(make_client):
    client = make_client(visitor_enroll_faces=2)
    vid = visitor_of(client, "elton_john", 1)
    for index in (2, 3):
        assert visitor_of(client, "elton_john", index) == vid
    named = client.post(f"/visitors/{vid}/name", json={"name": "Elton John"})
    assert named.status_code == 201, named.json
    assert named.json["created"] and named.json["name"] == "Elton John" and len(named.json["face_ids"]) == 2
    assert client.get(f"/visitors/{vid}").status_code == 404 and client.get("/visitors").json["count"] == 0
    face = recognize(client, "elton_john", 4)["faces"][0]
    assert face["match"]["name"] == "Elton John" and face["visitor_id"] is None
    # a visitor added to someone already enrolled
    other = visitor_of(client, "mindy_kaling", 0)
    mindy = client.post("/enroll", data=photo_bytes("mindy_kaling", 0, "train"), content_type="image/jpeg",
                        query_string={"name": "Mindy"}).json["person_id"]
    added = client.post(f"/visitors/{other}/name", json={"person_id": mindy})
    assert added.status_code == 200 and not added.json["created"] and added.json["name"] == "Mindy"
    assert len(client.get(f"/people/{mindy}").json["faces"]) == 2


def test_naming_refuses_bad_input_and_keeps_the_visitor(client):
    vid = visitor_of(client, "elton_john", 1)
    for body, status, code in [({}, 400, "invalid_field"), ({"name": "A", "person_id": "b"}, 400, "invalid_field"),
                               ({"name": "   "}, 400, "invalid_field"), ({"name": 5}, 400, "bad_request"),
                               ({"person_id": "nobody"}, 404, "person_not_found")]:
        response = client.post(f"/visitors/{vid}/name", json=body)
        assert (response.status_code, response.json["error"]["code"]) == (status, code), body
    client.post("/enroll", data=photo_bytes("madonna", 0), content_type="image/jpeg", query_string={"name": "Ann"})
    assert client.post(f"/visitors/{vid}/name", json={"name": "ann"}).status_code == 409
    assert client.get(f"/visitors/{vid}").json["sightings"] == 1  # nothing lost
    assert client.post("/visitors/nobody/name", json={"name": "X"}).json["error"]["code"] == "visitor_not_found"
    for query in ("count=0", "count=201", "count=x", "offset=-1"):
        assert client.get(f"/visitors?{query}").status_code == 400, query


def test_forgetting_a_visitor(client):
    vid = visitor_of(client, "elton_john", 1)
    sid = client.get(f"/visitors/{vid}").json["thumbnails"][0]
    assert client.delete(f"/visitors/{vid}").json == {"deleted": vid}
    assert client.get(f"/visitors/{vid}").status_code == 404
    assert client.get(f"/visitors/{vid}/sightings/{sid}/thumbnail").status_code == 404
    assert client.delete(f"/visitors/{vid}").json["error"]["code"] == "visitor_not_found"
    s = services_of(client)
    assert s.redis.hlen(s.visitors.key("visitors:vec")) == 0 and s.redis.zcard(s.visitors.key("visitors:seen")) == 0
    assert visitor_of(client, "elton_john", 2) != vid  # seen again: a new visitor


def test_sightings_are_capped_by_count_and_age(make_client):
    client = make_client(visitor_max_sightings=10, visitor_max_age_s=3600)
    s = services_of(client)
    rng = np.random.default_rng(3)
    vids = [new_id() for _ in range(15)]
    for vid, vector in zip(vids, unit(15, rng, s.visitors.dim)):  # 15 strangers, one sighting each
        add(s, vid, vector, new=True)
    assert s.redis.zcard(s.visitors.key("visitors:seen")) == 10 and s.visitors.count() == 10
    assert s.visitors.visitor(vids[0]) is None and s.visitors.visitor(vids[-1]) is not None  # the oldest went
    for name in ("vec", "thumb", "meta", "of"):
        assert s.redis.hlen(s.visitors.key("visitors:" + name)) == 10
    s.visitor_index.sync()
    assert s.visitor_index.size == 10
    assert s.visitors.trim(now=time.time() + 7200) == 10  # all older than the age cap
    assert s.visitors.count() == 0 and s.redis.hlen(s.visitors.key("visitors:vec")) == 0
    s.visitor_index.sync()
    assert s.visitor_index.size == 0 and s.visitor_index.nearest(unit(1, rng, s.visitors.dim)[0]) is None
    assert s.redis.xlen(s.visitors.log_key) <= 100  # the log is capped too (GALLERY_LOG_MAXLEN, approximately)


def test_housekeeping_runs_in_one_worker_at_a_time(make_app):
    app = make_app(housekeeping_interval_s=0.5)
    s = app.extensions["facerec"]
    thread = app.extensions["facerec-housekeeping"]
    try:
        lock = s.redis.lock(s.settings.redis_prefix + "housekeeping:lock", timeout=30)
        assert lock.acquire()
        assert housekeeping.run_once(s).ran is False  # another worker holds it
        rng = np.random.default_rng(5)
        person = unit(1, rng, s.visitors.dim)[0]
        first, second = new_id(), new_id()
        for vid in (first, second):  # one person seen as two visitors: the thread merges them
            for i in range(3):
                add(s, vid, near(person, rng, 0.45), new=i == 0)
        time.sleep(1.2)
        assert s.visitors.count() == 2  # not while the lock is held
        lock.release()
        deadline = time.time() + 10
        while s.visitors.count() != 1 and time.time() < deadline:
            time.sleep(0.1)
        assert s.visitors.count() == 1
    finally:
        thread.stop()


@pytest.mark.parametrize("variable, value", [("VISITOR_DISTANCE", "0"), ("VISITOR_DISTANCE", "3"),
                                             ("VISITOR_MAX_SIGHTINGS", "5"), ("VISITOR_MIN_SCORE", "1.5"),
                                             ("HOUSEKEEPING_INTERVAL_S", "-1"), ("HOUSEKEEPING_INTERVAL_S", "0.01"),
                                             ("CORRECTION_MARGIN", "x"), ("NEGATIVES_PER_PERSON", "0")])
def test_visitor_settings_are_validated(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()
