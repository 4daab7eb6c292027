"""Calling a served model: `predict(inputs) -> outputs` with NumPy arrays on both sides.

Two backends with the same two methods, so the detector and embedder never know which:
- GrpcModel: TensorFlow Serving's PredictionService over gRPC (or scripts/serve_models.py),
  one channel per process and address, a deadline on every call, retries on UNAVAILABLE;
- LocalModel: the same SavedModel loaded in this process.
Failures of either become the app's ModelError subclasses with a message naming the model.
"""
import os
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from app.errors import ModelBadInput, ModelError, ModelNotFound, ModelTimeout, ModelUnavailable

SIGNATURE = "serving_default"
# Frames can be larger than gRPC's 4 MB default; TF Serving accepts up to 2 GB.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
CHANNEL_OPTIONS = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
# After a model server restarts, reconnect within ~2 s (gRPC's default backoff grows to 120 s).
RECONNECT_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.min_reconnect_backoff_ms", 200),
                     ("grpc.max_reconnect_backoff_ms", 2000)]

_channels = {}
_channels_pid = None
_channels_lock = threading.Lock()


def channel_for(addr):
    """One channel per address and process: Gunicorn forks workers, and a gRPC channel
    must not cross a fork."""
    global _channels_pid
    with _channels_lock:
        if _channels_pid != os.getpid():
            _channels.clear()
            _channels_pid = os.getpid()
        if addr not in _channels:
            _channels[addr] = grpc.insecure_channel(addr, options=CHANNEL_OPTIONS + RECONNECT_OPTIONS)
        return _channels[addr]


class GrpcModel:
    def __init__(self, name, addr, timeout_s=5.0, retries=2, backoff_s=0.05):
        self.name, self.addr = name, addr
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self._predict = prediction_service_pb2_grpc.PredictionServiceStub(channel_for(addr))
        self._status = model_service_pb2_grpc.ModelServiceStub(channel_for(addr))

    def predict(self, inputs):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.name
        request.model_spec.signature_name = SIGNATURE
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
        response = self._call(self._predict.Predict, request)
        return {key: tf.make_ndarray(proto) for key, proto in response.outputs.items()}

    def ready(self):
        """True when the server reports an AVAILABLE version of this model; raises otherwise."""
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = self.name
        response = self._call(self._status.GetModelStatus, request)
        available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
        if not any(v.state == available for v in response.model_version_status):
            raise ModelUnavailable(self.name, f"model '{self.name}' at {self.addr} has no version loaded yet")
        return True

    def _call(self, method, request):
        """The whole call, retries included, stays within timeout_s."""
        deadline = time.monotonic() + self.timeout_s
        attempt = 0
        while True:
            try:
                return method(request, timeout=max(deadline - time.monotonic(), 0.001))
            except grpc.RpcError as e:
                pause = self.backoff_s * 2 ** attempt
                if (e.code() == grpc.StatusCode.UNAVAILABLE and attempt < self.retries
                        and time.monotonic() + pause < deadline):
                    time.sleep(pause)
                    attempt += 1
                    continue
                raise self._error(e) from None

    def _error(self, e):
        code, details = e.code(), e.details()
        where = f"model '{self.name}' at {self.addr}"
        if code == grpc.StatusCode.UNAVAILABLE:
            return ModelUnavailable(self.name, f"{where} is unreachable: {details}")
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return ModelTimeout(self.name, f"{where} did not answer within {self.timeout_s} s")
        if code == grpc.StatusCode.NOT_FOUND:
            return ModelNotFound(self.name, f"the server at {self.addr} does not serve model "
                                            f"'{self.name}': {details}")
        if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
            return ModelBadInput(self.name, f"{where} refused its input: {details}")
        return ModelError(self.name, f"{where} failed ({code.name}): {details}")


def signature_mismatch(specs, inputs):
    """Why `inputs` {name: ndarray} do not fit the signature's {name: TensorSpec}, or None.
    Both backends check this, so they refuse exactly the same tensors."""
    if set(inputs) != set(specs):
        return f"expected inputs {sorted(specs)}, got {sorted(inputs)}"
    for key, spec in specs.items():
        value = inputs[key]
        if tf.as_dtype(value.dtype) != spec.dtype or not spec.shape.is_compatible_with(value.shape):
            return (f"input '{key}' is {value.dtype.name}{list(value.shape)}, the signature "
                    f"expects {spec.dtype.name}{spec.shape.as_list()}")
    return None


def warmup_requests(version_dir):
    """The PredictRequests TF Serving replays at load (assets.extra/tf_serving_warmup_requests)."""
    from tensorflow_serving.apis import prediction_log_pb2

    records = Path(version_dir) / "assets.extra" / "tf_serving_warmup_requests"
    if records.exists():
        for raw in tf.data.TFRecordDataset(str(records)):
            yield prediction_log_pb2.PredictionLog.FromString(raw.numpy()).predict_log.request


def latest_version(base):
    versions = [int(p.name) for p in Path(base).iterdir() if p.is_dir() and p.name.isdigit()]
    if not versions:
        raise FileNotFoundError(f"{base} holds no numbered version folder")
    return max(versions)


class LocalModel:
    """The SavedModel under model_dir/name/<latest version>, run in-process."""

    def __init__(self, name, model_dir):
        self.name = name
        base = Path(model_dir) / name
        try:
            self.version = latest_version(base)
        except FileNotFoundError as e:
            raise ModelNotFound(name, f"model '{name}' is not exported ({e}): "
                                      f"run python -m scripts.export_models") from None
        self._loaded = tf.saved_model.load(str(base / str(self.version)))
        self._fn = self._loaded.signatures[SIGNATURE]
        for request in warmup_requests(base / str(self.version)):  # trace the graph now, not on a request
            self.predict({key: tf.make_ndarray(value) for key, value in request.inputs.items()})

    def predict(self, inputs):
        inputs = {key: np.asarray(value) for key, value in inputs.items()}
        problem = signature_mismatch(self._fn.structured_input_signature[1], inputs)
        if problem:
            raise ModelBadInput(self.name, f"model '{self.name}' refused its input: {problem}")
        try:
            outputs = self._fn(**{key: tf.constant(value) for key, value in inputs.items()})
        except tf.errors.InvalidArgumentError as e:
            raise ModelBadInput(self.name, f"model '{self.name}' refused its input: {e}") from None
        return {key: value.numpy() for key, value in outputs.items()}

    def ready(self):
        return True


def open_model(settings, name):
    """The backend the settings choose for model `name` ("mtcnn" or "facenet")."""
    if settings.model_backend == "local":
        return LocalModel(name, settings.model_dir)
    addr = {"mtcnn": settings.mtcnn_addr, "facenet": settings.facenet_addr}[name]
    return GrpcModel(name, addr, settings.grpc_timeout_s, settings.grpc_retries)
