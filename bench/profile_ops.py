"""Where each served model's time goes, op by op (docs/frame-cost.md, "Where the time goes").

    python -m bench.profile_ops [--repeat 20] [--top 8] [--model-dir serving_models]
                                [--only facenet_sface] [--out results/profile_ops.json]

Every exported SavedModel is loaded as the app's in-process backend loads it (LocalModel)
and called on what the frames give it (bench_frame_cost's calls: each detector on the 3-face
640x480 frame, each embedder on 1 and 3 faces) under TensorFlow's profiler; per op type it
prints the mean milliseconds spent in that op per call and its share of all op time. Ops on
the two cores overlap, so op time can exceed the wall time, which is printed beside it
(measured without the profiler). TF Serving runs the same graph with the same kernels; over
gRPC a call adds only its round trip and, for the batched embedders, `batch_timeout_micros`
(bench_frame_cost measures those).
"""
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from bench.bench_frame_cost import model_calls
from bench.results import bench_parser, write_results
from bench.timing import median_ms
from scripts.pypi_assets import ROOT


def op_times(trace_dir: Path, calls: int) -> dict[str, float]:
    """{op type: mean ms per call} from the profiler's trace: every op the executor ran (the
    events named 'node:OpType' on its tf_Compute threads, not the executor's own
    'ExecutorState::Process' around them)."""
    # The trace is an XSpace proto; TensorFlow ships its schema (no TensorBoard plugin needed).
    from tensorflow.tsl.profiler.protobuf import xplane_pb2
    ops: Counter = Counter()
    for path in trace_dir.rglob("*.xplane.pb"):
        space = xplane_pb2.XSpace.FromString(path.read_bytes())
        for plane in space.planes:
            for line in plane.lines:
                if not line.name.startswith("tf_Compute"):
                    continue
                for event in line.events:
                    name = plane.event_metadata[event.metadata_id].name
                    if ":" in name and "::" not in name:
                        ops[name.rsplit(":", 1)[1]] += event.duration_ps / 1e9 / calls
    return dict(ops.most_common())


def profile(model, inputs: dict[str, np.ndarray], repeat: int) -> dict:
    """{'wall_ms': median ms per call, 'ops_ms': {op type: mean ms per call}} of one call."""
    import tensorflow as tf
    for _ in range(3):   # oneDNN builds its primitives on the first calls
        model.predict(inputs)
    wall_ms = median_ms(lambda: model.predict(inputs), repeat)
    with tempfile.TemporaryDirectory() as trace_dir:
        tf.profiler.experimental.start(trace_dir)
        try:
            for _ in range(repeat):
                model.predict(inputs)
        finally:
            tf.profiler.experimental.stop()
        return {"wall_ms": wall_ms, "ops_ms": op_times(Path(trace_dir), repeat)}


def profiles(model_dir: Path, repeat: int, only: set[str]) -> dict:
    """{call label: profile} for every call of bench_frame_cost whose model is in `only` (all
    when empty)."""
    from app.model_clients.local_model import LocalModel
    models: dict[str, LocalModel] = {}
    out = {}
    for label, (name, inputs) in model_calls().items():
        if only and name not in only:
            continue
        if name not in models:
            models[name] = LocalModel(name, model_dir)
        out[label] = profile(models[name], inputs, repeat)
    return out


def main(argv=None):
    parser = bench_parser(__doc__, "profile_ops", repeat=20)
    parser.add_argument("--top", type=int, default=8, help="op types printed per call (default 8)")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "serving_models", help="the exported models")
    parser.add_argument("--only", action="append", default=[], help="profile only this model (repeatable)")
    args = parser.parse_args(argv)
    results = profiles(args.model_dir, args.repeat, set(args.only))
    for label, r in results.items():
        total = sum(r["ops_ms"].values())
        print(f"{label}: wall {r['wall_ms']:.1f} ms, op time {total:.1f} ms")
        for op, ms in list(r["ops_ms"].items())[:args.top]:
            print(f"  {ms:7.2f} ms  {100.0 * ms / total:4.1f}%  {op}")
    write_results(args.out, {"model_dir": str(args.model_dir), "calls": results})


if __name__ == "__main__":
    main()
