"""What a frame costs while Redis is away: /recognize through the whole app (Flask's test client,
models in-process) on a real redis-server that is running, stopped (connections refused) or
hung (SIGSTOP: connections open, no answer, every call runs into REDIS_TIMEOUT_S), each with
the back-off (REDIS_RETRY_S 1: frames do not try Redis, the background thread PINGs it once a
second) and without it (REDIS_RETRY_S 0.001: every frame tries Redis first), side by side in
one run.

    python -m bench.bench_redis_outage [--frames 15] [--out results/bench_redis_outage.json]
"""
import signal
import statistics
import tempfile
import time
import uuid

from app import create_app
from bench.results import bench_parser, write_results
from config import load_settings
from samples.photos import photo_bytes
from scripts.processes import free_port, start_redis


def frame_times(client, frames: int) -> dict:
    """`frames` recognitions one after the other: the wall time of each (ms), and how many were
    answered 200, degraded, with the right name."""
    image, times, ok, degraded, named = photo_bytes("madonna", 0), [], 0, 0, 0
    for _ in range(frames):
        start = time.perf_counter()
        response = client.post("/recognize", data=image, content_type="image/jpeg", query_string={"camera_id": "door"})
        times.append((time.perf_counter() - start) * 1000)
        body = response.get_json()
        ok += response.status_code == 200
        degraded += bool(body.get("degraded"))
        named += bool(body.get("faces") and (body["faces"][0].get("match") or {}).get("name") == "Madonna")
    times_sorted = sorted(times)
    return {"frames": frames, "status_200": ok, "degraded": degraded, "right_name": named,
            "first_ms": round(times[0], 1), "median_ms": round(statistics.median(times), 1),
            "p90_ms": round(times_sorted[int(0.9 * (len(times) - 1))], 1), "max_ms": round(max(times), 1),
            "over_1s": sum(t > 1000 for t in times)}


def recovered(client, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.post("/recognize", data=photo_bytes("madonna", 0), content_type="image/jpeg").get_json()
        if body.get("degraded") is None and body.get("faces"):
            return
        time.sleep(0.2)
    raise RuntimeError("the app did not see Redis again")


def main(argv=None):
    parser = bench_parser(__doc__, "bench_redis_outage")
    parser.add_argument("--frames", type=int, default=15)
    args = parser.parse_args(argv)
    folder, port = tempfile.mkdtemp(prefix="bench-redis-"), free_port()
    server = start_redis(folder, port, persist=True)
    from app.pipeline import build_pipeline
    pipeline = build_pipeline(load_settings(model_backend="local"))
    prefix = f"outage-{uuid.uuid4().hex[:6]}:"
    apps = {retry: create_app(load_settings(model_backend="local", redis_url=f"redis://127.0.0.1:{port}/0",
                                            redis_prefix=prefix, redis_timeout_s=2.0, redis_retry_s=retry),
                              pipeline=pipeline)
            for retry in (1.0, 0.001)}
    clients = {retry: app.test_client() for retry, app in apps.items()}
    enrolled = clients[1.0].post("/enroll", data={"name": "Madonna", "image": (
        __import__("io").BytesIO(photo_bytes("madonna", 0, "train")), "a.jpg")}, content_type="multipart/form-data")
    assert enrolled.status_code == 201, enrolled.get_json()
    rows = []
    try:
        for client in clients.values():
            recovered(client)
        for retry, client in clients.items():
            rows.append({"redis": "running", "redis_retry_s": retry, **frame_times(client, args.frames)})
        for state in ("stopped", "hung"):
            for retry, client in clients.items():
                if state == "stopped":
                    server.terminate()
                    server.wait(timeout=10)
                else:
                    server.send_signal(signal.SIGSTOP)
                rows.append({"redis": state, "redis_retry_s": retry, **frame_times(client, args.frames)})
                if state == "stopped":
                    server = start_redis(folder, port, persist=True)
                else:
                    server.send_signal(signal.SIGCONT)
                for other in clients.values():
                    recovered(other)
                print(rows[-1])
    finally:
        server.send_signal(signal.SIGCONT)
        server.terminate()
        for app in apps.values():
            app.extensions["facerec"].close()
    for row in rows:
        print(f"{row['redis']:8} REDIS_RETRY_S {row['redis_retry_s']:<5} 200: {row['status_200']}/{row['frames']} "
              f"degraded {row['degraded']} right name {row['right_name']}  first {row['first_ms']:.0f} ms  "
              f"median {row['median_ms']:.0f} ms  p90 {row['p90_ms']:.0f} ms  max {row['max_ms']:.0f} ms  "
              f"over 1 s: {row['over_1s']}")
    write_results(args.out, {"redis_timeout_s": 2.0, "rows": rows})


if __name__ == "__main__":
    main()
