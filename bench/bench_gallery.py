"""Gallery scale: matching at 1k to 1M enrolled faces (synthetic unit vectors), side by side
with brute force, against a real redis-server.

    python -m bench.bench_gallery [--sizes 1000 10000 100000 1000000] [--out results/bench_gallery.json]

Per size: match time p50/p95 (what a worker does per face: candidates + exact distances,
or the whole matrix below CandidateIndex.min_rows) and brute force on the same queries;
rank-1 agreement with brute force for probes near an enrolled face (at 0.85, a typical
same-person distance) and for strangers; memory of one worker's copy; time for a worker to
load the gallery from Redis at start-up; time until a new enrollment is visible to two
workers (their next sync).
"""
import argparse
import statistics
import tempfile
import time
import uuid

import numpy as np
import redis

from app.gallery import GalleryReplica, GalleryStore, NewFace
from app.gallery.codec import encode_vector
from app.gallery.matching import rank_people
from bench.results import write_results
from samples.vectors import near, unit
from scripts.processes import free_port, start_redis
from scripts.pypi_assets import ROOT

FACES_PER_PERSON = 5


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def bulk_load(client, store, vectors, rng):
    """Write the gallery straight into Redis's keys (the benchmark's shortcut: no log)."""
    people = len(vectors) // FACES_PER_PERSON
    with client.pipeline(transaction=False) as pipe:
        for p in range(people):
            pid = f"p{p:07d}"
            pipe.hset(store.person_key(pid), mapping={"name": f"person {p}", "created_at": "", "updated_at": ""})
            pipe.hset(store.person_key(pid) + ":faces", mapping={
                f"f{p:07d}-{j}": encode_vector(vectors[p * FACES_PER_PERSON + j]) for j in range(FACES_PER_PERSON)})
            pipe.sadd(store.people_key, pid)
            if p % 2000 == 1999:
                pipe.execute()
        pipe.execute()


def ms(seconds):
    return round(seconds * 1000.0, 3)


def bench_size(client, n, queries, rng):
    store = GalleryStore(client, f"bench-{uuid.uuid4().hex[:6]}:")
    vectors = unit(n, rng)
    bulk_load(client, store, vectors, rng)
    base = rss()
    worker = GalleryReplica(store)
    start = time.perf_counter()
    worker.sync()
    load_s = time.perf_counter() - start
    probes = [near(vectors[i], rng) for i in rng.integers(0, n, queries)]
    strangers = list(unit(queries // 5, rng))
    worker.match(probes[0], 3)  # builds the candidate index when the gallery is large
    memory = rss() - base

    matrix, labels = worker.vectors[: worker.size], worker.pids
    fast_t, brute_t, agree_known, agree_strangers, same_decision = [], [], 0, 0, 0
    for i, q in enumerate(probes + strangers):
        t0 = time.perf_counter()
        fast = worker.match(q, 3)
        t1 = time.perf_counter()
        exact = rank_people(q, matrix, labels, 3)
        t2 = time.perf_counter()
        fast_t.append(t1 - t0)
        brute_t.append(t2 - t1)
        same = fast[0].person_id == exact[0][0]
        if i < len(probes):
            agree_known += same
        else:
            agree_strangers += same
            same_decision += (fast[0].distance <= 1.10) == (exact[0][1] <= 1.10)

    # a new enrollment, seen by two workers at their next sync
    other = GalleryReplica(store)
    other.sync()
    start = time.perf_counter()
    store.create_person("newcomer", [NewFace(unit(1, rng)[0])])
    written = time.perf_counter()
    visible = []
    for w in (worker, other):
        t0 = time.perf_counter()
        assert w.sync() == "updated"
        visible.append(time.perf_counter() - t0)
    client.delete(*[k for k in client.scan_iter(match=store.prefix + "*", count=10_000)])
    return {
        "faces": n, "people": n // FACES_PER_PERSON, "candidate_index": worker.candidates.index is not None,
        "match_ms": {"p50": ms(statistics.median(fast_t)), "p95": ms(float(np.percentile(fast_t, 95)))},
        "brute_force_ms": {"p50": ms(statistics.median(brute_t)), "p95": ms(float(np.percentile(brute_t, 95)))},
        "speedup_p50": round(statistics.median(brute_t) / statistics.median(fast_t), 1),
        "rank1_agreement": {"probes": agree_known / len(probes), "strangers": agree_strangers / len(strangers),
                            "stranger_decision": same_decision / len(strangers)},
        "worker_memory_mb": round(memory / 1e6, 1),
        "startup_load_s": round(load_s, 2),
        "new_enrollment_ms": {"write": ms(written - start), "visible_in_each_worker": [ms(v) for v in visible]},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--out", default=str(ROOT / "results" / "bench_gallery.json"))
    args = parser.parse_args(argv)
    port = free_port()
    server = start_redis(tempfile.mkdtemp(prefix="bench-redis-"), port)
    try:
        client = redis.Redis(port=port)
        rng = np.random.default_rng(0)
        results = []
        for n in args.sizes:
            results.append(bench_size(client, n, args.queries, rng))
            r = results[-1]
            print(f"{n:>9} faces: match p50 {r['match_ms']['p50']:.2f} ms p95 {r['match_ms']['p95']:.2f} ms "
                  f"(brute force p50 {r['brute_force_ms']['p50']:.2f} ms, {r['speedup_p50']}x) | "
                  f"rank-1 = brute force on {r['rank1_agreement']['probes']:.1%} of probes, "
                  f"{r['rank1_agreement']['stranger_decision']:.1%} same unknown/known call for strangers | "
                  f"worker memory {r['worker_memory_mb']} MB | load {r['startup_load_s']} s | new face visible "
                  f"after {r['new_enrollment_ms']['write']:.2f} ms write + "
                  f"{max(r['new_enrollment_ms']['visible_in_each_worker']):.2f} ms sync", flush=True)
    finally:
        server.terminate()
        server.wait()
    write_results(args.out, results)


if __name__ == "__main__":
    main()
