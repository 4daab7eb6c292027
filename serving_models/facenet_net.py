"""FaceNet (Inception-ResNet-v1) rebuilt in code with the layer names of `facenet_keras.h5`.

The h5 (Keras 2.1.2, the nyoki-mtl port of davidsandberg's 20170512-110547 checkpoint) cannot
be deserialized by Keras 3: its Lambda layers hold Python 3.6 bytecode. Each of them computes
`inputs[0] + inputs[1] * scale`, so the architecture is written out here and the weights are
copied by layer name with h5py, every shape checked.
"""
import h5py
import keras
import numpy as np
import tensorflow as tf
from keras import layers

IMAGE_SIZE = 160
EMBEDDING_SIZE = 128
BN_EPSILON = 1e-3


@keras.saving.register_keras_serializable(package="facerec")
class ScaleSum(layers.Layer):
    """The h5's `*_ScaleSum` Lambda: residual + branch * scale."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        return inputs[0] + inputs[1] * self.scale

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def _conv_bn(x, filters, kernel, name, strides=1, padding="same", activation=True):
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False, name=name)(x)
    x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, scale=False, name=name + "_BatchNorm")(x)
    if activation:
        x = layers.Activation("relu", name=name + "_Activation")(x)
    return x


def _residual(x, branches, block, scale, activation=True):
    mixed = layers.Concatenate(axis=3, name=block + "_Concatenate")(branches)
    up = layers.Conv2D(x.shape[-1], 1, padding="same", use_bias=True, name=block + "_Conv2d_1x1")(mixed)
    x = ScaleSum(scale, name=block + "_ScaleSum")([x, up])
    if activation:
        x = layers.Activation("relu", name=block + "_Activation")(x)
    return x


def _block35(x, block):
    b0 = _conv_bn(x, 32, 1, f"{block}_Branch_0_Conv2d_1x1")
    b1 = _conv_bn(x, 32, 1, f"{block}_Branch_1_Conv2d_0a_1x1")
    b1 = _conv_bn(b1, 32, 3, f"{block}_Branch_1_Conv2d_0b_3x3")
    b2 = _conv_bn(x, 32, 1, f"{block}_Branch_2_Conv2d_0a_1x1")
    b2 = _conv_bn(b2, 32, 3, f"{block}_Branch_2_Conv2d_0b_3x3")
    b2 = _conv_bn(b2, 32, 3, f"{block}_Branch_2_Conv2d_0c_3x3")
    return _residual(x, [b0, b1, b2], block, 0.17)


def _block17(x, block):
    b0 = _conv_bn(x, 128, 1, f"{block}_Branch_0_Conv2d_1x1")
    b1 = _conv_bn(x, 128, 1, f"{block}_Branch_1_Conv2d_0a_1x1")
    b1 = _conv_bn(b1, 128, (1, 7), f"{block}_Branch_1_Conv2d_0b_1x7")
    b1 = _conv_bn(b1, 128, (7, 1), f"{block}_Branch_1_Conv2d_0c_7x1")
    return _residual(x, [b0, b1], block, 0.1)


def _block8(x, block, scale=0.2, activation=True):
    b0 = _conv_bn(x, 192, 1, f"{block}_Branch_0_Conv2d_1x1")
    b1 = _conv_bn(x, 192, 1, f"{block}_Branch_1_Conv2d_0a_1x1")
    b1 = _conv_bn(b1, 192, (1, 3), f"{block}_Branch_1_Conv2d_0b_1x3")
    b1 = _conv_bn(b1, 192, (3, 1), f"{block}_Branch_1_Conv2d_0c_3x1")
    return _residual(x, [b0, b1], block, scale, activation)


def inception_resnet_v1():
    """The Keras model of facenet_keras.h5: [N,160,160,3] prewhitened -> [N,128] (not normalised)."""
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="input_1")
    x = _conv_bn(inputs, 32, 3, "Conv2d_1a_3x3", strides=2, padding="valid")
    x = _conv_bn(x, 32, 3, "Conv2d_2a_3x3", padding="valid")
    x = _conv_bn(x, 64, 3, "Conv2d_2b_3x3")
    x = layers.MaxPooling2D(3, strides=2, name="MaxPool_3a_3x3")(x)
    x = _conv_bn(x, 80, 1, "Conv2d_3b_1x1", padding="valid")
    x = _conv_bn(x, 192, 3, "Conv2d_4a_3x3", padding="valid")
    x = _conv_bn(x, 256, 3, "Conv2d_4b_3x3", strides=2, padding="valid")
    for i in range(1, 6):
        x = _block35(x, f"Block35_{i}")

    b0 = _conv_bn(x, 384, 3, "Mixed_6a_Branch_0_Conv2d_1a_3x3", strides=2, padding="valid")
    b1 = _conv_bn(x, 192, 1, "Mixed_6a_Branch_1_Conv2d_0a_1x1")
    b1 = _conv_bn(b1, 192, 3, "Mixed_6a_Branch_1_Conv2d_0b_3x3")
    b1 = _conv_bn(b1, 256, 3, "Mixed_6a_Branch_1_Conv2d_1a_3x3", strides=2, padding="valid")
    b2 = layers.MaxPooling2D(3, strides=2, name="Mixed_6a_Branch_2_MaxPool_1a_3x3")(x)
    x = layers.Concatenate(axis=3, name="Mixed_6a")([b0, b1, b2])
    for i in range(1, 11):
        x = _block17(x, f"Block17_{i}")

    b0 = _conv_bn(x, 256, 1, "Mixed_7a_Branch_0_Conv2d_0a_1x1")
    b0 = _conv_bn(b0, 384, 3, "Mixed_7a_Branch_0_Conv2d_1a_3x3", strides=2, padding="valid")
    b1 = _conv_bn(x, 256, 1, "Mixed_7a_Branch_1_Conv2d_0a_1x1")
    b1 = _conv_bn(b1, 256, 3, "Mixed_7a_Branch_1_Conv2d_1a_3x3", strides=2, padding="valid")
    b2 = _conv_bn(x, 256, 1, "Mixed_7a_Branch_2_Conv2d_0a_1x1")
    b2 = _conv_bn(b2, 256, 3, "Mixed_7a_Branch_2_Conv2d_0b_3x3")
    b2 = _conv_bn(b2, 256, 3, "Mixed_7a_Branch_2_Conv2d_1a_3x3", strides=2, padding="valid")
    b3 = layers.MaxPooling2D(3, strides=2, name="Mixed_7a_Branch_3_MaxPool_1a_3x3")(x)
    x = layers.Concatenate(axis=3, name="Mixed_7a")([b0, b1, b2, b3])
    for i in range(1, 6):
        x = _block8(x, f"Block8_{i}")
    x = _block8(x, "Block8_6", scale=1.0, activation=False)

    x = layers.GlobalAveragePooling2D(name="AvgPool")(x)
    x = layers.Dropout(0.2, name="Dropout")(x)
    x = layers.Dense(EMBEDDING_SIZE, use_bias=False, name="Bottleneck")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, scale=False, name="Bottleneck_BatchNorm")(x)
    return keras.Model(inputs, x, name="inception_resnet_v1")


def h5_weights(path):
    """{layer name: [arrays in the h5's weight_names order]} for every layer that has weights."""
    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        weights = {}
        for name, layer in group.items():
            names = [n.decode() if isinstance(n, bytes) else n for n in layer.attrs.get("weight_names", [])]
            if names:
                weights[name] = [np.asarray(layer[n]) for n in names]
        return weights


def load_h5_weights(model, path):
    """Copy every weight of the h5 into `model` by layer name; any mismatch is an error."""
    weights = h5_weights(path)
    model_layers = {layer.name: layer for layer in model.layers if layer.weights}
    if set(weights) != set(model_layers):
        raise ValueError(f"h5 and model layers differ: only in h5 {sorted(set(weights) - set(model_layers))}, "
                         f"only in model {sorted(set(model_layers) - set(weights))}")
    for name, arrays in weights.items():
        expected = [tuple(w.shape) for w in model_layers[name].weights]
        got = [a.shape for a in arrays]
        if expected != got:
            raise ValueError(f"layer {name}: h5 weights have shapes {got}, the model expects {expected}")
        model_layers[name].set_weights(arrays)
    return model


class FacenetModule(tf.Module):
    """The served graph: uint8 RGB face crops -> prewhitened -> FaceNet -> L2-normalised."""

    def __init__(self, net):
        super().__init__(name="facenet")
        self.net = net

    @tf.function(input_signature=[tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 3], tf.uint8, name="images")])
    def embed(self, images):
        x = tf.image.per_image_standardization(tf.cast(images, tf.float32))  # per image, over its last 3 dims
        return {"embeddings": tf.math.l2_normalize(self.net(x, training=False), axis=1)}


