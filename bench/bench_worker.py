"""The API worker without TensorFlow against the one before (it imported TensorFlow for its
gRPC messages), side by side in one run.

    python -m bench.bench_worker [--old-ref REF] [--requests 200] [--out results/bench_worker.json]

Both are Gunicorn with one worker, MODEL_BACKEND=grpc, the same model-server stand-in and the
same Redis (each its own prefix); the old one runs from a `git archive` of --old-ref (default:
the last commit whose worker imported TensorFlow). Per side: start-up time (process start to
/readyz answering 200), the worker's RSS and private memory (/proc/PID/smaps_rollup) after start
with an empty gallery and after --requests recognitions, the TensorFlow shared objects it maps,
and per-frame latency of /recognize (one-face 640x480 JPEG, the two sides asked in turns, so
load on the machine hits both alike). And in this process, the client's own share of a call:
building a Predict request for a 640x480 frame and reading a 3x512 embeddings response, with
TensorFlow's make_tensor_proto/make_ndarray against ours (app/model_clients/tensors.py). With
podman, the app image's size too (the old image is not rebuilt: its figure, 2.41 GB, is the one
measured in ../shared/FACTS.md).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import requests

from bench.results import bench_parser, write_results
from samples.photos import bench_frames, photo_bytes
from scripts.processes import free_port, http_answers, start_process, start_redis
from scripts.pypi_assets import ROOT
from scripts.serve_models import model_addresses, spawn

# the last commit before the worker dropped TensorFlow (its grpc_model imported tensorflow_serving)
FULL_TF_WORKER = "2a7abcd"


def tree_at(ref: str, folder: Path) -> Path:
    """The tracked files of `ref`, unpacked under `folder`."""
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def memory(pid: int) -> dict:
    """RSS, private (clean + dirty) and private dirty MB of `pid`, and how many TensorFlow
    shared objects it maps."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0]) / 1024
    maps = {line.split()[-1] for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
            if "tensorflow" in line and ".so" in line}
    private = fields["Private_Clean"] + fields["Private_Dirty"]
    return {"rss_mb": round(fields["Rss"], 1), "private_mb": round(private, 1),
            "private_dirty_mb": round(fields["Private_Dirty"], 1), "tensorflow_shared_objects": len(maps)}


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def start_side(tree: Path, env: dict, log) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1",
           "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(), "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    process = start_process([sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "app:create_app()"],
                            lambda: http_answers(url + "/readyz"), 180, f"gunicorn in {tree}", cwd=tree, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    return process, url, time.perf_counter() - started


def codec_us(repeat: int = 300) -> dict:
    """Median microseconds to build a frame's PredictRequest bytes and to read a 3x512 response,
    TensorFlow's conversion against ours, in turns."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from app.model_clients.serving_api import serving_api
    from app.model_clients.tensors import ndarray, tensor_proto

    api = serving_api()
    frame = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    response = predict_pb2.PredictResponse()
    response.outputs["embeddings"].CopyFrom(tf.make_tensor_proto(np.ones((3, 512), np.float32)))
    raw = response.SerializeToString()

    def official():
        request = predict_pb2.PredictRequest()
        request.inputs["images"].CopyFrom(tf.make_tensor_proto(frame))
        request.SerializeToString()
        tf.make_ndarray(predict_pb2.PredictResponse.FromString(raw).outputs["embeddings"])

    def ours():
        request = api.PredictRequest()
        request.inputs["images"].CopyFrom(tensor_proto(frame, api.TensorProto))
        request.SerializeToString()
        ndarray(api.PredictResponse.FromString(raw).outputs["embeddings"])

    times = {"tensorflow": [], "ours": []}
    for _ in range(repeat):
        for name, fn in (("tensorflow", official), ("ours", ours)):
            began = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - began) * 1e6)
    return {name: round(float(np.median(t)), 1) for name, t in times.items()}


def image_size_mb(name: str) -> float | None:
    podman = ROOT / "scripts" / "podman.sh"
    if not shutil.which("podman"):
        return None
    done = subprocess.run([str(podman), "image", "inspect", name, "--format", "{{.Size}}"], capture_output=True,
                          text=True)
    return round(int(done.stdout.strip()) / 1e6, 1) if done.returncode == 0 else None


def main(argv=None):
    parser = bench_parser(__doc__, "bench_worker")
    parser.add_argument("--old-ref", default=FULL_TF_WORKER)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    frame = bench_frames()["1 face"]
    folder = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    log = open(folder / "servers.log", "w")
    trees = {"full_tf": tree_at(args.old_ref, folder / "old"), "lean": ROOT}
    redis_port = free_port()
    redis = start_redis(folder, redis_port)
    models, addr = spawn(log_file=log)
    sides = {}
    try:
        for side, tree in trees.items():
            env = {"MODEL_BACKEND": "grpc", **{k.upper(): v for k, v in model_addresses(addr).items()},
                   "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:6]}:",
                   "GALLERY_CACHE_DIR": str(folder / side)}
            process, url, startup_s = start_side(tree, env, log)
            time.sleep(1.0)
            sides[side] = {"process": process, "url": url, "startup_s": round(startup_s, 2),
                           "pid": worker_pid(process.pid)}
            sides[side]["after_start"] = memory(sides[side]["pid"])
        for side in sides.values():
            response = requests.post(f"{side['url']}/enroll", files={"image": ("f.jpg", photo_bytes("elton_john", 0,
                                                                                                      "train"))},
                                     data={"name": "Elton John"}, timeout=60)
            assert response.status_code in (200, 201), response.text
            side["latencies_ms"] = []
        for _ in range(args.requests):  # in turns
            for side in sides.values():
                began = time.perf_counter()
                response = requests.post(f"{side['url']}/recognize", data=frame,
                                         headers={"Content-Type": "image/jpeg"}, timeout=60)
                side["latencies_ms"].append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, response.text
        results = {"requests": args.requests, "old_ref": args.old_ref, "sides": {}}
        for name, side in sides.items():
            ms = np.asarray(side["latencies_ms"])
            results["sides"][name] = {
                "startup_s": side["startup_s"], "after_start": side["after_start"],
                f"after_{args.requests}_recognitions": memory(side["pid"]),
                "latency_ms": {"p50": round(float(np.percentile(ms, 50)), 1),
                               "p95": round(float(np.percentile(ms, 95)), 1)}}
        results["request_and_response_codec_us"] = codec_us()
        results["app_image_mb"] = {"lean": image_size_mb("facerec/app:latest"),
                                   "full_tf": 2410.0, "full_tf_source": "../shared/FACTS.md (podman, mmdebstrap base)"}
        write_results(args.out, results)
        for name, row in results["sides"].items():
            print(name, row)
    finally:
        for side in sides.values():
            side["process"].terminate()
            side["process"].wait(timeout=30)
        models.terminate()
        models.wait(timeout=30)
        redis.terminate()
        redis.wait(timeout=10)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
