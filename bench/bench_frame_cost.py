"""Today's default against the new one, side by side in one run (docs/frame-cost.md).

    python -m bench.bench_frame_cost [--repeat 20] [--seconds 6] [--clients 8] [--out results/bench_frame_cost.json]

    before  PREPROCESSOR=mtcnn,      EMBEDDER=facenet+sface, FUSED_GRAPH=false (two embedder calls)
    after   PREPROCESSOR=yunet+onet, EMBEDDER=facenet+sface, FUSED_GRAPH=true  (facenet_sface graph)

One model server (scripts/serve_models.py, every model, the embedders batched as the embedder
container runs them) on loopback. Latency: the 640x480 one-face and three-face frames through
the whole pipeline (decode, detect, embed), the two configurations in turns A B A B, medians.
Throughput: `--clients` threads in this process each sending the frame through the pipeline for
`--seconds`, A B A B. The machine is shared: the load average before and after is recorded, and
only the ratios (measured under the same load) are meant to be compared.
"""
import os
import statistics
import threading
import time

from app.pipeline import Stopwatch, build_pipeline
from bench.results import bench_parser, write_results
from config import load_settings
from samples.photos import bench_frames
from scripts.serve_models import model_addresses, spawn

CONFIGURATIONS = {"before": {"preprocessor": "mtcnn", "embedder": "facenet+sface", "fused_graph": False},
                  "after": {"preprocessor": "yunet+onet", "embedder": "facenet+sface", "fused_graph": True}}
STAGES = ("decode", "detect", "embed", "total")


def latency(pipelines: dict, data: bytes, repeat: int, rounds: int = 4) -> dict:
    """{configuration: {stage: median ms, faces}} measured in turns."""
    runs = {key: [] for key in pipelines}
    for _ in range(rounds):
        for key, pipeline in pipelines.items():
            for _ in range(max(1, repeat // rounds)):
                stopwatch = Stopwatch()
                faces = len(pipeline.analyze(data, stopwatch=stopwatch).faces)
                runs[key].append({**stopwatch.finish(), "faces": faces})
    return {key: {s: statistics.median(r[s] for r in rs) for s in (*STAGES, "faces")} for key, rs in runs.items()}


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


def main(argv=None):
    parser = bench_parser(__doc__, "bench_frame_cost", repeat=20)
    parser.add_argument("--seconds", type=float, default=6.0, help="per throughput turn (default 6)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients for throughput (default 8)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    server, addr = spawn(batching=True)
    try:
        pipelines = {key: build_pipeline(load_settings(model_backend="grpc", **config, **model_addresses(addr)))
                     for key, config in CONFIGURATIONS.items()}
        frames = bench_frames()
        for data in frames.values():
            for pipeline in pipelines.values():
                pipeline.analyze(data)   # warm-up
        results = {"configurations": CONFIGURATIONS, "frames": {}}
        for label, data in frames.items():
            ms = latency(pipelines, data, args.repeat)
            fps = throughput(pipelines, data, args.clients, args.seconds)
            results["frames"][label] = {"ms": ms, "frames_per_s": fps,
                                        "latency_ratio": ms["after"]["total"] / ms["before"]["total"],
                                        "throughput_ratio": fps["after"] / fps["before"]}
    finally:
        server.terminate()
        server.wait()
    results["load_average"] = {"before": load_before, "after": os.getloadavg()}
    for label, r in results["frames"].items():
        print(f"{label}, 640x480, median ms over gRPC (one model server)")
        print(f"  {'':<7} " + " ".join(f"{s:>8}" for s in STAGES) + f"   faces   frames/s with {args.clients} clients")
        for key in CONFIGURATIONS:
            print(f"  {key:<7} " + " ".join(f"{r['ms'][key][s]:>8.1f}" for s in STAGES)
                  + f"   {r['ms'][key]['faces']:>5.0f}   {r['frames_per_s'][key]:.1f}")
        print(f"  after/before: time {r['latency_ratio']:.2f}x, throughput {r['throughput_ratio']:.2f}x")
    print("load average (1, 5, 15 min) before %s, after %s" % tuple(
        ", ".join(f"{v:.2f}" for v in results["load_average"][k]) for k in ("before", "after")))
    write_results(args.out, results)


if __name__ == "__main__":
    main()
