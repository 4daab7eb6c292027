"""What MQTT publishing and the compatibility adapters cost a recognition, side by side.

    python -m bench.bench_compat [--repeat 30] [--out results/bench_compat.json]

One process, one loaded pipeline (in-process models), one redis-server and one mosquitto on
free loopback ports, Madonna enrolled, a 640x480 frame with three faces (one known). Each
variant is a Flask app of its own, called through its test client; the variants run in
turns (A B C ... then backwards) so that drift of the machine's speed spreads over all:

    native       POST /recognize, MQTT off
    mqtt         POST /recognize, publishing to the broker (event, match, unknown, state)
    broker down  POST /recognize, the broker stopped after the app connected (reconnecting)
    deepstack    POST /v1/vision/face/recognize, MQTT off
    compreface   POST /api/v1/recognition/recognize, MQTT off

Prints the median and p95 per variant and the ratio of medians to `native`; writes JSON.
"""
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from app import create_app
from app.pipeline import build_pipeline
from bench.results import bench_parser, write_results
from config import load_settings
from samples.photos import encode_jpeg, photo_bytes, three_face_frame
from scripts.processes import free_port, start_mosquitto, start_redis, wait_until


def requests_of(frame: bytes) -> dict:
    """variant -> (app settings, request kwargs for the test client)."""
    def form(field):
        return {"data": {field: (io.BytesIO(frame), "frame.jpg")}, "content_type": "multipart/form-data"}
    raw = {"data": frame, "content_type": "image/jpeg"}
    return {"native": ({}, ("/recognize?camera_id=bench", raw)),
            "mqtt": ({"mqtt": True}, ("/recognize?camera_id=bench", raw)),
            "broker down": ({"mqtt": True}, ("/recognize?camera_id=bench", raw)),
            "deepstack": ({}, ("/v1/vision/face/recognize", form("image"))),
            "compreface": ({}, ("/api/v1/recognition/recognize", form("file")))}


def timed(client, path, kwargs) -> float:
    kwargs = {**kwargs, "data": ({k: (io.BytesIO(v[0].getvalue()), v[1]) for k, v in kwargs["data"].items()}
                                 if isinstance(kwargs["data"], dict) else kwargs["data"])}
    start = time.perf_counter()
    response = client.post(path, **kwargs)
    elapsed = (time.perf_counter() - start) * 1000.0
    assert response.status_code == 200, response.get_json()
    return elapsed


def main(argv=None):
    parser = bench_parser(__doc__, "bench_compat", repeat=30)
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="bench-compat-"))
    redis_port, broker_port, down_port = free_port(), free_port(), free_port()
    redis = start_redis(folder, redis_port)
    broker, doomed = start_mosquitto(folder, broker_port), start_mosquitto(folder, down_port)
    apps = {}
    try:
        pipeline = build_pipeline(load_settings(model_backend="local"))
        frame = encode_jpeg(three_face_frame())
        variants = requests_of(frame)
        for name, (options, _) in variants.items():
            port = down_port if name == "broker down" else broker_port
            settings = load_settings(redis_url=f"redis://127.0.0.1:{redis_port}/0", redis_prefix="bench:",
                                     mqtt_url=f"mqtt://127.0.0.1:{port}" if options.get("mqtt") else "")
            apps[name] = create_app(settings, pipeline=pipeline)
        first = apps["native"].test_client()
        enrolled = first.post("/enroll", data={"name": "Madonna", "image": [
            (io.BytesIO(photo_bytes("madonna", i, "train")), "a.jpg") for i in range(2)]},
            content_type="multipart/form-data")
        assert enrolled.status_code == 201, enrolled.get_json()
        for name in ("mqtt", "broker down"):
            publisher = apps[name].extensions["facerec"].publisher
            wait_until(lambda: publisher.connected, 15, f"{name}: the broker connection")
        doomed.terminate()
        doomed.wait()
        wait_until(lambda: not apps["broker down"].extensions["facerec"].publisher.connected, 10, "the outage")
        clients = {name: app.test_client() for name, app in apps.items()}
        times = {name: [] for name in variants}
        for name, (_, (path, kwargs)) in variants.items():
            timed(clients[name], path, kwargs)   # warm-up
        order = list(variants)
        for turn in range(args.repeat):
            for name in (order if turn % 2 == 0 else order[::-1]):
                path, kwargs = variants[name][1]
                times[name].append(timed(clients[name], path, kwargs))
        dropped = apps["broker down"].test_client().get("/metrics").get_data(as_text=True)
    finally:
        for app in apps.values():
            app.extensions["facerec"].close()
        for process in (broker, redis):
            process.terminate()
            process.wait()

    base = statistics.median(times["native"])
    results = {"frame": "640x480, 3 faces (1 enrolled)", "repeat": args.repeat, "variants": {
        name: {"p50_ms": statistics.median(t), "p95_ms": float(np.percentile(t, 95)),
               "ratio_p50": statistics.median(t) / base} for name, t in times.items()},
        "dropped_while_down": [line for line in dropped.splitlines() if line.startswith("facerec_mqtt_dropped_total")]}
    print(f"{results['frame']}, {args.repeat} requests per variant, in turns (ms)")
    for name, r in results["variants"].items():
        print(f"  {name:<12} p50 {r['p50_ms']:7.1f}  p95 {r['p95_ms']:7.1f}  {r['ratio_p50']:.2f}x native")
    print("  " + "; ".join(results["dropped_while_down"]))
    write_results(args.out, results)


if __name__ == "__main__":
    main()
