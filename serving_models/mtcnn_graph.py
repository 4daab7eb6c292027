"""MTCNN (P-Net -> R-Net -> O-Net) as one TensorFlow graph, exported as a SavedModel.

The whole cascade runs inside `serving_default`, so detecting a frame costs one Predict
call. It reproduces what the reference `mtcnn==1.0.0` package computes (the weights come
from its wheel), with two deliberate differences:
- pyramid levels under 12 px are skipped (the package raises there and reports no face);
- ties between equal scores are broken by a stable sort (the package's NumPy argsort is
  unstable, so which of two tied boxes survives is arbitrary there).
"""
import tensorflow as tf

CELL = 12.0          # P-Net sees 12x12 windows ...
STRIDE = 2.0         # ... every 2 pixels of a pyramid level
PNET_NMS = 0.5       # per pyramid level (IoU over union)
PYRAMID_NMS = 0.7    # across levels (union)
RNET_NMS = 0.7       # (union)
ONET_NMS = 0.7       # (intersection over the smaller box)

# Weight shapes in the order the mtcnn wheel stores them (Keras get_weights order).
PNET_SHAPES = [(3, 3, 3, 10), (10,), (1, 1, 10), (3, 3, 10, 16), (16,), (1, 1, 16),
               (3, 3, 16, 32), (32,), (1, 1, 32), (1, 1, 32, 4), (4,), (1, 1, 32, 2), (2,)]
RNET_SHAPES = [(3, 3, 3, 28), (28,), (1, 1, 28), (3, 3, 28, 48), (48,), (1, 1, 48),
               (2, 2, 48, 64), (64,), (1, 1, 64), (576, 128), (128,), (128,),
               (128, 4), (4,), (128, 2), (2,)]
ONET_SHAPES = [(3, 3, 3, 32), (32,), (1, 1, 32), (3, 3, 32, 64), (64,), (1, 1, 64),
               (3, 3, 64, 64), (64,), (1, 1, 64), (2, 2, 64, 128), (128,), (1, 1, 128),
               (1152, 256), (256,), (256,), (256, 4), (4,), (256, 10), (10,), (256, 2), (2,)]

INPUT_SIGNATURE = [
    tf.TensorSpec([None, None, 3], tf.uint8, name="image"),
    tf.TensorSpec([], tf.float32, name="min_size"),
    tf.TensorSpec([3], tf.float32, name="thresholds"),
    tf.TensorSpec([], tf.float32, name="factor"),
]


def check_shapes(name, arrays, shapes):
    got = [tuple(a.shape) for a in arrays]
    if got != [tuple(s) for s in shapes]:
        raise ValueError(f"{name} weights have shapes {got}, expected {shapes}")


def _conv(x, kernel, bias):
    return tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, "VALID"), bias)


def _prelu(x, alpha):
    return tf.nn.relu(x) + alpha * tf.minimum(x, 0.0)


def _pool(x, size, padding):
    return tf.nn.max_pool2d(x, size, 2, padding)


def _flatten_like_keras(x):
    # The nets were converted from Caffe: Keras' Permute((2, 1, 3)) before Flatten.
    x = tf.transpose(x, [0, 2, 1, 3])
    return tf.reshape(x, [tf.shape(x)[0], -1])


def _iou(boxes, over_min_area):
    """Pairwise overlap of [N,4] x1,y1,x2,y2 boxes, as the reference computes it (no +1)."""
    x1, y1, x2, y2 = tf.unstack(boxes, axis=1)
    area = (x2 - x1) * (y2 - y1)
    iw = tf.maximum(0.0, tf.minimum(x2[:, None], x2[None, :]) - tf.maximum(x1[:, None], x1[None, :]))
    ih = tf.maximum(0.0, tf.minimum(y2[:, None], y2[None, :]) - tf.maximum(y1[:, None], y1[None, :]))
    inter = iw * ih
    if over_min_area:
        return inter / tf.minimum(area[:, None], area[None, :])
    return inter / (area[:, None] + area[None, :] - inter)


def _sort_by_score(boxes, scores, *extra):
    order = tf.argsort(scores, direction="DESCENDING", stable=True)
    return (tf.gather(boxes, order), tf.gather(scores, order)) + tuple(tf.gather(e, order) for e in extra)


