"""The model server's batch timeout, intra-op threads and oneDNN, side by side in one run
(docs/frame-cost.md (n), (q), (s)).

    python -m bench.bench_batching [--timeouts 2000 0] [--intra-op 0 1] [--onednn 0 1] [--threads 4]
                                   [--repeat 12] [--seconds 5] [--clients 8] [--model-dir serving_models]
                                   [--out results/bench_batching.json]

One model server (scripts/serve_models.py with --enable_batching) per `batch_timeout_micros`
in --timeouts, `--tensorflow_intra_op_parallelism` in --intra-op (0: TensorFlow's default,
a thread per core) and TF_ENABLE_ONEDNN_OPTS in --onednn (the stand-in's default: 1), each
with the exported batching.config otherwise (num_batch_threads from --threads where given).
The "before" and "fast" configurations of bench_frame_cost run through every server, in turns:
the one-face and three-face frames' median ms per stage, and frames/s with --clients concurrent
clients. What a timeout buys is batches under load; what it costs is the wait of a request that
arrives alone. Fewer intra-op threads leave the cores to requests and branches running side by
side instead of one op's shards. oneDNN matters where TensorFlow leaves it off (AVX2 alone).
"""
import os
import tempfile
from pathlib import Path

from app.model_clients.savedmodel import ONEDNN
from app.pipeline import build_pipeline
from bench.bench_configs import measure
from bench.bench_frame_cost import CONFIGURATIONS, throughput
from bench.results import bench_parser, write_results
from config import load_settings
from samples.photos import bench_frames
from scripts.batching import with_values
from scripts.pypi_assets import ROOT
from scripts.serve_models import model_addresses, spawn


def main(argv=None):
    parser = bench_parser(__doc__, "bench_batching", repeat=12)
    parser.add_argument("--timeouts", type=int, nargs="+", default=[2000, 0], help="batch_timeout_micros values")
    parser.add_argument("--intra-op", type=int, nargs="+", default=[0],
                        help="--tensorflow_intra_op_parallelism values (default 0: TensorFlow's)")
    parser.add_argument("--onednn", choices=["0", "1"], nargs="+", default=["1"],
                        help="TF_ENABLE_ONEDNN_OPTS values (default 1: the stand-in's)")
    parser.add_argument("--threads", type=int, help="num_batch_threads for every server (default: the exported)")
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput turn (default 5)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients for throughput (default 8)")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "serving_models", help="the exported models")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    exported = (args.model_dir / "batching.config").read_text()
    # servers labelled by timeout, then threads and oneDNN where those vary
    label = "batch_timeout_micros" + ("/intra-op threads" if args.intra_op != [0] else "") + \
        ("/oneDNN" if args.onednn != ["1"] else "")
    servers = {}
    with tempfile.TemporaryDirectory() as folder:
        try:
            for timeout in args.timeouts:
                path = Path(folder) / f"batching_{timeout}.config"
                threads = {} if args.threads is None else {"num_batch_threads": args.threads}
                path.write_text(with_values(exported, batch_timeout_micros=timeout, **threads))
                for intra in args.intra_op:
                    for onednn in args.onednn:
                        varying = [str(timeout)]
                        varying += [str(intra)] if args.intra_op != [0] else []
                        varying += [onednn] if args.onednn != ["1"] else []
                        servers["/".join(varying)] = spawn(config=args.model_dir / "models.config", batching=True,
                                                           batching_file=path, intra_op_threads=intra,
                                                           timeout_s=600, env={ONEDNN: onednn})
            pipelines = {f"{c} {t}": build_pipeline(load_settings(model_backend="grpc", **CONFIGURATIONS[c],
                                                                  **model_addresses(addr)))
                         for c in ("before", "fast") for t, (_, addr) in servers.items()}
            results = {"timeouts_micros": args.timeouts, "intra_op": args.intra_op, "onednn": args.onednn,
                       "threads": args.threads, "frames": {}}
            for frame, data in bench_frames().items():
                ms = measure(pipelines, data, args.repeat, rounds=4)   # in turns
                fps = throughput(pipelines, data, args.clients, args.seconds)
                results["frames"][frame] = {"ms": ms, "frames_per_s": fps}
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait()
    results["load_average"] = {"before": load_before, "after": os.getloadavg()}
    for frame, r in results["frames"].items():
        print(f"{frame}, 640x480, median ms over gRPC, by {label}")
        print(f"  {'':<14} {'detect':>8} {'embed':>8} {'total':>8}   frames/s with {args.clients} clients")
        for key, ms in r["ms"].items():
            print(f"  {key:<14} {ms['detect']:>8.1f} {ms['embed']:>8.1f} {ms['total']:>8.1f}"
                  f"   {r['frames_per_s'][key]:>8.1f}")
    print("load average (1, 5, 15 min) before %s, after %s" % tuple(
        ", ".join(f"{v:.2f}" for v in results["load_average"][k]) for k in ("before", "after")))
    write_results(args.out, results)


if __name__ == "__main__":
    main()
