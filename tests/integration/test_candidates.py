"""Large galleries: candidate rows from the snapshot's PQ index, exact distances after, and
the same answers as brute force, also while faces are added, replaced and removed (the
changes since the snapshot) and after they are folded into a new snapshot."""
import uuid

import numpy as np
import pytest
import redis
from random_people import enroll_random_people

from app.gallery import GalleryReplica, GalleryStore, NewFace
from app.gallery.search.candidates import CandidateIndex
from app.gallery.search.matching import rank_people
from samples.vectors import near as probe_near
from samples.vectors import unit


@pytest.fixture
def store(redis_server):
    return GalleryStore(redis.Redis.from_url(redis_server.url), f"big-{uuid.uuid4().hex[:6]}:")


def brute_force(store: GalleryStore):
    """(matrix, labels, face ids) of everything in Redis: the ground truth."""
    snapshot = store.read_all()
    rows = [(pid, fid, v) for pid, (_, faces) in snapshot.people.items() for fid, v in faces.items()]
    return np.array([v for _, _, v in rows]), [pid for pid, _, _ in rows], [fid for _, fid, _ in rows]


def assert_like_brute_force(replica, store, queries, k=3):
    """Rank 1 is brute force's (person, distance, face); every candidate listed carries the
    exact distance to the face it names, nearest first (ranks 2..k may differ from brute
    force's where the PQ ranking errs among faces far away: they are never a match)."""
    matrix, labels, fids = brute_force(store)
    row_of = {fid: i for i, fid in enumerate(fids)}
    for q in queries:
        exact = rank_people(q, matrix, labels, k)
        found = replica.match(q, k)
        assert (found[0].person_id, found[0].face_id) == (exact[0][0], fids[exact[0][2]])
        assert len({m.person_id for m in found}) == len(found) == k
        assert [m.distance for m in found] == sorted(m.distance for m in found)
        for m in found:
            row = row_of[m.face_id]
            assert labels[row] == m.person_id
            assert abs(m.distance - float(np.linalg.norm(matrix[row] - q))) < 1e-5  # exact, never a PQ estimate


def test_candidates_give_the_brute_force_answer_through_changes(store, tmp_path):
    rng = np.random.default_rng(0)
    people = enroll_random_people(store, rng, 500, 8)
    replica = GalleryReplica(store, CandidateIndex(min_rows=2000), cache_dir=tmp_path, compact_min=10**9)
    replica.sync()
    assert replica.live.index is not None and replica.size == 4000  # the candidate path is taken
    pids = list(people)
    probes = [probe_near(people[pid][int(rng.integers(0, 8))], rng) for pid in pids[:100]]
    assert_like_brute_force(replica, store, probes + list(unit(40, rng)))

    for i in range(40):  # appends, replaced faces, removals: the changes since the snapshot
        store.create_person(f"new {i}", [NewFace(v) for v in unit(3, rng)])
        pid = pids[100 + i]
        face = store.person(pid)["faces"][0]
        store.delete_face(pid, face)
        store.add_faces(pid, [NewFace(unit(1, rng)[0], face_id=face)])  # same id, new vector
        store.delete_person(pids[200 + i])
    assert replica.sync() == "updated" and replica.live.changes > 0
    changed = [probe_near(v, rng) for pid in pids[100:140] for v in store.vectors(pid)[:1]]
    assert_like_brute_force(replica, store, changed + probes[:40] + list(unit(40, rng)))
    assert all(m.person_id not in pids[200:240] for q in probes for m in replica.match(q, 3))

    store.rename(pids[0], "Renamed Person")
    replica.sync()
    assert replica.compact() and replica.live.changes == 0  # folded into a new snapshot
    assert_like_brute_force(replica, store, changed + probes[:40] + list(unit(40, rng)))
    names = {m.person_id: m.name for q in probes[:3] for m in replica.match(q, 1)}
    assert names == {pids[0]: "Renamed Person", pids[1]: store.person(pids[1])["name"],
                     pids[2]: store.person(pids[2])["name"]}
    newcomer = store.people()[-1]
    assert replica.match(probe_near(store.vectors(newcomer["person_id"])[0], rng), 1)[0].name == newcomer["name"]


def test_small_galleries_are_scanned_whole(store, tmp_path):
    rng = np.random.default_rng(1)
    store.create_person("someone", [NewFace(v) for v in unit(100, rng)])
    replica = GalleryReplica(store, CandidateIndex(min_rows=5000), cache_dir=tmp_path)
    replica.sync()
    assert replica.live.index is None and replica.size == 100
    assert_like_brute_force(replica, store, list(unit(5, rng)), k=1)


def test_gallery_index_matches_exactly_above_the_candidate_threshold(store, tmp_path):
    rng = np.random.default_rng(2)
    people = enroll_random_people(store, rng, 60, 50)
    index = GalleryReplica(store, CandidateIndex(min_rows=1000), cache_dir=tmp_path)
    index.sync()
    assert index.size == 3000
    pids = list(people)
    for pid in pids[:20]:
        query = probe_near(people[pid][int(rng.integers(0, 50))], rng)
        assert index.match(query, 3)[0].person_id == pid
    assert index.live.index is not None  # the candidate path was taken
    store.delete_person(pids[0])
    newcomer, _ = store.create_person("newcomer", [NewFace(v) for v in unit(3, rng)])
    index.sync()
    assert index.size == 3000 - 50 + 3
    assert index.match(probe_near(people[pids[0]][0], rng), 1)[0].person_id != pids[0]
    newcomer_vectors = store.vectors(newcomer)
    match = index.match(probe_near(newcomer_vectors[1], rng), 1)[0]
    assert match.person_id == newcomer and match.face_id in store.person(newcomer)["faces"]
    assert index.person_of_face(match.face_id) == newcomer
    assert index.person_of_face(store.person(pids[1])["faces"][0]) == pids[1]
    assert index.person_of_face("nobody") is None