def _nms(boxes, scores, threshold, *extra, over_min_area=False):
    """The reference's NMS on score-sorted boxes: a box is dropped when any higher-scored
    box overlaps it above `threshold`, even one that was itself dropped (not greedy NMS)."""
    n = tf.shape(boxes)[0]
    earlier = tf.linalg.band_part(tf.ones([n, n]), 0, -1) - tf.linalg.band_part(tf.ones([n, n]), 0, 0)
    overlapped = tf.reduce_any((_iou(boxes, over_min_area) > threshold) & (earlier > 0.5), axis=0)
    keep = tf.where(~overlapped)[:, 0]
    return (tf.gather(boxes, keep), tf.gather(scores, keep)) + tuple(tf.gather(e, keep) for e in extra)


def _square(boxes):
    x1, y1, x2, y2 = tf.unstack(boxes, axis=1)
    w, h = x2 - x1, y2 - y1
    side = tf.maximum(w, h)
    x1 = x1 + w * 0.5 - side * 0.5
    y1 = y1 + h * 0.5 - side * 0.5
    return tf.stack([x1, y1, x1 + side, y1 + side], axis=1)


def _refine(boxes, offsets):
    """Box regression: offsets are in units of the box size (+1, as in the reference)."""
    w = boxes[:, 2] - boxes[:, 0] + 1.0
    h = boxes[:, 3] - boxes[:, 1] + 1.0
    return boxes + offsets * tf.stack([w, h, w, h], axis=1)


