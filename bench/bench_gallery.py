"""Gallery scale: start-up, memory and matching at 1k to 1M enrolled faces (synthetic unit
vectors, 5 faces per person, in a real redis-server), today's replica (bench/legacy_gallery.py,
frozen from before snapshots) side by side with app/gallery/replica.py in the same run.

    python -m bench.bench_gallery [--sizes 1000 10000 100000 1000000] [--out results/bench_gallery.json]

Each worker is a fresh process (spawned), so memory and start-up are what a Gunicorn worker
would see. Per size:
- start-up: until the first answer. Old: the full read plus the candidate index built by the
  first match. New: (a) a new host, the snapshot published in Redis; (b) the second worker of
  a host, the file the first one fetched; (c) no snapshot anywhere: the full read, which also
  builds and publishes one.
- memory per worker, from /proc/self/smaps_rollup after the load and the static match run:
  RSS, private (anonymous) and, for the new replica, PSS with two workers on one host sharing
  the snapshot file.
- match p50/p95/p99 over 1000 probes at 0.85 from an enrolled face (a typical same-person
  distance) and 200 strangers; the p95 of each kind apart (where the tail comes from); rank-1
  agreement with exact brute force (computed here with BLAS).
- under change: a worker answers (sync + match, as a request does, every 5 ms) while
  --change-fraction of the faces are replaced (people deleted, new people enrolled) through
  the store at --change-rate faces a second; p50/p99/max of what those requests took.
- MATCH_THRESHOLD guidance: the fraction of 2000 strangers whose nearest enrolled face is
  within each threshold (false accepts), exact; and the same from a normal model of FaceNet's
  different-person distances (model_false_accepts).
- Redis memory of the gallery's keys, and with the published snapshot.
"""
import math
import multiprocessing
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import redis

from app.gallery import GalleryStore, NewFace
from app.gallery.codec import encode_vector
from bench.results import bench_parser, write_results
from samples.vectors import near, unit
from scripts.processes import free_port, start_redis

FACES_PER_PERSON = 5
THRESHOLDS = [0.80, 0.85, 0.90, 0.95, 1.00, 1.05, 1.10]
IMPOSTOR_MEAN, IMPOSTOR_SD = 1.44, 0.08   # FaceNet, different people, 5-celebrity set (docs/models.md, Accuracy)


def ms(seconds):
    return round(seconds * 1000.0, 3)


def summary(seconds) -> dict:
    a = np.asarray(seconds)
    if not len(a):
        return {}
    return {"p50": ms(float(np.median(a))), "p95": ms(float(np.percentile(a, 95))),
            "p99": ms(float(np.percentile(a, 99))), "max": ms(float(a.max())), "count": int(len(a))}


def memory() -> dict:
    fields = {}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                fields[parts[0][:-1]] = int(parts[1]) * 1024
    return {"rss": fields["Rss"], "pss": fields["Pss"], "private": fields["Anonymous"]}


def grown(before: dict, after: dict) -> dict:
    return {k + "_mb": round((after[k] - before[k]) / 1e6, 1) for k in before}


def bulk_load(client, store, vectors):
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


def exact_nearest(matrix: np.ndarray, queries: np.ndarray, block: int = 65_536) -> tuple[np.ndarray, np.ndarray]:
    """(row, distance) of each query's nearest row, by brute force in blocks."""
    best_s, best_row = np.full(len(queries), -np.inf, np.float32), np.zeros(len(queries), np.int64)
    for start in range(0, len(matrix), block):
        s = matrix[start: start + block] @ queries.T
        i = s.argmax(axis=0)
        better = s[i, np.arange(len(queries))] > best_s
        best_s[better], best_row[better] = s[i, np.arange(len(queries))][better], (start + i)[better]
    return best_row, np.sqrt(np.maximum(2.0 - 2.0 * best_s, 0.0))


def model_false_accepts(threshold: float, faces: int) -> float:
    """The chance that a stranger is within `threshold` of at least one of `faces` enrolled
    faces if distances between different people's FaceNet embeddings were normal with the mean
    and spread measured on the 5-celebrity pairs (1.44 +- 0.08; docs/models.md, Accuracy): an estimate,
    since real galleries hold look-alikes that no normal tail has."""
    per_pair = 0.5 * math.erfc((IMPOSTOR_MEAN - threshold) / (IMPOSTOR_SD * math.sqrt(2)))
    return -math.expm1(faces * math.log1p(-per_pair))


# --- what runs in a worker process -----------------------------------------------------------
def make_replica(kind, port, prefix, cache_dir):
    store = GalleryStore(redis.Redis(port=port), prefix)
    if kind == "old":
        from bench.legacy_gallery import LegacyReplica
        return LegacyReplica(store)
    from app.gallery import GalleryReplica
    return GalleryReplica(store, cache_dir=cache_dir)


