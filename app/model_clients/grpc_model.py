"""MODEL_BACKEND=grpc: TensorFlow Serving's PredictionService over gRPC (or the stand-in,
scripts/serve_models.py), as TF Serving's resnet_client_grpc.py does it: one channel per
address, a deadline on every call.

Retries are gRPC's own (the channel's service config: UNAVAILABLE only, exponential backoff),
so they stay inside the call's deadline; failures become the app's ModelError subclasses with
a message naming the model and the address.

The messages are our own wire-compatible subset of TF Serving's (serving_api.py): this module,
and so the API worker, never imports TensorFlow."""
import json
from collections.abc import Callable
from typing import Any

import grpc
import numpy as np

from app.errors import ModelBadInput, ModelError, ModelNotFound, ModelTimeout, ModelUnavailable
from app.model_clients.savedmodel import SERVING_SIGNATURE
from app.model_clients.serving_api import serving_api
from app.model_clients.tensors import ndarray, tensor_proto

# Frames can be larger than gRPC's 4 MB default; TF Serving accepts up to 2 GB.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
CHANNEL_OPTIONS = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
# After a model server restarts, reconnect within ~2 s (gRPC's default backoff grows to 120 s).
RECONNECT_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.min_reconnect_backoff_ms", 200),
                     ("grpc.max_reconnect_backoff_ms", 2000)]
SERVICES = ("tensorflow.serving.PredictionService", "tensorflow.serving.ModelService")


def retry_options(retries: int, initial_backoff_s: float = 0.05) -> list[tuple[str, object]]:
    """Channel options for gRPC's retry policy: `retries` more attempts on UNAVAILABLE only
    (a refused tensor or an unknown model would fail the same way again). gRPC allows at most
    5 attempts in all."""
    if retries == 0:
        return [("grpc.enable_retries", 0)]
    policy = {"maxAttempts": retries + 1, "initialBackoff": f"{initial_backoff_s}s", "maxBackoff": "1s",
              "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}
    config = {"methodConfig": [{"name": [{"service": s} for s in SERVICES], "retryPolicy": policy}]}
    # our policy, not one a DNS TXT record might supply
    return [("grpc.enable_retries", 1), ("grpc.service_config", json.dumps(config)),
            ("grpc.service_config_disable_resolution", 1)]


def model_channel(addr: str, retries: int = 2, initial_backoff_s: float = 0.05) -> grpc.Channel:
    """A channel to the model server at `addr`. Made per worker in the app factory: a gRPC
    channel must not cross Gunicorn's fork."""
    return grpc.insecure_channel(addr, options=CHANNEL_OPTIONS + RECONNECT_OPTIONS
                                 + retry_options(retries, initial_backoff_s))


class ModelChannels:
    """This worker's channels, one per model-server address (MTCNN and FaceNet on one server share one)."""

    def __init__(self, retries: int):
        self.retries = retries
        self._channels: dict[str, grpc.Channel] = {}

    def for_address(self, addr: str) -> grpc.Channel:
        if addr not in self._channels:
            self._channels[addr] = model_channel(addr, self.retries)
        return self._channels[addr]

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()


class GrpcModel:
    def __init__(self, name: str, addr: str, channel: grpc.Channel | None = None, timeout_s: float = 5.0):
        self.name, self.addr, self.timeout_s = name, addr, timeout_s
        channel = channel or model_channel(addr)
        self._api = api = serving_api()
        # what the generated stubs would do: one unary method per path
        self._predict = channel.unary_unary(api.predict_path, request_serializer=api.PredictRequest.SerializeToString,
                                            response_deserializer=api.PredictResponse.FromString)
        self._status = channel.unary_unary(api.model_status_path,
                                           request_serializer=api.GetModelStatusRequest.SerializeToString,
                                           response_deserializer=api.GetModelStatusResponse.FromString)

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        request = self._api.PredictRequest(model_spec={"name": self.name, "signature_name": SERVING_SIGNATURE})
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tensor_proto(value, self._api.TensorProto))
        response = self._call(self._predict, request)
        return {key: ndarray(proto) for key, proto in response.outputs.items()}

    def ready(self) -> bool:
        """True when the server reports an AVAILABLE version of this model; raises otherwise."""
        request = self._api.GetModelStatusRequest(model_spec={"name": self.name})
        response = self._call(self._status, request)
        available = self._api.ModelVersionStatus.AVAILABLE
        if not any(v.state == available for v in response.model_version_status):
            raise ModelUnavailable(self.name, f"model '{self.name}' at {self.addr} has no version loaded yet")
        return True

    def _call(self, method: Callable[..., Any], request: Any) -> Any:
        try:
            return method(request, timeout=self.timeout_s)  # the deadline covers gRPC's retries too
        except grpc.RpcError as e:
            raise self._error(e) from None

    def _error(self, e: grpc.RpcError) -> ModelError:
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
