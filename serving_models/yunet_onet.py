"""YuNet's boxes refined by MTCNN's O-Net, as one TensorFlow graph (PREPROCESSOR=yunet+onet).

YuNet finds faces at a third of MTCNN's cost, but its landmarks and boxes are noisier, and
recognition on them is worse (README, Accuracy). Here every YuNet box is first mapped onto
the square box MTCNN's R-Net would have handed O-Net for that face (`RNET_PRIOR`: a constant
shift and scale of YuNet's box, fitted on the train photos of the evaluation set by
`python -m scripts.fit_onet_prior`; YuNet's boxes are ~7% larger than R-Net's, and O-Net was
trained on R-Net's), cut out at 48x48 (bilinear `crop_and_resize`, MTCNN's
(x - 127.5) / 128 input) and passed through O-Net, which MTCNN trains for exactly this:
regress the box and place the five landmarks. O-Net then runs a second time on its own box,
squared as MTCNN squares its boxes (`ONET_PASSES`), and that answer replaces YuNet's box and
landmarks. As in MTCNN's cascade, YuNet proposes (at a low `score_threshold`: the app
sends YUNET_ONET_SCORE_THRESHOLD, 0.3) and O-Net's face probability from the pass that gave
the box decides (`ONET_THRESHOLD`, MTCNN's last threshold) and is the score reported, except
where YuNet is sure (`YUNET_SURE`): on some faces O-Net's probability wavers from pass to pass
(0.2-0.9 on one face of the visits benchmark, frame after frame, which MTCNN's own cascade and
YuNet find), so a proposal YuNet scores that high is kept whatever O-Net says, with O-Net's
geometry and YuNet's score. Boxes that O-Net moved onto one face are then merged as MTCNN
merges them. The app reads scores on
MTCNN's scale (a face's quality, VISITOR_MIN_SCORE, the compatibility APIs' confidence);
YuNet's own run lower (~0.75-0.95 on clear faces, where O-Net gives >0.99). One Predict call
per frame, with the inputs and outputs of the YuNet graph.
docs/frame-cost.md has what each of these choices does to accuracy.
"""
import tensorflow as tf

from serving_models.mtcnn_graph import ONET_NMS, MtcnnModule, _nms, _refine, _sort_by_score, _square
from serving_models.yunet_graph import SIGNATURE, YunetModule

ONET_SIZE = 48
# YuNet box (x1, y1, x2, y2; w, h) -> the square R-Net gives: centre shifted by (dx * w, dy * h),
# side = sw * w + sh * h. scripts/fit_onet_prior.py fits it (train photos only).
RNET_PRIOR = {"dx": -0.0272, "dy": 0.0037, "sw": 0.3916, "sh": 0.6211}
ONET_PASSES = 2
# O-Net's face probability a face must exceed: MTCNN's default last threshold (a constant here;
# MTCNN_THRESHOLDS is the mtcnn graph's input and does not reach this one)
ONET_THRESHOLD = 0.8
# A YuNet score that keeps a proposal O-Net rejects: YuNet's scores run ~0.75-0.95 on clear
# faces; at 0.9 the evaluation and the many-strangers visits are unchanged and the visits
# benchmark's normal set finds as many faces as MTCNN (docs/frame-cost.md (w)).
YUNET_SURE = 0.9


def rnet_like(boxes: tf.Tensor) -> tf.Tensor:
    """The square box R-Net would give for each [N,4] YuNet box (RNET_PRIOR)."""
    x1, y1, x2, y2 = tf.unstack(boxes, axis=1)
    w, h = x2 - x1, y2 - y1
    cx = (x1 + x2) * 0.5 + RNET_PRIOR["dx"] * w
    cy = (y1 + y2) * 0.5 + RNET_PRIOR["dy"] * h
    half = (RNET_PRIOR["sw"] * w + RNET_PRIOR["sh"] * h) * 0.5
    return tf.stack([cx - half, cy - half, cx + half, cy + half], axis=1)


class YunetOnetModule(tf.Module):
    def __init__(self, yunet: YunetModule, mtcnn: MtcnnModule):
        super().__init__(name="yunet_onet")
        self.yunet, self.mtcnn = yunet, mtcnn

    def onet_pass(self, normalized: tf.Tensor, square: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(boxes, landmarks, face probabilities) by one O-Net pass on [N>0,4] square boxes of the
        normalised frame."""
        # Normalised before cropping, as MTCNN does: outside the frame is 0 there, not black.
        patches = MtcnnModule._patches(normalized, square, ONET_SIZE)
        offsets, marks, probs = self.mtcnn.onet(patches)
        # As MTCNN: landmarks relative to the box O-Net was given, the box then regressed.
        w = square[:, 2:3] - square[:, 0:1] + 1.0
        h = square[:, 3:4] - square[:, 1:2] + 1.0
        landmarks = tf.stack([w * marks[:, 0:5] + square[:, 0:1] - 1.0,
                              h * marks[:, 5:10] + square[:, 1:2] - 1.0], axis=-1)
        return _refine(square, offsets), landmarks, probs[:, 1]

    def refine(self, image: tf.Tensor, boxes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(boxes, landmarks, scores) by O-Net for [N>0,4] x1,y1,x2,y2 YuNet boxes of the uint8
        frame."""
        normalized = (tf.cast(image, tf.float32) - 127.5) / 128.0
        boxes, landmarks, scores = self.onet_pass(normalized, rnet_like(boxes))
        for _ in range(ONET_PASSES - 1):
            boxes, landmarks, scores = self.onet_pass(normalized, _square(boxes))
        return boxes, landmarks, scores

    @tf.function(input_signature=SIGNATURE)
    def detect(self, image, score_threshold, nms_threshold):
        found = self.yunet.detect(image, score_threshold, nms_threshold)
        # An empty batch through the convolutions misbehaves on CPU: skip O-Net.
        boxes, landmarks, scores = tf.cond(tf.shape(found["boxes"])[0] > 0,
                                           lambda: self.refine(image, found["boxes"]),
                                           lambda: (found["boxes"], found["landmarks"], found["scores"]))
        # As MTCNN's last stage: O-Net's probability decides (or YuNet, where sure), then boxes
        # that O-Net moved onto one face are merged (NMS over the smaller box).
        onet_sure = scores > ONET_THRESHOLD
        yunet_sure = found["scores"] >= YUNET_SURE
        keep = onet_sure | yunet_sure
        scores = tf.where(onet_sure, scores, found["scores"])
        boxes, scores, landmarks = _sort_by_score(tf.boolean_mask(boxes, keep), tf.boolean_mask(scores, keep),
                                                  tf.boolean_mask(landmarks, keep))
        boxes, scores, landmarks = _nms(boxes, scores, ONET_NMS, landmarks, over_min_area=True)
        return {"boxes": boxes, "scores": scores, "landmarks": landmarks}
