"""Throughput under concurrency: N camera clients posting 640x480 frames to Gunicorn.

    python -m bench.bench_throughput [--clients 1 4 8 16] [--seconds 8] [--out results/bench_throughput.json]

For the one-face and the three-face frame and each N: frames/s, faces/s, p50/p95/p99 latency
and errors, over a bounded time, against the real stack on loopback (Gunicorn with 2 workers,
MODEL_BACKEND=grpc, the model server stand-in, Redis with three people enrolled). Measured
side by side in one run: the stand-in without and with server-side batching of FaceNet calls
(batching.config), both stacks up at once and measured in turns (A B B A per N). The
ceiling is the same frames run back to back through the in-process pipeline in this
process; each figure is reported as a ratio of it.
"""
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import requests

from bench.results import bench_parser, write_results
from config import load_settings
from samples.photos import bench_frames, photo_bytes
from scripts.processes import free_port, http_answers, start_process, start_redis
from scripts.pypi_assets import ROOT
from scripts.serve_models import spawn


def start_gunicorn(env, folder, log):
    port = free_port()
    env = {**os.environ, **env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "THREADS": "8",
           "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(dir=folder)}
    url = f"http://127.0.0.1:{port}"
    process = start_process([sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "app:create_app()"],
                            lambda: http_answers(url + "/readyz"), 120, "gunicorn",
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return process, url


def merge(a, b):
    """One row from two measurements of the same configuration."""
    frames, elapsed = a["frames"] + b["frames"], a["elapsed_s"] + b["elapsed_s"]
    ms = np.asarray(a["latencies_ms"] + b["latencies_ms"])
    return {"clients": a["clients"], "frames": frames, "errors": a["errors"] + b["errors"],
            "frames_per_s": round(frames / elapsed, 2),
            "faces_per_s": round((a["faces"] + b["faces"]) / elapsed, 2),
            "latency_ms": {p: round(float(np.percentile(ms, q)), 1) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))}
            if len(ms) else {}}


def drive(url, frame, clients, seconds):
    """`clients` threads posting `frame` until `seconds` pass; latencies and errors."""
    latencies, errors, faces, lock = [], 0, [], threading.Lock()
    stop = time.monotonic() + seconds

    def client():
        nonlocal errors
        session = requests.Session()
        while time.monotonic() < stop:
            start = time.perf_counter()
            try:
                r = session.post(f"{url}/recognize", data=frame, headers={"Content-Type": "image/jpeg"},
                                 params={"camera_id": "bench"}, timeout=60)
                ok = r.status_code == 200
                found = len(r.json()["faces"]) if ok else 0
            except requests.RequestException:
                ok, found = False, 0
            with lock:
                if ok:
                    latencies.append(time.perf_counter() - start)
                    faces.append(found)
                else:
                    errors += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"clients": clients, "frames": len(latencies), "errors": errors, "faces": sum(faces),
            "elapsed_s": time.monotonic() - began, "latencies_ms": [t * 1000.0 for t in latencies]}


def ceiling(frames, seconds):
    """Frames per second of the in-process pipeline, back to back in one thread."""
    from app.pipeline import build_pipeline
    pipeline = build_pipeline(load_settings(model_backend="local"))
    result = {}
    for label, frame in frames.items():
        pipeline.analyze(frame)
        count, start = 0, time.monotonic()
        while time.monotonic() - start < seconds:
            pipeline.analyze(frame)
            count += 1
        result[label] = round(count / (time.monotonic() - start), 2)
    return result


def main(argv=None):
    parser = bench_parser(__doc__, "bench_throughput")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    frames = bench_frames()
    folder = tempfile.mkdtemp(prefix="bench-throughput-")
    log = open(Path(folder) / "servers.log", "w")
    redis_port = free_port()
    redis_process, redis_url = start_redis(folder, redis_port), f"redis://127.0.0.1:{redis_port}/0"
    results = {"ceiling_frames_per_s": ceiling(frames, args.seconds), "runs": {}}
    print(f"in-process ceiling, frames/s: {results['ceiling_frames_per_s']}", flush=True)
    stacks = {}
    try:
        for key, batching in (("no batching", False), ("batching", True)):  # both up, measured in turns
            models, addr = spawn(log_file=log, batching=batching)
            env = {"MODEL_BACKEND": "grpc", **{f"{m}_ADDR": addr for m in ("MTCNN", "FACENET", "YUNET", "SFACE")},
                   "REDIS_URL": redis_url,
                   "REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:6]}:"}
            app, url = start_gunicorn(env, folder, log)
            stacks[key] = (models, app, url)
            for person in ("ben_afflek", "madonna", "jerry_seinfeld"):
                requests.post(f"{url}/enroll", files={"image": ("f.jpg", photo_bytes(person, 0, "train"))},
                              data={"name": person}, timeout=60).raise_for_status()
        results["runs"] = {key: {label: [] for label in frames} for key in stacks}
        for label, frame in frames.items():
            for key in stacks:
                drive(stacks[key][2], frame, 2, 2.0)  # warm both workers
            for n in args.clients:
                # A B B A: each configuration measured twice around the other, so that drift in
                # the machine's speed during the run weighs on both alike
                halves = {key: [] for key in stacks}
                for key in ("no batching", "batching", "batching", "no batching"):
                    halves[key].append(drive(stacks[key][2], frame, n, args.seconds / 2))
                for key, (a, b) in halves.items():
                    row = merge(a, b)
                    row["of_ceiling"] = round(row["frames_per_s"] / results["ceiling_frames_per_s"][label], 2)
                    results["runs"][key][label].append(row)
                    print(f"{key:<12} {label:<8} N={n:<3} {row['frames_per_s']:>6.2f} frames/s "
                          f"{row['faces_per_s']:>6.2f} faces/s  p50 {row['latency_ms'].get('p50')} "
                          f"p95 {row['latency_ms'].get('p95')} p99 {row['latency_ms'].get('p99')} ms  "
                          f"errors {row['errors']}  {row['of_ceiling']:.2f}x ceiling", flush=True)
    finally:
        for models, app, _ in stacks.values():
            app.terminate()
            app.wait(timeout=60)
            models.terminate()
            models.wait(timeout=60)
        redis_process.terminate()
        log.close()
    for label in frames:
        for i, n in enumerate(args.clients):
            before = results["runs"]["no batching"][label][i]["frames_per_s"]
            after = results["runs"]["batching"][label][i]["frames_per_s"]
            print(f"batching, {label}, N={n}: {after / before:.2f}x frames/s")
    write_results(args.out, results)


if __name__ == "__main__":
    main()
