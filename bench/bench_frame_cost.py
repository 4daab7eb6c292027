"""The two-model embedder against the one graph and the fast paths, side by side in one run
(docs/frame-cost.md).

    python -m bench.bench_frame_cost [--repeat 20] [--seconds 6] [--clients 8] [--model-dir serving_models]
                                     [--out results/bench_frame_cost.json]

    before  PREPROCESSOR=mtcnn       FUSED_GRAPH=false   (the default before: facenet and sface, two calls)
    after   PREPROCESSOR=mtcnn       FUSED_GRAPH=true    (the default: the facenet_sface graph)
    fast    PREPROCESSOR=yunet+onet  FUSED_GRAPH=true    (YuNet + O-Net detector, same graph)
(these three EMBEDDER=facenet+sface), and
    dlib    PREPROCESSOR=yunet+onet  EMBEDDER=dlib+sface (the same detector, the dlib_sface graph)
with the models exported in --model-dir (its facenet_sface and dlib_sface in the precision
they were exported in: manifest.json; "before" calls the separate models, always float32).

One model server (scripts/serve_models.py, every model, the embedders batched as the embedder
container runs them) on loopback. Latency: the 640x480 one-face and three-face frames through
the whole pipeline (decode, detect, embed), the configurations in turns A B C A B C, medians.
Throughput: `--clients` threads in this process each sending the frame through the pipeline for
`--seconds`, in turns. Where the time goes: every served model called alone in this process
(the sub-graphs of both frames: each detector on the 3-face frame, each embedder on 1 and 3
faces), in turns. The machine is shared: the load average before and after is recorded, and
only the ratios (measured under the same load) are meant to be compared. Last, the same frames
through the four pipelines in-process (MODEL_BACKEND=local, the same SavedModels), in turns:
the ratios with no round trip, no (de)serialisation and no model server in between, which
those costs, paid by every configuration, only move towards 1.
"""
import json
import os
import statistics
import threading
import time
from pathlib import Path

import numpy as np

from app.pipeline import build_pipeline
from bench.bench_configs import STAGES, measure
from bench.results import bench_parser, write_results
from config import load_settings
from samples.photos import bench_frames, three_face_frame
from scripts.pypi_assets import ROOT
from scripts.serve_models import model_addresses, spawn

CONFIGURATIONS = {"before": {"preprocessor": "mtcnn", "embedder": "facenet+sface", "fused_graph": False},
                  "after": {"preprocessor": "mtcnn", "embedder": "facenet+sface", "fused_graph": True},
                  "fast": {"preprocessor": "yunet+onet", "embedder": "facenet+sface", "fused_graph": True},
                  "dlib": {"preprocessor": "yunet+onet", "embedder": "dlib+sface", "fused_graph": True}}


def frames_per_second(pipeline, data: bytes, clients: int, seconds: float) -> float:
    done, stop = [0] * clients, time.monotonic() + seconds

    def client(i):
        while time.monotonic() < stop:
            pipeline.analyze(data)
            done[i] += 1
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - start)


def throughput(pipelines: dict, data: bytes, clients: int, seconds: float, rounds: int = 2) -> dict:
    """{configuration: frames/s}, the mean of `rounds` turns A B A B."""
    rates = {key: [] for key in pipelines}
    for _ in range(rounds):
        for key, pipeline in pipelines.items():
            rates[key].append(frames_per_second(pipeline, data, clients, seconds))
    return {key: statistics.mean(r) for key, r in rates.items()}


def model_calls() -> dict:
    """{label: (model name, inputs)}: each served model alone, on what the frames give it."""
    frame = three_face_frame()
    settings = load_settings()   # the thresholds the app sends (YUNET_SCORE_THRESHOLD, YUNET_ONET_SCORE_THRESHOLD)
    detector = {"score_threshold": np.float32(settings.yunet_score_threshold), "nms_threshold": np.float32(0.3)}
    proposals = {**detector, "score_threshold": np.float32(settings.yunet_onet_score_threshold)}
    calls = {"mtcnn 640x480": ("mtcnn", {"image": frame, "min_size": np.float32(20), "factor": np.float32(0.709),
                                         "thresholds": np.array([0.6, 0.7, 0.8], np.float32)}),
             "yunet 640x480": ("yunet", {"image": frame, **detector}),
             "yunet_onet 640x480": ("yunet_onet", {"image": frame, **proposals})}
    for n in (1, 3):
        a, b, c = (np.random.default_rng(n).integers(0, 256, (n, s, s, 3), dtype=np.uint8) for s in (160, 112, 150))
        calls[f"facenet x{n}"] = ("facenet", {"images": a})
        calls[f"sface x{n}"] = ("sface", {"images": b})
        calls[f"facenet_sface x{n}"] = ("facenet_sface", {"facenet_images": a, "sface_images": b})
        calls[f"dlib_sface x{n}"] = ("dlib_sface", {"dlib_images": c, "sface_images": b})
    return calls


