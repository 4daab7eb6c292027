"""Rebuilds happen in the background: while faces are replaced and the changes are folded
into new snapshots (compactions), requests keep matching, every answer exact, and no request
ever builds anything."""
import threading
import uuid

import numpy as np
import redis

from app.gallery import GalleryReplica, GalleryStore, NewFace
from app.gallery.search.candidates import CandidateIndex
from app.gallery.snapshots import builder
from samples.vectors import near, unit


def test_matches_stay_exact_while_the_gallery_is_rebuilt_in_the_background(redis_server, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    store = GalleryStore(redis.Redis.from_url(redis_server.url), f"rebuild-{uuid.uuid4().hex[:6]}:")
    stable, churn = {}, []
    for p in range(40):
        pid, fids = store.create_person(f"stable {p}", [NewFace(v) for v in unit(5, rng)])
        stable[pid] = fids
    for p in range(150):
        churn.append(store.create_person(f"churn {p}", [NewFace(v) for v in unit(5, rng)]))
    replica = GalleryReplica(store, CandidateIndex(min_rows=500), cache_dir=tmp_path, compact_min=100)
    replica.sync()
    assert replica.live.index is not None

    # every probe's answer: a stable person's face at exactly 0.85, which no change touches
    expected = []
    for pid, fids in stable.items():
        fid = fids[int(rng.integers(0, len(fids)))]
        vector = np.frombuffer(store.redis.hget(store.person_key(pid) + ":faces", fid), "<f4")
        expected.append((near(vector, rng), pid, fid))

    answered, during_build, wrong, statuses = [0], [0], [], set()
    building = threading.Event()
    slow_build = builder.from_live

    def watched_build(*args, **kwargs):  # holds each compaction open until requests ran beside it
        building.set()
        start, waited = answered[0], 0
        while answered[0] < start + 20 and not stop.is_set() and waited < 500:
            stop.wait(0.01)
            waited += 1
        try:
            return slow_build(*args, **kwargs)
        finally:
            building.clear()
    monkeypatch.setattr(builder, "from_live", watched_build)

    stop = threading.Event()

    def requests():
        while not stop.is_set():
            for probe, pid, fid in expected:
                statuses.add(replica.sync())
                in_build = building.is_set()
                found = replica.match(probe, 3)
                if (found[0].person_id, found[0].face_id) != (pid, fid) or abs(found[0].distance - 0.85) > 1e-4 \
                        or replica.person_of_face(fid) != pid:
                    wrong.append((pid, found[0]))
                answered[0] += 1
                during_build[0] += in_build and building.is_set()
    workers = [threading.Thread(target=requests, name=f"request-{i}") for i in range(3)]
    for w in workers:
        w.start()
    replica.start_maintenance(every_s=0.02)
    try:
        for i, (pid, _) in enumerate(churn[:100]):  # 1000 faces replaced: several compactions
            store.delete_person(pid)
            store.create_person(f"newcomer {i}", [NewFace(v) for v in unit(5, rng)])
        deadline = threading.Event()
        for _ in range(500):  # until the worker has folded everything in
            if replica.sync() == "current" and not replica.compaction_due() and not building.is_set():
                break
            deadline.wait(0.05)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=30)
        replica.stop_maintenance()

    assert wrong == []
    compactions = [b for b in replica.builds if b.startswith("compaction")]
    assert len(compactions) >= 3
    assert all(b.endswith("on gallery-maintenance") for b in compactions)  # never a request's thread
    assert during_build[0] >= 20 * len(compactions) // 2  # requests really ran while snapshots were built
    assert statuses <= {"current", "updated"}  # no request reloaded
    # folded in: no compaction due, which leaves at most compact_min changes unfolded (exactly 100
    # when the last change lands on the boundary)
    assert replica.size == 190 * 5 and not replica.compaction_due() and replica.live.changes <= 100
    for pid, _ in churn[100:]:  # and the folded copy still answers like Redis
        assert replica.match(near(store.vectors(pid)[0], rng), 1)[0].person_id == pid
    assert all(replica.person_of_face(fid) is None for _, fids in churn[:100] for fid in fids)
    assert all(replica.person_of_face(fid) == pid for pid, fids in churn[100:] for fid in fids)