class MtcnnModule(tf.Module):
    def __init__(self, pnet, rnet, onet):
        super().__init__(name="mtcnn")
        check_shapes("P-Net", pnet, PNET_SHAPES)
        check_shapes("R-Net", rnet, RNET_SHAPES)
        check_shapes("O-Net", onet, ONET_SHAPES)
        self.pnet_w = [tf.Variable(w, trainable=False) for w in pnet]
        self.rnet_w = [tf.Variable(w, trainable=False) for w in rnet]
        self.onet_w = [tf.Variable(w, trainable=False) for w in onet]

    # --- the three networks -------------------------------------------------------------
    def pnet(self, x):
        w = self.pnet_w
        x = _pool(_prelu(_conv(x, w[0], w[1]), w[2]), 2, "SAME")
        x = _prelu(_conv(x, w[3], w[4]), w[5])
        x = _prelu(_conv(x, w[6], w[7]), w[8])
        return _conv(x, w[9], w[10]), tf.nn.softmax(_conv(x, w[11], w[12]))

    def rnet(self, x):
        w = self.rnet_w
        x = _pool(_prelu(_conv(x, w[0], w[1]), w[2]), 3, "SAME")
        x = _pool(_prelu(_conv(x, w[3], w[4]), w[5]), 3, "VALID")
        x = _prelu(_conv(x, w[6], w[7]), w[8])
        x = _prelu(tf.matmul(_flatten_like_keras(x), w[9]) + w[10], w[11])
        return tf.matmul(x, w[12]) + w[13], tf.nn.softmax(tf.matmul(x, w[14]) + w[15])

    def onet(self, x):
        w = self.onet_w
        x = _pool(_prelu(_conv(x, w[0], w[1]), w[2]), 3, "SAME")
        x = _pool(_prelu(_conv(x, w[3], w[4]), w[5]), 3, "VALID")
        x = _pool(_prelu(_conv(x, w[6], w[7]), w[8]), 2, "SAME")
        x = _prelu(_conv(x, w[9], w[10]), w[11])
        x = _prelu(tf.matmul(_flatten_like_keras(x), w[12]) + w[13], w[14])
        return (tf.matmul(x, w[15]) + w[16], tf.matmul(x, w[17]) + w[18],
                tf.nn.softmax(tf.matmul(x, w[19]) + w[20]))

    # --- the cascade --------------------------------------------------------------------
    def _pyramid_scales(self, height, width, min_size, factor):
        """Scales as the reference builds them (float64), minus levels under 12 px."""
        min_dim = tf.cast(tf.minimum(height, width), tf.float64)
        factor = tf.cast(factor, tf.float64)
        count = tf.cast(tf.round(-(tf.math.log(min_dim / CELL) / tf.math.log(factor) + 1.0)), tf.int32)
        scales = (CELL / tf.cast(min_size, tf.float64)) * factor ** tf.cast(tf.range(tf.maximum(count, 0)), tf.float64)
        level_min = tf.floor(min_dim * scales)
        return tf.boolean_mask(scales, level_min >= CELL)

    def _pnet_level(self, image, scale, threshold):
        shape = tf.cast(tf.shape(image)[:2], tf.float64)
        size = tf.cast(tf.floor(shape * scale), tf.int32)
        level = tf.image.resize(image[None], size, method="area")
        offsets, probs = self.pnet(level)
        probs = probs[0, :, :, 1]
        cells = tf.where(probs > threshold)
        scores = tf.gather_nd(probs, cells)
        r = tf.gather_nd(offsets[0], cells)
        y = tf.cast(cells[:, 0], tf.float32) * STRIDE
        x = tf.cast(cells[:, 1], tf.float32) * STRIDE
        span = CELL - 1.0
        boxes = tf.stack([x + 1.0 + r[:, 0] * span, y + 1.0 + r[:, 1] * span,
                          x + CELL + r[:, 2] * span, y + CELL + r[:, 3] * span], axis=1)
        boxes = boxes / tf.cast(scale, tf.float32)
        boxes, scores = _sort_by_score(boxes, scores)
        boxes, scores = _nms(boxes, scores, PNET_NMS)
        return tf.concat([boxes, scores[:, None]], axis=1)

    def _proposals(self, image, min_size, factor, threshold):
        scales = self._pyramid_scales(tf.shape(image)[0], tf.shape(image)[1], min_size, factor)

        def body(i, found):
            return i + 1, tf.concat([found, self._pnet_level(image, scales[i], threshold)], axis=0)

        _, found = tf.while_loop(
            lambda i, _: i < tf.shape(scales)[0], body, [tf.constant(0), tf.zeros([0, 5])],
            shape_invariants=[tf.TensorShape([]), tf.TensorShape([None, 5])])
        boxes, scores = _sort_by_score(found[:, :4], found[:, 4])
        boxes, scores = _nms(boxes, scores, PYRAMID_NMS)
        return _square(boxes)

    @staticmethod
    def _patches(image, boxes, size):
        hw = tf.cast(tf.shape(image)[:2], tf.float32)
        norm = tf.stack([boxes[:, 1] / hw[0], boxes[:, 0] / hw[1], boxes[:, 3] / hw[0], boxes[:, 2] / hw[1]], axis=1)
        return tf.image.crop_and_resize(image[None], norm, tf.zeros([tf.shape(boxes)[0]], tf.int32), [size, size])

    def _rnet_stage(self, image, boxes, threshold):
        offsets, probs = self.rnet(self._patches(image, boxes, 24))
        boxes, scores = _refine(boxes, offsets), probs[:, 1]
        keep = scores > threshold
        boxes, scores = _sort_by_score(tf.boolean_mask(boxes, keep), tf.boolean_mask(scores, keep))
        boxes, _ = _nms(boxes, scores, RNET_NMS)
        return _square(boxes)

    def _onet_stage(self, image, boxes, threshold):
        offsets, marks, probs = self.onet(self._patches(image, boxes, 48))
        # Landmarks are relative to the box O-Net was given, before its own regression.
        w = boxes[:, 2:3] - boxes[:, 0:1] + 1.0
        h = boxes[:, 3:4] - boxes[:, 1:2] + 1.0
        landmarks = tf.stack([w * marks[:, 0:5] + boxes[:, 0:1] - 1.0,
                              h * marks[:, 5:10] + boxes[:, 1:2] - 1.0], axis=-1)
        boxes, scores = _refine(boxes, offsets), probs[:, 1]
        keep = scores > threshold
        boxes, scores, landmarks = _sort_by_score(tf.boolean_mask(boxes, keep), tf.boolean_mask(scores, keep),
                                                  tf.boolean_mask(landmarks, keep))
        return _nms(boxes, scores, ONET_NMS, landmarks, over_min_area=True)

    @tf.function(input_signature=INPUT_SIGNATURE)
    def detect(self, image, min_size, thresholds, factor):
        min_size = tf.maximum(min_size, CELL)
        factor = tf.clip_by_value(factor, 0.5, 0.9)
        normalized = (tf.cast(image, tf.float32) - 127.5) / 128.0
        empty = (tf.zeros([0, 4]), tf.zeros([0]), tf.zeros([0, 5, 2]))

        boxes = self._proposals(normalized, min_size, factor, thresholds[0])
        # An empty batch through the convolutions misbehaves on CPU: skip the later stages.
        boxes = tf.cond(tf.shape(boxes)[0] > 0,
                        lambda: self._rnet_stage(normalized, boxes, thresholds[1]), lambda: empty[0])
        boxes, scores, landmarks = tf.cond(tf.shape(boxes)[0] > 0,
                                           lambda: self._onet_stage(normalized, boxes, thresholds[2]),
                                           lambda: empty)
        hw = tf.cast(tf.shape(image)[:2], tf.float32)
        limit = tf.stack([hw[1], hw[0], hw[1], hw[0]]) - 1.0
        boxes = tf.clip_by_value(boxes, 0.0, limit)
        return {"boxes": boxes, "scores": scores, "landmarks": landmarks}
