"""NumPy arrays <-> TensorFlow's TensorProto, as tf.make_tensor_proto and tf.make_ndarray do it,
without TensorFlow (tests/test_wire.py compares the bytes with TensorFlow's for every dtype
and shape the models take and give).

Written here rather than imported: the only library doing this is TensorFlow itself."""
from typing import Any

import numpy as np

# DataType enum value: (NumPy dtype, the typed field of values that are not sent as raw bytes)
DTYPES = {1: (np.float32, "float_val"), 2: (np.float64, "double_val"), 3: (np.int32, "int_val"),
          4: (np.uint8, "int_val"), 5: (np.int16, "int_val"), 6: (np.int8, "int_val"),
          9: (np.int64, "int64_val"), 10: (np.bool_, "bool_val"), 17: (np.uint16, "int_val"),
          19: (np.float16, "half_val"), 22: (np.uint32, "uint32_val"), 23: (np.uint64, "uint64_val")}
ENUMS = {np.dtype(dtype): enum for enum, (dtype, _) in DTYPES.items()}
# TensorFlow sends these as tensor_content when a tensor holds more than one value; bool and
# uint16 always go in their typed field (tensor_util._TENSOR_CONTENT_TYPES).
RAW_BYTES = {1, 2, 3, 4, 5, 6, 9, 19, 22, 23}


def tensor_proto(array: np.ndarray, message: Any) -> Any:
    """`array` as a TensorProto (`message` is the class), byte for byte tf.make_tensor_proto's."""
    array = np.asarray(array)
    enum = ENUMS.get(array.dtype)
    if enum is None:
        raise TypeError(f"no TensorProto dtype for {array.dtype}")
    proto = message(dtype=enum, tensor_shape={"dim": [{"size": d} for d in array.shape]})
    if enum in RAW_BYTES and array.size > 1:
        proto.tensor_content = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
    elif enum == 19:  # float16 travels as its bit pattern in an int32 field
        proto.half_val.extend(array.reshape(-1).view(np.uint16).tolist())
    else:
        getattr(proto, DTYPES[enum][1]).extend(array.reshape(-1).tolist())
    return proto


def ndarray(proto: Any) -> np.ndarray:
    """The array a TensorProto holds, as tf.make_ndarray reads it: raw bytes or typed values;
    fewer typed values than the shape holds repeat the last one (TF Serving's short form)."""
    if proto.dtype not in DTYPES:
        raise TypeError(f"unsupported TensorProto dtype {proto.dtype}")
    dtype, field = DTYPES[proto.dtype]
    shape = [d.size for d in proto.tensor_shape.dim]
    if proto.tensor_content:
        return np.frombuffer(proto.tensor_content, dtype=np.dtype(dtype).newbyteorder("<")) \
            .astype(dtype).reshape(shape)
    if proto.dtype == 19:
        values = np.array(proto.half_val, np.uint16).view(np.float16)
    else:
        values = np.array(getattr(proto, field), dtype)
    count = int(np.prod(shape, dtype=np.int64))
    if values.size == 0:
        return np.zeros(shape, dtype)
    if values.size != count:
        values = np.pad(values, (0, count - values.size), "edge")
    return values.reshape(shape)