def folded_plan(net) -> list[tuple]:
    """The Keras model as a list of (name, op, inputs, arrays) steps with every BatchNorm that
    follows a convolution folded into it, and every residual's scale (`ScaleSum`: x + up * scale)
    folded into the 1x1 convolution that makes `up`, so the sum is a plain add (inference
    arithmetic only), so that Grappler fuses conv + bias (+ add) + ReLU into one oneDNN
    convolution: facenet_sface.py serves it."""
    by_name = {layer.name: layer for layer in net.layers}
    steps = []
    for layer in net.layers[1:]:   # [0] is the input
        sources = [t._keras_history.operation.name for t in layer._inbound_nodes[0].input_tensors]
        if isinstance(layer, layers.Conv2D):
            kernel = layer.kernel.numpy()
            bias = layer.bias.numpy() if layer.use_bias else np.zeros(kernel.shape[-1], np.float32)
            bn = by_name.get(layer.name + "_BatchNorm")
            if bn is not None:
                scale = 1.0 / np.sqrt(bn.moving_variance.numpy() + BN_EPSILON)
                kernel, bias = kernel * scale, bn.beta.numpy() - bn.moving_mean.numpy() * scale
            steps.append((layer.name, "conv", sources, (kernel, bias, layer.strides[0], layer.padding.upper())))
        elif isinstance(layer, layers.BatchNormalization):
            if isinstance(by_name.get(layer.name.removesuffix("_BatchNorm")), layers.Conv2D):
                steps.append((layer.name, "identity", sources, ()))
            else:   # the Bottleneck's: an affine map
                scale = 1.0 / np.sqrt(layer.moving_variance.numpy() + BN_EPSILON)
                shift = layer.beta.numpy() - layer.moving_mean.numpy() * scale
                steps.append((layer.name, "affine", sources, (scale, shift)))
        elif isinstance(layer, layers.Dense):
            steps.append((layer.name, "dense", sources, (layer.kernel.numpy(),)))
        elif isinstance(layer, ScaleSum):
            i = next(i for i, step in enumerate(steps) if step[0] == sources[1] and step[1] == "conv")
            name, _, conv_sources, (kernel, bias, stride, padding) = steps[i]
            steps[i] = (name, "conv", conv_sources, (kernel * layer.scale, bias * layer.scale, stride, padding))
            steps.append((layer.name, "add", sources, ()))
        else:
            op = {layers.Activation: "relu", layers.MaxPooling2D: "max_pool", layers.Concatenate: "concat",
                  layers.GlobalAveragePooling2D: "mean", layers.Dropout: "identity"}[type(layer)]
            steps.append((layer.name, op, sources, ()))
    return steps


