"""Per-stage latency of the face pipeline, in-process and over gRPC side by side.

    python -m bench.bench_pipeline [--repeat 20] [--out results/bench_pipeline.json]

Frames: 640x480 JPEGs with one face and with three faces. Both backends run in this one
process against the same SavedModels (gRPC through scripts/serve_models.py on loopback).
Also FaceNet alone at batch 1, 8 and 16. Prints medians and ratios, writes JSON.
"""
import statistics

import numpy as np

from app.pipeline import Stopwatch, build_pipeline
from bench.results import bench_parser, write_results
from bench.timing import median_ms
from config import load_settings
from samples.photos import bench_frames
from scripts.serve_models import model_addresses, spawn

STAGES = ("decode", "detect", "embed", "total")


def timed(pipeline, data):
    stopwatch = Stopwatch()
    pipeline.analyze(data, stopwatch=stopwatch)
    return stopwatch.finish()


def stage_medians(pipeline, data, repeat):
    pipeline.analyze(data)  # warm-up
    runs = [timed(pipeline, data) for _ in range(repeat)]
    return {stage: statistics.median(run[stage] for run in runs) for stage in STAGES}


def batch_ms(embedder, batch, repeat):
    """ms per FaceNet call of `batch` crops."""
    facenet = next(n for n in embedder.networks if n.name == "facenet")
    crops = {"facenet": np.random.default_rng(0).integers(0, 256, (batch, 160, 160, 3), dtype=np.uint8)}
    facenet.embed_inputs(crops)
    return median_ms(lambda: facenet.embed_inputs(crops), repeat)


def main(argv=None):
    parser = bench_parser(__doc__, "bench_pipeline", repeat=20)
    args = parser.parse_args(argv)

    server, addr = spawn()
    try:
        pipelines = {"local": build_pipeline(load_settings(model_backend="local")),
                     "grpc": build_pipeline(load_settings(model_backend="grpc", **model_addresses(addr)))}
        frames = bench_frames()
        results = {"frames": {}, "facenet_batch": {}}
        for label, data in frames.items():
            faces = len(pipelines["local"].analyze(data).faces)
            per_backend = {b: stage_medians(p, data, args.repeat) for b, p in pipelines.items()}
            ratio = {s: per_backend["grpc"][s] / per_backend["local"][s] for s in ("detect", "embed", "total")}
            results["frames"][label] = {"faces_found": faces, "ms": per_backend, "grpc_over_local": ratio}
        for batch in (1, 8, 16):
            per_backend = {b: batch_ms(p.embedder, batch, max(3, args.repeat // 2)) for b, p in pipelines.items()}
            results["facenet_batch"][batch] = {"ms_per_call": per_backend,
                                               "ms_per_face": {b: v / batch for b, v in per_backend.items()}}
    finally:
        server.terminate()
        server.wait()

    print(f"640x480 frames, median of {args.repeat} runs (ms)")
    print(f"{'frame':<8} {'backend':<6} " + " ".join(f"{s:>8}" for s in STAGES))
    for label, r in results["frames"].items():
        for backend, ms in r["ms"].items():
            print(f"{label:<8} {backend:<6} " + " ".join(f"{ms[s]:>8.1f}" for s in STAGES))
        print(f"{'':<8} {'ratio':<6} {'':>8} " + " ".join(f"{r['grpc_over_local'][s]:>7.2f}x"
                                                         for s in ("detect", "embed", "total"))
              + f"   (gRPC / in-process, {r['faces_found']} faces found)")
    print("FaceNet alone (ms per face)")
    one = results["facenet_batch"][1]["ms_per_face"]
    for batch, r in results["facenet_batch"].items():
        print(f"  batch {batch:>2}: " + ", ".join(f"{b} {v:.1f}" for b, v in r["ms_per_face"].items())
              + "   (per face vs batch 1: " + ", ".join(f"{b} {r['ms_per_face'][b] / one[b]:.2f}x" for b in one) + ")")
    write_results(args.out, results)


if __name__ == "__main__":
    main()