def model_ms(model_dir: Path, repeat: int, rounds: int = 3) -> dict:
    """{label: median ms} of each served model called in this process, in turns."""
    from app.model_clients.local_model import LocalModel
    calls = model_calls()
    models = {name: LocalModel(name, model_dir) for name, _ in calls.values()}
    times = {label: [] for label in calls}
    for _ in range(rounds):
        for label, (name, inputs) in calls.items():
            for _ in range(max(1, repeat // rounds)):
                start = time.perf_counter()
                models[name].predict(inputs)
                times[label].append((time.perf_counter() - start) * 1000.0)
    return {label: statistics.median(t) for label, t in times.items()}


def latency_ratios(ms: dict) -> dict:
    """{configuration: its whole frame's time over "before"'s}."""
    return {k: ms[k]["total"] / ms["before"]["total"] for k in ms}


def in_process(model_dir: Path, frames: dict, repeat: int) -> dict:
    """{frame label: {'ms': stage medians, 'latency_ratio'}}: the pipelines with
    MODEL_BACKEND=local (every model in this process), in turns."""
    pipelines = {key: build_pipeline(load_settings(model_backend="local", model_dir=model_dir, **config))
                 for key, config in CONFIGURATIONS.items()}
    out = {}
    for label, data in frames.items():
        ms = measure(pipelines, data, repeat, rounds=4)
        out[label] = {"ms": ms, "latency_ratio": latency_ratios(ms)}
    return out


def main(argv=None):
    parser = bench_parser(__doc__, "bench_frame_cost", repeat=20)
    parser.add_argument("--seconds", type=float, default=6.0, help="per throughput turn (default 6)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients for throughput (default 8)")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "serving_models", help="the exported models")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    manifest = json.loads((args.model_dir / "manifest.json").read_text())
    # seven models to load and warm up on shared cores: more than spawn's default 120 s
    server, addr = spawn(config=args.model_dir / "models.config", batching=True, timeout_s=600)
    try:
        pipelines = {key: build_pipeline(load_settings(model_backend="grpc", **config, **model_addresses(addr)))
                     for key, config in CONFIGURATIONS.items()}
        frames = bench_frames()
        results = {"configurations": CONFIGURATIONS, "precision": manifest["inputs"].get("precision"), "frames": {}}
        for label, data in frames.items():
            ms = measure(pipelines, data, args.repeat, rounds=4)   # in turns A B C A B C ...
            fps = throughput(pipelines, data, args.clients, args.seconds)
            results["frames"][label] = {"ms": ms, "frames_per_s": fps,
                                        "latency_ratio": latency_ratios(ms),
                                        "throughput_ratio": {k: fps[k] / fps["before"] for k in fps}}
    finally:
        server.terminate()
        server.wait()
    results["models_in_process_ms"] = model_ms(args.model_dir, args.repeat)
    results["in_process"] = in_process(args.model_dir, frames, args.repeat)
    results["load_average"] = {"before": load_before, "after": os.getloadavg()}
    print("each model alone, in-process, median ms: " + ", ".join(
        f"{k} {v:.1f}" for k, v in results["models_in_process_ms"].items()))
    for label, r in results["frames"].items():
        print(f"{label}, 640x480, median ms over gRPC (one model server; embedder graphs in {results['precision']})")
        print(f"  {'':<7} " + " ".join(f"{s:>8}" for s in STAGES)
              + f"  vs before   faces   frames/s with {args.clients} clients   vs before")
        for key in CONFIGURATIONS:
            print(f"  {key:<7} " + " ".join(f"{r['ms'][key][s]:>8.1f}" for s in STAGES)
                  + f"  {r['latency_ratio'][key]:>8.2f}x   {r['ms'][key]['faces']:>5.0f}"
                  + f"   {r['frames_per_s'][key]:>8.1f}{'':>22}{r['throughput_ratio'][key]:.2f}x")
    for label, r in results["in_process"].items():
        print(f"{label}, in-process (MODEL_BACKEND=local), median ms: " + ", ".join(
            f"{k} {r['ms'][k]['total']:.1f} ({r['latency_ratio'][k]:.2f}x)" for k in CONFIGURATIONS))
    print("load average (1, 5, 15 min) before %s, after %s" % tuple(
        ", ".join(f"{v:.2f}" for v in results["load_average"][k]) for k in ("before", "after")))
    write_results(args.out, results)


if __name__ == "__main__":
    main()