def folded_variables(plan: list[tuple], dtype: tf.DType) -> dict[str, tf.Variable]:
    """Every weight array of `plan` as a variable of `dtype` (float32 or bfloat16), keyed
    '<step name>/<index in its arrays>': what folded_network reads."""
    return {f"{name}/{i}": tf.Variable(tf.constant(np.asarray(array, np.float32), dtype), trainable=False)
            for name, _, _, arrays in plan for i, array in enumerate(arrays) if isinstance(array, np.ndarray)}


def folded_step(op: str, a: list[tf.Tensor], w: list, arrays: tuple) -> tf.Tensor:
    """One step of `plan` (folded_plan): `a` its inputs, `w` its arrays as tensors (None where
    an array is not one: a stride, a padding)."""
    if op == "conv":
        _, _, stride, padding = arrays
        return tf.nn.bias_add(tf.nn.conv2d(a[0], w[0], stride, padding), w[1])
    if op == "relu":
        return tf.nn.relu(a[0])
    if op == "max_pool":
        return tf.nn.max_pool2d(a[0], 3, 2, "VALID")
    if op == "concat":
        return tf.concat(a, axis=3)
    if op == "add":
        return a[0] + a[1]
    if op == "mean":
        return tf.reduce_mean(a[0], axis=[1, 2])
    if op == "dense":
        return tf.matmul(a[0], w[0])
    if op == "affine":
        return a[0] * w[0] + w[1]
    return a[0]   # identity: a folded BatchNorm, Dropout at inference


def folded_values(x: tf.Tensor, plan: list[tuple], weights: dict[str, tf.Variable]) -> dict[str, tf.Tensor]:
    """Every step's output of FaceNet on prewhitened [N,160,160,3] float32 by `plan`
    (folded_plan), computed in the dtype of `weights` (folded_variables), by step name."""
    values = {"input_1": tf.cast(x, next(iter(weights.values())).dtype)}
    for name, op, sources, arrays in plan:
        w = [weights.get(f"{name}/{i}") for i in range(len(arrays))]
        values[name] = folded_step(op, [values[s] for s in sources], w, arrays)
    return values


def folded_network(x: tf.Tensor, plan: list[tuple], weights: dict[str, tf.Variable]) -> tf.Tensor:
    """FaceNet on prewhitened [N,160,160,3] float32 by `plan` (folded_plan), computed in the
    dtype of `weights` (folded_variables); float32 [N,128] out."""
    return tf.cast(folded_values(x, plan, weights)[plan[-1][0]], tf.float32)
