"""The int8 block-quantized weights of the OpenCV Zoo files, expanded to float32 with NumPy,
are the weights OpenCV itself computes with when it runs the quantized files as shipped."""
import cv2
import numpy as np
import onnx

from scripts.pypi_assets import SFACE_ONNX, YUNET_ONNX, zoo_model
from serving_models.onnx_weights import dequantize, float_model, load, weights


def test_block_dequantization_by_hand():
    q = np.array([[1, 2, 3, 4, 5], [0, 0, 0, 0, -128]], np.int8)
    scale = np.array([[0.5, 1.0, 2.0], [1.0, 1.0, 0.25]], np.float32)
    zero = np.array([[1, 0, 5], [0, 0, -128]], np.int8)
    expected = [[0.0, 0.5, 3.0, 4.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]]
    np.testing.assert_array_equal(dequantize(q, scale, zero, axis=1, block_size=2), expected)
    np.testing.assert_array_equal(dequantize(q.T, scale.T, zero.T, axis=0, block_size=2), np.array(expected).T)


def test_float_files_are_plain_float32_graphs():
    for name in (YUNET_ONNX, SFACE_ONNX):
        model = float_model(load(zoo_model(name)))
        assert not [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
        assert {onnx.helper.tensor_dtype_to_np_dtype(t.data_type) for t in model.graph.initializer} <= {
            np.dtype(np.float32), np.dtype(np.int64)}
        assert len(model.graph.input) == 1
    w = weights(load(zoo_model(SFACE_ONNX)))
    assert w["pre_fc1_weight_dequantized"].shape == (128, 50176) and w["pre_fc1_weight_dequantized"].dtype == np.float32


def test_opencv_on_the_files_as_shipped_agrees(zoo_reference, celebrity_photos):
    """OpenCV 5 runs the quantized files itself (its own DequantizeLinear): same detections to
    the last bit and the same embeddings as on our float32 expansion."""
    shipped = cv2.FaceDetectorYN.create(str(zoo_model(YUNET_ONNX)), "", (320, 320), 0.9, 0.3, 5000)
    net = cv2.dnn.readNetFromONNX(str(zoo_model(SFACE_ONNX)))  # several listed inputs: name "data"
    compared = 0
    for rgb in celebrity_photos[:30]:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        shipped.setInputSize((bgr.shape[1], bgr.shape[0]))
        theirs = shipped.detect(bgr)[1]
        ours = zoo_reference.detect(rgb)[3]
        assert len(ours) == (0 if theirs is None else len(theirs))
        if not len(ours):
            continue
        np.testing.assert_allclose(theirs, ours, atol=1e-4)
        aligned = zoo_reference.align(rgb, ours[0])
        net.setInput(cv2.dnn.blobFromImage(aligned, 1, (112, 112), (0, 0, 0), False, False), "data")
        a = net.forward().reshape(-1)
        b = zoo_reference.embed(aligned[None])[0]
        assert a @ b / np.linalg.norm(a) >= 0.99999
        compared += 1
    assert compared >= 25