def static_worker(job: dict, results, barrier=None) -> None:
    """Start-up, match times and memory of one worker; with `barrier`, memory is read while
    a second worker (sharing this host's snapshot file) is up too."""
    import os

    import faiss  # noqa: F401  (the library's own pages are not the gallery's)
    before = memory()
    replica = make_replica(job["kind"], job["port"], job["prefix"], job["cache_dir"])
    queries = np.load(job["queries"])
    start = time.perf_counter()
    replica.sync()
    loaded = time.perf_counter()
    replica.match(queries[0], 3)  # the old replica builds its candidate index here
    answered = time.perf_counter()
    times, found = [], []
    for q in queries:
        t0 = time.perf_counter()
        m = replica.match(q, 3)
        times.append(time.perf_counter() - t0)
        found.append((m[0].person_id, m[0].distance))
    results.put(("timings", os.getpid(), {
        "load_s": round(loaded - start, 3), "first_answer_s": round(answered - start, 3), "times": times,
        "found": found, "loaded_from": getattr(replica, "loaded_from", "full read")}))
    if barrier is not None:
        barrier.wait()
    results.put(("memory", os.getpid(), grown(before, memory())))
    if barrier is not None:
        barrier.wait()


def change_worker(job: dict, results, ready, finished) -> None:
    """Answers like a request (sync, then match) every 5 ms while the parent changes the
    gallery, until the changes are in and no rebuild is under way."""
    replica = make_replica(job["kind"], job["port"], job["prefix"], job["cache_dir"])
    queries = np.load(job["queries"])
    replica.sync()
    replica.match(queries[0], 3)
    if job["kind"] == "new":
        replica.start_maintenance(every_s=0.5)
    ready.set()
    syncs, matches, total, i, quiet_since = [], [], [], 0, None
    while True:
        q = queries[i % len(queries)]
        i += 1
        t0 = time.perf_counter()
        status = replica.sync()
        t1 = time.perf_counter()
        replica.match(q, 3)
        t2 = time.perf_counter()
        syncs.append(t1 - t0)
        matches.append(t2 - t1)
        total.append(t2 - t0)
        busy = job["kind"] == "new" and (replica.compaction_due() or replica._maintaining.locked())
        if finished.is_set() and status == "current" and not busy:
            quiet_since = quiet_since or t2
            if t2 - quiet_since > 2.0:
                break
        else:
            quiet_since = None
        time.sleep(0.005)
    results.put({"request_ms": summary(total), "sync_ms": summary(syncs), "match_ms": summary(matches),
                 "rebuilds": len(getattr(replica, "builds", [])), "faces_after": replica.size})


# --- the parent -------------------------------------------------------------------------------
def run_static(ctx, job: dict, workers: int = 1) -> list[dict]:
    """Workers started one after the other (the second finds the first one's snapshot file),
    measured while all are up."""
    results = ctx.Queue()
    barrier = ctx.Barrier(workers) if workers > 1 else None
    processes, timings, memories = [], {}, {}
    for _ in range(workers):
        processes.append(ctx.Process(target=static_worker, args=(job, results, barrier)))
        processes[-1].start()
        while processes[-1].pid not in timings:  # the next one starts once this one answers
            kind, pid, out = results.get()
            (timings if kind == "timings" else memories)[pid] = out
    while len(memories) < workers:
        kind, pid, out = results.get()
        (timings if kind == "timings" else memories)[pid] = out
    for p in processes:
        p.join()
        timings[p.pid]["memory"] = memories[p.pid]
    return [timings[p.pid] for p in processes]


def run_changes(ctx, job: dict, store: GalleryStore, victims: list[str], rng, tag: str, rate: float) -> dict:
    """Replaces len(victims) people (5 faces each), `rate` faces changed per second, while a
    worker answers."""
    results, ready, finished = ctx.Queue(), ctx.Event(), ctx.Event()
    worker = ctx.Process(target=change_worker, args=(job, results, ready, finished))
    worker.start()
    ready.wait()
    start = time.perf_counter()
    for i, pid in enumerate(victims):
        store.delete_person(pid)
        store.create_person(f"{tag} {i}", [NewFace(v) for v in unit(FACES_PER_PERSON, rng)])
        ahead = start + (i + 1) * 2 * FACES_PER_PERSON / rate - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
    written = time.perf_counter() - start
    finished.set()
    out = results.get()
    worker.join()
    return {**out, "faces_changed": 2 * FACES_PER_PERSON * len(victims), "writing_s": round(written, 1)}


def agreement(found, rows, dists) -> dict:
    same = [pid == f"p{row // FACES_PER_PERSON:07d}" and abs(d - e) < 1e-4
            for (pid, d), row, e in zip(found, rows, dists)]
    return round(float(np.mean(same)), 4)


def match_report(worker: dict, probes: int, rows, dists) -> dict:
    t = worker["times"]
    return {"all": summary(t), "probes_p95_ms": summary(t[:probes])["p95"],
            "strangers_p95_ms": summary(t[probes:])["p95"],
            "rank1_equals_brute_force": {"probes": agreement(worker["found"][:probes], rows[:probes], dists[:probes]),
                                         "strangers": agreement(worker["found"][probes:], rows[probes:],
                                                                dists[probes:])}}


