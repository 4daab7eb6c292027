"""A small stand-in for tensorflow_model_server: the same gRPC API over the same SavedModels.

    python -m scripts.serve_models [--config serving_models/models.config] [--port 8500]

Implements PredictionService.Predict and GetModelMetadata and ModelService.GetModelStatus,
reading the models.config that TF Serving reads, so the app (and its readiness checks)
cannot tell the difference. It exists because the real server cannot be installed on the
development machines; production runs the TensorFlow Serving image (Dockerfile.*serving-gpu).
A base_path that does not exist here (/models/<name> in the containers) is looked up as
<name> beside models.config. Warm-up requests in assets.extra are replayed at load, as TF
Serving does.
"""
import argparse
import logging
import signal
import sys
from concurrent import futures
from pathlib import Path

import grpc
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    status_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

from app.model_clients.grpc_model import CHANNEL_OPTIONS
from app.model_clients.savedmodel import (
    SERVING_SIGNATURE,
    latest_version,
    load_savedmodel,
    signature_mismatch,
    warmup_requests,
)
from scripts.batching import Batcher, read_batching_config
from scripts.export_models import MODELS
from scripts.processes import free_port, start_process

log = logging.getLogger("serve_models")
ROOT = Path(__file__).resolve().parent.parent


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


def read_models_config(path):
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(Path(path).read_text(), config)
    for entry in config.model_config_list.config:
        base = Path(entry.base_path)
        yield entry.name, base if base.is_dir() else Path(path).parent / entry.name


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


def build_server(config, address, workers=16, batching=None, batching_models=()):
    """batching: the parameters of read_batching_config, applied to `batching_models` (models
    whose inputs all start with the batch dimension; MTCNN takes one frame per call)."""
    models = {name: ServedModel(name, base) for name, base in read_models_config(config)}
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


def model_addresses(addr: str) -> dict[str, str]:
    """Settings that send every model to one server at `addr` (this stand-in serves them all)."""
    return {f"{m}_addr": addr for m in MODELS}


def spawn(port=None, config=None, timeout_s=300.0, log_file=None, batching=False, batching_file=None,
          intra_op_threads=0):
    """Start this stand-in in a child process; returns (process, "127.0.0.1:port") once it
    reports every model of its config AVAILABLE (six models with their warm-ups: minutes on
    busy shared cores). Used by the tests, the benchmarks and scripts/run.sh."""
    import subprocess

    from app.model_clients.grpc_model import GrpcModel, model_channel

    port = port or free_port()
    cmd = [sys.executable, "-m", "scripts.serve_models", "--port", str(port)]
    if config:
        cmd += ["--config", str(config)]
    if batching:
        cmd += ["--enable_batching"]
    if batching_file:
        cmd += ["--batching_parameters_file", str(batching_file)]
    if intra_op_threads:
        cmd += ["--tensorflow_intra_op_parallelism", str(intra_op_threads)]
    addr = f"127.0.0.1:{port}"
    channel = model_channel(addr, retries=0)
    models = [GrpcModel(name, addr, channel, timeout_s=1.0) for name, _ in read_models_config(
        config or ROOT / "serving_models" / "models.config")]
    try:
        process = start_process(cmd, lambda: all(m.ready() for m in models), timeout_s, f"the model server on {addr}",
                                cwd=ROOT, stdout=log_file or subprocess.DEVNULL, stderr=subprocess.STDOUT)
    finally:
        channel.close()
    return process, addr


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "serving_models" / "models.config"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8500)
    parser.add_argument("--workers", type=int, default=16, help="gRPC handler threads")
    parser.add_argument("--enable_batching", action="store_true", help="batch concurrent calls, as TF Serving")
    parser.add_argument("--batching_parameters_file", default=str(ROOT / "serving_models" / "batching.config"))
    parser.add_argument("--batching_models", default="facenet,sface,facenet_sface",
                        help="comma-separated models to batch")
    # tensorflow_model_server's flags of the same names; 0: TensorFlow's default (one thread per core)
    parser.add_argument("--tensorflow_intra_op_parallelism", type=int, default=0,
                        help="threads one op may use (0: TensorFlow's default)")
    parser.add_argument("--tensorflow_inter_op_parallelism", type=int, default=0,
                        help="ops run at once (0: TensorFlow's default)")
    args = parser.parse_args(argv)
    if min(args.tensorflow_intra_op_parallelism, args.tensorflow_inter_op_parallelism) < 0:
        parser.error("thread counts are 0 (TensorFlow's default) or more")
    # before any model loads: TensorFlow fixes its thread pools when it first runs anything. Left
    # at 0, TensorFlow's own default (or TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS) holds.
    if args.tensorflow_intra_op_parallelism:
        tf.config.threading.set_intra_op_parallelism_threads(args.tensorflow_intra_op_parallelism)
    if args.tensorflow_inter_op_parallelism:
        tf.config.threading.set_inter_op_parallelism_threads(args.tensorflow_inter_op_parallelism)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not Path(args.config).exists():
        sys.exit(f"serve_models: {args.config} not found: run python -m scripts.export_models first")
    batching = read_batching_config(args.batching_parameters_file) if args.enable_batching else None
    server, models = build_server(args.config, f"{args.host}:{args.port}", args.workers, batching,
                                  [m for m in args.batching_models.split(",") if m])
    server.start()
    log.info("serving %s on %s:%d; TensorFlow's intra-op threads %d, inter-op threads %d (0: TensorFlow's default)",
             ", ".join(models), args.host, args.port, tf.config.threading.get_intra_op_parallelism_threads(),
             tf.config.threading.get_inter_op_parallelism_threads())
    signal.signal(signal.SIGTERM, lambda *_: server.stop(grace=2))
    server.wait_for_termination()


if __name__ == "__main__":
    main()
