"""Writes that raced (issue 23): imports against imports and enrolls, naming one visitor from
several clients, corrections of one face. Two app instances on one key prefix are two workers
of one server; threads released together by a barrier race them against the real Redis, and
the gallery is then read from Redis itself: a face id belongs to one person, always."""
import base64
import io
import uuid
from collections import Counter

import numpy as np
import pytest
import redis
from races import raced

from samples.photos import photo_bytes


@pytest.fixture
def workers(make_app):
    """Two workers (apps) of one server: one gallery, one key prefix."""
    prefix = f"race-{uuid.uuid4().hex[:8]}:"
    return [make_app(redis_prefix=prefix).test_client() for _ in range(2)]


def owners_in_redis(client, redis_url) -> Counter:
    """How many people hold each face id, read from Redis itself."""
    s = client.application.extensions["facerec"]
    r = redis.Redis.from_url(redis_url)
    held = Counter()
    for pid in s.store.pids():
        held.update(f.decode() for f in r.hkeys(f"{s.settings.redis_prefix}person:{pid}:faces"))
    return held


def a_file(client, people):
    s = client.application.extensions["facerec"]
    rng = np.random.default_rng(len(people))

    def face(fid):
        v = rng.standard_normal(s.store.dim)
        return {"face_id": fid, "embedding": base64.b64encode((v / np.linalg.norm(v)).astype("<f4").tobytes()).decode()}
    return {"format": "facerec-gallery/1", "model": s.store.model.id,
            "people": [{"person_id": pid, "name": name, "faces": [face(f) for f in fids]}
                       for pid, name, fids in people]}


def test_racing_imports_never_give_one_face_id_to_two_people(workers, redis_server):
    """Hole 6: imports race each other and enrolls; each face id ends with one person."""
    first, second = workers
    for round_ in range(3):
        files = [a_file(first, [(f"p{round_}{k}", f"Person {round_} {k}", [f"shared{round_}", f"own{round_}{k}"])])
                 for k in range(3)]
        enroll = lambda: first.post("/enroll", data={"name": f"E{round_}", "image": (  # noqa: E731
            io.BytesIO(photo_bytes("madonna", round_, "train")), "a.jpg")},
            content_type="multipart/form-data")
        answers = raced([lambda f=f, c=c: c.post("/gallery/import", json=f)
                         for f, c in zip(files, (first, second, first))] + [enroll])
        # one import creates its person; each other one is refused by its check (409), or, when
        # it checked before the winner wrote, skips that person and says so (200)
        created = [a for a in answers[:3] if a.status_code == 200 and a.json["people_created"] == 1]
        others = [a for a in answers[:3] if a not in created]
        assert len(created) == 1, [(a.status_code, a.json) for a in answers[:3]]
        assert all(a.status_code == 409 or (a.status_code == 200 and a.json["people_created"] == 0
                                            and f"shared{round_}" in a.json["skipped"][0]) for a in others)
        assert answers[3].status_code == 201
        held = owners_in_redis(first, redis_server.url)
        assert held[f"shared{round_}"] == 1 and max(held.values()) == 1, held


def test_naming_one_visitor_from_four_clients_makes_one_person(workers, redis_server):
    """Hole 8: four clients name one visitor at once: one 201, the others 409; one person."""
    first, second = workers
    response = first.post("/recognize", data=photo_bytes("elton_john", 1), content_type="image/jpeg")
    vid = response.json["faces"][0]["visitor_id"]
    assert vid
    bodies = [{"name": "Elton"}, {"name": "Reginald"}, {"name": "Sir Elton"}, {"name": "EJ"}]
    answers = raced([lambda b=b, c=c: c.post(f"/visitors/{vid}/name", json=b)
                     for b, c in zip(bodies, (first, second, first, second))])
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(201) == 1 and all(s in (404, 409) for s in statuses if s != 201), statuses
    assert first.get("/people").json["count"] == 1
    assert max(owners_in_redis(first, redis_server.url).values()) == 1


def test_racing_corrections_put_a_face_in_one_person(workers, redis_server):
    """Hole 9: "is X", "is Z" and two new names for one event face at once: the face ends in one
    person; the losers are 409."""
    first, second = workers
    x = first.post("/enroll", data={"name": "X", "image": (io.BytesIO(photo_bytes("madonna", 0, "train")),
                                                          "a.jpg")}, content_type="multipart/form-data").json
    z = first.post("/enroll", data={"name": "Z", "image": (io.BytesIO(photo_bytes("ben_afflek", 0,
                                                                                                 "train")), "a.jpg")},
                   content_type="multipart/form-data").json
    for round_ in range(3):
        first.post("/recognize", data=photo_bytes("jerry_seinfeld", round_), content_type="image/jpeg")
        event = first.get("/events?count=1").json["events"][0]["event_id"]
        bodies = [{"person_id": x["person_id"]}, {"person_id": z["person_id"]}, {"name": f"New {round_} a"},
                  {"name": f"New {round_} b"}]
        answers = raced([lambda b=b, c=c: c.post("/corrections", json={"event_id": event, "face_index": 0, **b})
                         for b, c in zip(bodies, (first, second, first, second))])
        statuses = sorted(a.status_code for a in answers)
        assert sum(s in (200, 201) for s in statuses) == 1 and statuses.count(409) == 3, statuses
        held = owners_in_redis(first, redis_server.url)
        assert held[f"e{event}-0"] == 1 and max(held.values()) == 1
