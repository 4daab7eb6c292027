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
import os
import signal
import sys
from pathlib import Path

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from app.model_clients.savedmodel import onednn_enabled, serving_tensorflow
from scripts.batching import read_batching_config
from scripts.export_models import MODELS
from scripts.processes import free_port, start_process

log = logging.getLogger("serve_models")
ROOT = Path(__file__).resolve().parent.parent


def read_models_config(path):
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(Path(path).read_text(), config)
    for entry in config.model_config_list.config:
        base = Path(entry.base_path)
        yield entry.name, base if base.is_dir() else Path(path).parent / entry.name


def model_addresses(addr: str) -> dict[str, str]:
    """Settings that send every model to one server at `addr` (this stand-in serves them all)."""
    return {f"{m}_addr": addr for m in MODELS}


def spawn(port=None, config=None, timeout_s=300.0, log_file=None, batching=False, batching_file=None,
          intra_op_threads=0, env: dict[str, str] | None = None):
    """Start this stand-in in a child process; returns (process, "127.0.0.1:port") once it
    reports every model of its config AVAILABLE (seven models with their warm-ups: minutes on
    busy shared cores). `env`: variables set for it (e.g. TF_ENABLE_ONEDNN_OPTS) over this
    process's. Used by the tests, the benchmarks and scripts/run.sh."""
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
                                cwd=ROOT, stdout=log_file or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})})
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
    parser.add_argument("--batching_models", default="facenet,sface,facenet_sface,dlib_sface",
                        help="comma-separated models to batch")
    # tensorflow_model_server's flags of the same names; 0: TensorFlow's default (one thread per core)
    parser.add_argument("--tensorflow_intra_op_parallelism", type=int, default=0,
                        help="threads one op may use (0: TensorFlow's default)")
    parser.add_argument("--tensorflow_inter_op_parallelism", type=int, default=0,
                        help="ops run at once (0: TensorFlow's default)")
    args = parser.parse_args(argv)
    if min(args.tensorflow_intra_op_parallelism, args.tensorflow_inter_op_parallelism) < 0:
        parser.error("thread counts are 0 (TensorFlow's default) or more")
    tf = serving_tensorflow()   # its settings before anything imports TensorFlow (model_services does)
    from scripts.model_services import build_server

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
    server, models = build_server(list(read_models_config(args.config)), f"{args.host}:{args.port}", args.workers,
                                  batching, [m for m in args.batching_models.split(",") if m])
    server.start()
    threads, onednn = tf.config.threading, {True: "on", False: "off", None: "unknown"}[onednn_enabled()]
    log.info("serving %s on %s:%d; TensorFlow's intra-op threads %d, inter-op threads %d (0: TensorFlow's default), "
             "oneDNN %s", ", ".join(models), args.host, args.port, threads.get_intra_op_parallelism_threads(),
             threads.get_inter_op_parallelism_threads(), onednn)
    signal.signal(signal.SIGTERM, lambda *_: server.stop(grace=2))
    server.wait_for_termination()


if __name__ == "__main__":
    main()
