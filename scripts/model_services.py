"""The stand-in's gRPC services (scripts/serve_models.py): TF Serving's PredictionService.Predict
and GetModelMetadata and ModelService.GetModelStatus over the SavedModels it loads. Imports
TensorFlow: serve_models imports this once TensorFlow's settings are made (serving_tensorflow)."""
import logging
from collections.abc import Iterable
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    status_pb2,
)

from app.model_clients.grpc_model import CHANNEL_OPTIONS
from app.model_clients.savedmodel import (
    SERVING_SIGNATURE,
    latest_version,
    load_savedmodel,
    signature_mismatch,
    warmup_requests,
)
from scripts.batching import Batcher

log = logging.getLogger("serve_models")


class ServedModel:
    def __init__(self, name, base):
        self.name = name
        self.version = latest_version(base)
        self.path = Path(base) / str(self.version)
        self.loaded = load_savedmodel(self.path)
        self.signatures = dict(self.loaded.signatures)
        meta = saved_model_pb2.SavedModel.FromString((self.path / "saved_model.pb").read_bytes())
        self.signature_defs = meta.meta_graphs[0].signature_def
        self.batcher = None

    def enable_batching(self, max_batch_size, timeout_s, threads):
        self.batcher = Batcher(lambda arrays: self._run(SERVING_SIGNATURE, arrays), max_batch_size, timeout_s, threads)

    def call(self, signature, arrays, timeout_s=None):
        """{name: ndarray} through a signature; the default one through the batcher when batching is on."""
        if self.batcher is not None and signature == SERVING_SIGNATURE:
            return self.batcher.submit(arrays, timeout_s)
        return self._run(signature, arrays)

    def _run(self, signature, arrays):
        outputs = self.signatures[signature](**{k: tf.constant(v) for k, v in arrays.items()})
        return {k: v.numpy() for k, v in outputs.items()}

    def warm_up(self, servicer):
        count = 0
        for request in warmup_requests(self.path):
            servicer.run(self, request)
            count += 1
        return count


class Aborted(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, models):
        self.models = models

    def find(self, spec):
        model = self.models.get(spec.name)
        wanted = spec.version.value if spec.HasField("version") else None
        if model is None or (wanted is not None and wanted != model.version):
            version = f"Specific({spec.name}, {wanted})" if wanted is not None else f"Latest({spec.name})"
            raise Aborted(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {version}")
        return model

    def run(self, model, request, timeout_s=None):
        name = request.model_spec.signature_name or SERVING_SIGNATURE
        fn = model.signatures.get(name)
        if fn is None:
            raise Aborted(grpc.StatusCode.FAILED_PRECONDITION,
                          f"Serving signature name: \"{name}\" not found in signature def")
        try:
            arrays = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
        except (TypeError, ValueError) as e:
            raise Aborted(grpc.StatusCode.INVALID_ARGUMENT, f"an input cannot be read: {e}") from None
        problem = signature_mismatch(fn.structured_input_signature[1], arrays)
        if problem:
            raise Aborted(grpc.StatusCode.INVALID_ARGUMENT, problem)
        try:
            outputs = model.call(name, arrays, timeout_s)
        except tf.errors.InvalidArgumentError as e:
            raise Aborted(grpc.StatusCode.INVALID_ARGUMENT, e.message) from None
        wanted = set(request.output_filter) or set(outputs)
        return {key: value for key, value in outputs.items() if key in wanted}

    def Predict(self, request, context):
        try:
            model = self.find(request.model_spec)
            outputs = self.run(model, request, context.time_remaining())
        except Aborted as e:
            context.abort(e.code, e.message)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = model.name
        response.model_spec.version.value = model.version
        response.model_spec.signature_name = request.model_spec.signature_name or SERVING_SIGNATURE
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response

    def GetModelMetadata(self, request, context):
        try:
            model = self.find(request.model_spec)
        except Aborted as e:
            context.abort(e.code, e.message)
        if list(request.metadata_field) != ["signature_def"]:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Metadata field signature_def is the only one supported")
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = model.name
        response.model_spec.version.value = model.version
        signatures = get_model_metadata_pb2.SignatureDefMap()
        for key, value in model.signature_defs.items():
            signatures.signature_def[key].CopyFrom(value)
        response.metadata["signature_def"].Pack(signatures)
        return response


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, models):
        self.models = models

    def GetModelStatus(self, request, context):
        model = self.models.get(request.model_spec.name)
        if model is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {request.model_spec.name}")
        response = get_model_status_pb2.GetModelStatusResponse()
        response.model_version_status.add(version=model.version,
                                          state=get_model_status_pb2.ModelVersionStatus.AVAILABLE,
                                          status=status_pb2.StatusProto())
        return response


def build_server(config: list[tuple[str, Path]], address: str, workers: int = 16,
                 batching: dict[str, Any] | None = None,
                 batching_models: Iterable[str] = ()) -> tuple[grpc.Server, dict[str, "ServedModel"]]:
    """A gRPC server at `address` serving each (name, base folder) of `config` (read_models_config).
    batching: the parameters of read_batching_config, applied to `batching_models` (models whose
    inputs all start with the batch dimension; MTCNN takes one frame per call)."""
    models = {name: ServedModel(name, base) for name, base in config}
    for name in batching_models if batching else ():
        models[name].enable_batching(**batching)
    predictions = PredictionServicer(models)
    for model in models.values():
        log.info("loaded %s version %d from %s (%d warm-up requests)", model.name, model.version,
                 model.path, model.warm_up(predictions))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), options=CHANNEL_OPTIONS)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(predictions, server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(models), server)
    if server.add_insecure_port(address) == 0:
        raise SystemExit(f"serve_models: cannot listen on {address}")
    return server, models
