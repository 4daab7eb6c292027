"""An independent reading of facenet_keras.h5 for the equivalence test.

Instead of our hand-written architecture (serving_models/facenet_net.py), this walks the
model_config stored in the h5 itself, layer by layer, computing each one with plain
TensorFlow ops and the h5's own weights; the Lambda layers are computed from their stored
`scale` argument. If our rebuilt network wired anything differently, the outputs differ.
"""
import json

import h5py
import numpy as np
import tensorflow as tf

from serving_models.facenet_net import h5_weights


def _layer_inputs(layer):
    return [inbound[0] for inbound in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []


def _apply(layer, inputs, weights):
    kind, cfg = layer["class_name"], layer["config"]
    x = inputs[0] if inputs else None
    if kind == "Conv2D":
        y = tf.nn.conv2d(x, weights[0], cfg["strides"], cfg["padding"].upper())
        return tf.nn.bias_add(y, weights[1]) if cfg["use_bias"] else y
    if kind == "BatchNormalization":
        assert not cfg["scale"] and cfg["center"]
        beta, mean, var = weights
        return (x - mean) / np.sqrt(var + cfg["epsilon"]) + beta
    if kind == "Activation":
        assert cfg["activation"] == "relu"
        return tf.nn.relu(x)
    if kind == "MaxPooling2D":
        return tf.nn.max_pool2d(x, cfg["pool_size"], cfg["strides"], cfg["padding"].upper())
    if kind == "Concatenate":
        return tf.concat(inputs, axis=cfg["axis"])
    if kind == "Lambda":
        return inputs[0] + inputs[1] * cfg["arguments"]["scale"]
    if kind == "GlobalAveragePooling2D":
        return tf.reduce_mean(x, axis=[1, 2])
    if kind == "Dropout":
        return x
    if kind == "Dense":
        assert not cfg["use_bias"]
        return tf.matmul(x, weights[0])
    raise ValueError(f"unexpected layer {kind}")


def facenet_from_h5(path, prewhitened):
    """Raw (not normalised) 128-d outputs of the h5's network for prewhitened float images."""
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])["config"]
    weights = h5_weights(path)
    values = {config["input_layers"][0][0]: tf.constant(prewhitened, tf.float32)}
    for layer in config["layers"]:
        if layer["class_name"] == "InputLayer":
            continue
        inputs = [values[name] for name in _layer_inputs(layer)]
        values[layer["name"]] = _apply(layer, inputs, weights.get(layer["name"], []))
    return values[config["output_layers"][0][0]].numpy()
