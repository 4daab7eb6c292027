"""dlib's face recognition ResNet and SFace in one SavedModel: EMBEDDER=dlib+sface in one
Predict call per frame, one batch for every face of it.

`serving_default` takes `dlib_images` uint8 [N,150,150,3] (the faces aligned to dlib's chip,
app/pipeline/alignment.py) and `sface_images` uint8 [N,112,112,3] (aligned to ArcFace's
template), the same N faces in the same order, and returns `dlib` and `sface`, each network's
L2-normalised [N,128] embeddings (the app fuses them, app/pipeline/embedders.py).

`dlib` is dlib's descriptor, normalised, less the centre (the mean of the train photos'
normalised descriptors), normalised again: dlib's descriptors of all faces share a large
common part, so different people sit at ~0.86 where other networks put them at ~1.4; without
the centre the pair is less accurate and its distances are on another scale than every
threshold of the app. `python -m scripts.fit_dlib_sface` fits it (serving_models/dlib_centre.json),
and the app's model id names it (DLIB_CENTRE_ID: centre_id below). The network is dlib's own
(serving_models/dlib_resnet.py), its affines folded into the convolutions; SFace is the graph
the sface model serves, folded. The weights are variables, read once at load and served with
TF_ONEDNN_ASSUME_FROZEN_WEIGHTS, as in facenet_sface. Both networks run in the precision chosen
at export (scripts/export_models.py --precision): float32, or bfloat16 where the CPU multiplies it
in hardware (AMX, AVX512-BF16; docs/frame-cost.md (u)); the centring and normalisation are float32.
"""
import hashlib
import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from serving_models import dlib_resnet, sface_net
from serving_models.precision import DTYPES

CENTRE_FILE = Path(__file__).with_name("dlib_centre.json")


def centre_id(centre: np.ndarray) -> str:
    """8 hex digits naming a centre: the app's model id carries them (DLIB_CENTRE_ID), so that
    galleries embedded with another centre are not compared with these vectors."""
    return hashlib.sha256(np.asarray(centre, "<f4").tobytes()).hexdigest()[:8]


def fitted_centre(path: Path = CENTRE_FILE) -> np.ndarray:
    """The centre `python -m scripts.fit_dlib_sface` wrote: [128] float32."""
    centre = np.asarray(json.loads(path.read_text())["centre"], np.float32)
    if centre.shape != (dlib_resnet.EMBEDDING_SIZE,):
        raise ValueError(f"{path} holds no 128-d centre")
    return centre


class DlibSfaceModule(tf.Module):
    def __init__(self, dlib_weights: dict, sface_weights: dict, centre: np.ndarray, precision: str = "float32"):
        super().__init__(name="dlib_sface")
        self.compute_dtype = DTYPES[precision]
        self.centre = tf.constant(centre, tf.float32)
        self.dlib_weights = {k: tf.Variable(tf.cast(v, self.compute_dtype), trainable=False)
                             for k, v in dlib_weights.items()}
        self.sface_weights = {k: tf.Variable(tf.cast(v, self.compute_dtype), trainable=False)
                              for k, v in sface_weights.items()}
        self.sface_slopes = sface_net.slopes_at_most_1(sface_weights)

    def dlib(self, images: tf.Tensor) -> tf.Tensor:
        raw = tf.cast(dlib_resnet.dlib_network(tf.cast(images, self.compute_dtype), self.dlib_weights), tf.float32)
        return tf.math.l2_normalize(tf.math.l2_normalize(raw, axis=1) - self.centre, axis=1)

    def sface(self, images: tf.Tensor) -> tf.Tensor:
        raw = sface_net.sface_network(tf.cast(images, self.compute_dtype), self.sface_weights,
                                      self.sface_slopes)
        return tf.math.l2_normalize(tf.cast(raw, tf.float32), axis=1)

    @tf.function(input_signature=[
        tf.TensorSpec([None, dlib_resnet.IMAGE_SIZE, dlib_resnet.IMAGE_SIZE, 3], tf.uint8, name="dlib_images"),
        tf.TensorSpec([None, sface_net.IMAGE_SIZE, sface_net.IMAGE_SIZE, 3], tf.uint8, name="sface_images")])
    def embed(self, dlib_images, sface_images):
        tf.debugging.assert_equal(tf.shape(dlib_images)[0], tf.shape(sface_images)[0],
                                  "dlib_images and sface_images must hold the same number of faces")
        # An empty batch through the convolutions misbehaves on CPU (oneDNN): skip the networks.
        size = dlib_resnet.EMBEDDING_SIZE
        return tf.cond(tf.shape(dlib_images)[0] > 0,
                       lambda: {"dlib": self.dlib(dlib_images), "sface": self.sface(sface_images)},
                       lambda: {"dlib": tf.zeros([0, size]), "sface": tf.zeros([0, size])})


def build(dlib_dat, sface_onnx, centre: np.ndarray | None = None, precision: str = "float32") -> DlibSfaceModule:
    """centre: the fitted one unless given (scripts/fit_dlib_sface.py fits with zeros)."""
    return DlibSfaceModule(dlib_resnet.load_weights(dlib_dat), sface_net.onnx_folded_weights(sface_onnx),
                           fitted_centre() if centre is None else centre, precision)
