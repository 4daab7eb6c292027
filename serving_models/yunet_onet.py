"""YuNet's boxes refined by MTCNN's O-Net, as one TensorFlow graph (PREPROCESSOR=yunet+onet).

YuNet finds faces at a third of MTCNN's cost, but its landmarks and boxes are noisier, and
recognition on them is worse (README, Accuracy). Here every YuNet box is made square (as
MTCNN squares R-Net's boxes), cut out at 48x48 (bilinear `crop_and_resize`, MTCNN's
(x - 127.5) / 128 input) and passed once through O-Net, which MTCNN trains for exactly this:
regress the box and place the five landmarks. O-Net's answer replaces YuNet's box and
landmarks; YuNet's score and NMS decide which faces there are (O-Net's own score is not used
to drop faces). One Predict call per frame, with the inputs and outputs of the YuNet graph.
"""
import tensorflow as tf

from serving_models.mtcnn_graph import MtcnnModule, _refine, _square
from serving_models.yunet_graph import SIGNATURE, YunetModule

ONET_SIZE = 48


class YunetOnetModule(tf.Module):
    def __init__(self, yunet: YunetModule, mtcnn: MtcnnModule):
        super().__init__(name="yunet_onet")
        self.yunet, self.mtcnn = yunet, mtcnn

    def refine(self, image: tf.Tensor, boxes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(boxes, landmarks) by O-Net for [N>0,4] x1,y1,x2,y2 boxes of the uint8 frame."""
        square = _square(boxes)
        # Normalised before cropping, as MTCNN does: outside the frame is 0 there, not black.
        patches = MtcnnModule._patches((tf.cast(image, tf.float32) - 127.5) / 128.0, square, ONET_SIZE)
        offsets, marks, _ = self.mtcnn.onet(patches)
        # As MTCNN: landmarks relative to the box O-Net was given, the box then regressed.
        w = square[:, 2:3] - square[:, 0:1] + 1.0
        h = square[:, 3:4] - square[:, 1:2] + 1.0
        landmarks = tf.stack([w * marks[:, 0:5] + square[:, 0:1] - 1.0,
                              h * marks[:, 5:10] + square[:, 1:2] - 1.0], axis=-1)
        return _refine(square, offsets), landmarks

    @tf.function(input_signature=SIGNATURE)
    def detect(self, image, score_threshold, nms_threshold):
        found = self.yunet.detect(image, score_threshold, nms_threshold)
        # An empty batch through the convolutions misbehaves on CPU: skip O-Net.
        boxes, landmarks = tf.cond(tf.shape(found["boxes"])[0] > 0,
                                   lambda: self.refine(image, found["boxes"]),
                                   lambda: (found["boxes"], found["landmarks"]))
        return {"boxes": boxes, "scores": found["scores"], "landmarks": landmarks}