def bench_size(ctx, client, port, n, queries, change_fraction, change_rate, rng, folder) -> dict:
    prefix = f"bench-{uuid.uuid4().hex[:6]}:"
    store = GalleryStore(client, prefix)
    load_before = os.getloadavg()[0]
    vectors = unit(n, rng)
    redis_before = client.info("memory")["used_memory"]
    bulk_load(client, store, vectors)
    redis_gallery = client.info("memory")["used_memory"] - redis_before
    probes = np.array([near(vectors[i], rng) for i in rng.integers(0, n, queries)])
    strangers = unit(queries // 5, rng)
    asked = np.concatenate([probes, strangers])
    query_file = folder / f"queries-{n}.npy"
    np.save(query_file, asked)
    rows, dists = exact_nearest(vectors, asked)
    _, stranger_d = exact_nearest(vectors, unit(2000, rng))
    job = {"port": port, "prefix": prefix, "queries": str(query_file)}

    old = run_static(ctx, {**job, "kind": "old", "cache_dir": None})[0]
    cold = run_static(ctx, {**job, "kind": "new", "cache_dir": str(folder / f"cold-{n}")})[0]
    host = run_static(ctx, {**job, "kind": "new", "cache_dir": str(folder / f"host-{n}")}, workers=2)
    snapshot_mb = round(int(client.hget(prefix + "gallery:snapshot", "size")) / 1e6, 1)
    redis_mb = {"gallery": round(redis_gallery / 1e6, 1),
                "with_snapshot": round((client.info("memory")["used_memory"] - redis_before) / 1e6, 1)}

    people = n // FACES_PER_PERSON
    victims = max(1, int(change_fraction * n / FACES_PER_PERSON / 2))
    changed_old = run_changes(ctx, {**job, "kind": "old", "cache_dir": None}, store,
                              [f"p{p:07d}" for p in range(victims)], rng, "old", change_rate)
    changed_new = run_changes(ctx, {**job, "kind": "new", "cache_dir": str(folder / f"host-{n}")}, store,
                              [f"p{p:07d}" for p in range(victims, 2 * victims)], rng, "new", change_rate)
    client.delete(*[k for k in client.scan_iter(match=prefix + "*", count=10_000)])
    return {
        "faces": n, "people": people, "snapshot_mb": snapshot_mb, "redis_mb": redis_mb,
        "machine_load": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # 1-min load average, before and after
        "old": {"startup_s": old["first_answer_s"], "load_s": old["load_s"], "memory": old["memory"],
                "match": match_report(old, queries, rows, dists), "under_change": changed_old},
        "new": {"startup_s": {"redis_snapshot": host[0]["first_answer_s"], "host_file": host[1]["first_answer_s"],
                              "full_read": cold["first_answer_s"]},
                "loaded_from": [host[0]["loaded_from"], host[1]["loaded_from"], cold["loaded_from"]],
                "memory": {"first_worker": host[0]["memory"], "second_worker": host[1]["memory"],
                           "alone": cold["memory"]},
                "match": match_report(host[0], queries, rows, dists), "under_change": changed_new},
        "false_accepts": {f"{t:.2f}": round(float(np.mean(stranger_d <= t)), 4) for t in THRESHOLDS},
        "false_accepts_face_model": {f"{t:.2f}": round(model_false_accepts(t, n), 6) for t in THRESHOLDS},
        "stranger_nearest": {"p1": round(float(np.percentile(stranger_d, 1)), 3),
                             "p50": round(float(np.median(stranger_d)), 3)},
    }


def main(argv=None):
    parser = bench_parser(__doc__, "bench_gallery")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--change-fraction", type=float, default=0.10)
    parser.add_argument("--change-rate", type=float, default=2000.0, help="faces changed per second")
    args = parser.parse_args(argv)
    ctx = multiprocessing.get_context("spawn")
    folder = Path(tempfile.mkdtemp(prefix="bench-gallery-"))
    port = free_port()
    (folder / "redis").mkdir()
    server = start_redis(folder / "redis", port)
    results = []
    try:
        client = redis.Redis(port=port)
        rng = np.random.default_rng(0)
        for n in args.sizes:
            results.append(bench_size(ctx, client, port, n, args.queries, args.change_fraction, args.change_rate,
                                      rng, folder))
            print_size(results[-1])
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(folder, ignore_errors=True)  # the snapshot files: ~1.2 GB per million faces
    write_results(args.out, results)


def print_size(r: dict) -> None:
    old, new = r["old"], r["new"]
    print(f"{r['faces']:>9} faces | start-up old {old['startup_s']} s, new {new['startup_s']} s "
          f"| memory old {old['memory']}, new {new['memory']} "
          f"| match p50/p95/p99 old {old['match']['all']['p50']}/{old['match']['all']['p95']}/"
          f"{old['match']['all']['p99']} ms, new {new['match']['all']['p50']}/{new['match']['all']['p95']}/"
          f"{new['match']['all']['p99']} ms | rank-1 old {old['match']['rank1_equals_brute_force']}, "
          f"new {new['match']['rank1_equals_brute_force']} | under change: old {old['under_change']['request_ms']}, "
          f"new {new['under_change']['request_ms']} | false accepts {r['false_accepts']}", flush=True)


if __name__ == "__main__":
    main()
