"""Large galleries: candidate rows from the PQ index, exact distances after, and the same
answers as brute force, also while faces are added, replaced and removed."""
import uuid

import numpy as np
import redis

from app.gallery import GalleryReplica, GalleryStore, NewFace
from app.gallery.candidates import CandidateIndex
from app.gallery.matching import rank_people
from samples.vectors import near as probe_near
from samples.vectors import unit


def test_candidates_give_the_brute_force_answer_through_changes():
    rng = np.random.default_rng(0)
    n = 20_000
    matrix = np.zeros((n + 2000, 128), np.float32)
    matrix[:n] = unit(n, rng)
    labels = [f"p{i // 4}" for i in range(n)] + [None] * 2000
    index = CandidateIndex(min_rows=5000)
    count = n

    def agree(queries):
        same = 0
        for q in queries:
            rows = index.rows_for(q, matrix, count, 3)
            assert rows is not None and len(rows) < count
            fast = rank_people(q, matrix[:count], labels, 3, rows)
            exact = rank_people(q, matrix[:count], labels, 3)
            assert fast[0][1] >= exact[0][1] - 1e-5  # distances are exact, never underestimated
            same += fast[0][0] == exact[0][0] and abs(fast[0][1] - exact[0][1]) < 1e-5
        return same / len(queries)

    assert agree([probe_near(matrix[i], rng) for i in rng.choice(n, 200)]) == 1.0
    for i in range(500):  # appends after the snapshot, overwrites, removals by swap
        matrix[count] = unit(1, rng)[0]
        labels[count] = f"new{i}"
        index.mark(count)
        count += 1
        row = int(rng.integers(0, count))
        matrix[row] = unit(1, rng)[0]
        index.mark(row)
        gone = int(rng.integers(0, count))
        matrix[gone], labels[gone] = matrix[count - 1], labels[count - 1]
        index.mark(gone)
        count -= 1
    changed = [probe_near(matrix[r], rng) for r in list(index.touched)[:100]]
    appended = [probe_near(matrix[r], rng) for r in range(n - 50, count)]
    assert agree(changed + appended) == 1.0
    assert index.snapshot_rows == n  # 5% of changes not reached yet: no rebuild


def test_small_galleries_are_scanned_whole():
    rng = np.random.default_rng(1)
    matrix = unit(100, rng)
    assert CandidateIndex(min_rows=5000).rows_for(matrix[0], matrix, 100, 3) is None


def test_gallery_index_matches_exactly_above_the_candidate_threshold(redis_server):
    rng = np.random.default_rng(2)
    store = GalleryStore(redis.Redis.from_url(redis_server.url), f"big-{uuid.uuid4().hex[:6]}:")
    people = {}
    for p in range(60):
        vectors = unit(50, rng)
        pid, _ = store.create_person(f"person {p}", [NewFace(v) for v in vectors])
        people[pid] = vectors
    index = GalleryReplica(store, CandidateIndex(min_rows=1000))
    index.sync()
    assert index.size == 3000
    pids = list(people)
    for pid in pids[:20]:
        query = probe_near(people[pid][int(rng.integers(0, 50))], rng)
        assert index.match(query, 3)[0].person_id == pid
    assert index.candidates.index is not None  # the candidate path was taken
    store.delete_person(pids[0])
    newcomer, _ = store.create_person("newcomer", [NewFace(v) for v in unit(3, rng)])
    index.sync()
    assert index.size == 3000 - 50 + 3
    assert index.match(probe_near(people[pids[0]][0], rng), 1)[0].person_id != pids[0]
    newcomer_vectors = store.vectors(newcomer)
    match = index.match(probe_near(newcomer_vectors[1], rng), 1)[0]
    assert match.person_id == newcomer and match.face_id in store.person(newcomer)["faces"]
