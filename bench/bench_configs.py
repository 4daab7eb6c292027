"""What each PREPROCESSOR x EMBEDDER costs per frame, over gRPC, side by side in one run.

    python -m bench.bench_configs [--repeat 20] [--out results/bench_configs.json]

640x480 JPEG frames with one and three faces through the whole pipeline (decode, detect,
embed) of each configuration, every model served by scripts/serve_models.py on loopback,
the configurations measured in turns (drift on shared cores hits all alike). Prints the
median of each stage and the total relative to MTCNN + FaceNet (the pipeline before issue 14).
"""
import statistics

from app.pipeline import Stopwatch, build_pipeline
from bench.results import bench_parser, write_results
from config import load_settings
from samples.photos import bench_frames
from scripts.serve_models import model_addresses, spawn

CONFIGURATIONS = [("mtcnn", "facenet"), ("mtcnn", "sface"), ("mtcnn", "facenet+sface"),
                  ("yunet", "facenet"), ("yunet", "sface"), ("yunet", "facenet+sface")]
STAGES = ("decode", "detect", "embed", "total")


def measure(pipelines: dict, data: bytes, repeat: int, rounds: int = 5) -> dict:
    for pipeline in pipelines.values():
        pipeline.analyze(data)   # warm-up
    runs = {key: [] for key in pipelines}
    for _ in range(rounds):
        for key, pipeline in pipelines.items():
            for _ in range(max(1, repeat // rounds)):
                stopwatch = Stopwatch()
                faces = len(pipeline.analyze(data, stopwatch=stopwatch).faces)
                runs[key].append({**stopwatch.finish(), "faces": faces})
    return {key: {s: statistics.median(r[s] for r in rs) for s in (*STAGES, "faces")} for key, rs in runs.items()}


def main(argv=None):
    parser = bench_parser(__doc__, "bench_configs", repeat=20)
    args = parser.parse_args(argv)
    server, addr = spawn()
    try:
        pipelines = {f"{p} + {e}": build_pipeline(load_settings(model_backend="grpc", preprocessor=p, embedder=e,
                                                                **model_addresses(addr))) for p, e in CONFIGURATIONS}
        frames = bench_frames()
        results = {label: measure(pipelines, data, args.repeat) for label, data in frames.items()}
    finally:
        server.terminate()
        server.wait()
    base = "mtcnn + facenet"
    for label, rows in results.items():
        print(f"{label}, 640x480, median ms over gRPC")
        print(f"  {'configuration':<22} " + " ".join(f"{s:>8}" for s in STAGES) + "   vs mtcnn + facenet")
        for key, ms in rows.items():
            ms["total_vs_mtcnn_facenet"] = ms["total"] / rows[base]["total"]
            print(f"  {key:<22} " + " ".join(f"{ms[s]:>8.1f}" for s in STAGES)
                  + f"   {ms['total_vs_mtcnn_facenet']:.2f}x ({ms['faces']:.0f} faces)")
    write_results(args.out, results)


if __name__ == "__main__":
    main()
