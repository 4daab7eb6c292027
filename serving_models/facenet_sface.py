"""FaceNet and SFace in one SavedModel: the fused default embedder (EMBEDDER=facenet+sface)
in one Predict call per frame, one batch for every face of it.

`serving_default` takes `facenet_images` uint8 [N,160,160,3] (the box crops) and
`sface_images` uint8 [N,112,112,3] (the aligned faces), the same N faces in the same order,
and returns `facenet` and `sface`, each network's L2-normalised [N,128] embeddings (the app
fuses them, app/pipeline/embedders.py). Both inputs start with the batch dimension, so TF
Serving's batching concatenates requests as for the separate models.

The networks are the ones the facenet and sface SavedModels serve, with every BatchNorm of
FaceNet folded into the convolution before it (and its residual scales into the 1x1
convolution that makes each residual) and SFace's BatchNorms folded. The weights are
variables, read once at load: served with TF_ONEDNN_ASSUME_FROZEN_WEIGHTS (what loading for
serving sets, app/model_clients/savedmodel.py, and the TF Serving images), oneDNN reorders
them once as it would constants, and the graph holds no copy of them, so it takes about the
memory of the two models it replaces (as constants it took ~1.9 GB more). FaceNet runs in the
precision chosen at export: float32 (the default), or bfloat16, which a CPU with AMX or
AVX512-BF16 multiplies in hardware (FaceNet ~1.5x faster with AMX, less without, embeddings within cosine
0.9995 of float32, but one more false reject at zero false accepts on the evaluation:
docs/frame-cost.md). SFace, FaceNet's prewhitening and the normalisation stay float32.
"""
import tensorflow as tf

from serving_models import facenet_net, sface_net
from serving_models.precision import DTYPES


class FacenetSfaceModule(tf.Module):
    def __init__(self, facenet_keras, sface_weights: dict, precision: str = "float32"):
        super().__init__(name="facenet_sface")
        self.facenet_plan = facenet_net.folded_plan(facenet_keras)
        self.facenet_weights = facenet_net.folded_variables(self.facenet_plan, DTYPES[precision])
        # Always float32: its depthwise convolutions gain little from AMX (1.07x at batch 1).
        self.sface_weights = {k: tf.Variable(v, dtype=tf.float32, trainable=False) for k, v in sface_weights.items()}
        self.sface_slopes = sface_net.slopes_at_most_1(sface_weights)

    def facenet(self, images: tf.Tensor) -> tf.Tensor:
        x = tf.image.per_image_standardization(tf.cast(images, tf.float32))
        return tf.math.l2_normalize(facenet_net.folded_network(x, self.facenet_plan, self.facenet_weights), axis=1)

    def sface(self, images: tf.Tensor) -> tf.Tensor:
        raw = sface_net.sface_network(tf.cast(images, tf.float32), self.sface_weights, self.sface_slopes)
        return tf.math.l2_normalize(raw, axis=1)

    @tf.function(input_signature=[
        tf.TensorSpec([None, facenet_net.IMAGE_SIZE, facenet_net.IMAGE_SIZE, 3], tf.uint8, name="facenet_images"),
        tf.TensorSpec([None, sface_net.IMAGE_SIZE, sface_net.IMAGE_SIZE, 3], tf.uint8, name="sface_images")])
    def embed(self, facenet_images, sface_images):
        tf.debugging.assert_equal(tf.shape(facenet_images)[0], tf.shape(sface_images)[0],
                                  "facenet_images and sface_images must hold the same number of faces")
        # An empty batch through the convolutions misbehaves on CPU (oneDNN): skip the networks.
        size = facenet_net.EMBEDDING_SIZE
        return tf.cond(tf.shape(facenet_images)[0] > 0,
                       lambda: {"facenet": self.facenet(facenet_images), "sface": self.sface(sface_images)},
                       lambda: {"facenet": tf.zeros([0, size]), "sface": tf.zeros([0, size])})


def build(facenet_h5, sface_onnx, precision: str = "float32") -> FacenetSfaceModule:
    net = facenet_net.load_h5_weights(facenet_net.inception_resnet_v1(), facenet_h5)
    return FacenetSfaceModule(net, sface_net.onnx_folded_weights(sface_onnx), precision)
