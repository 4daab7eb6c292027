"""The fixtures both tiers see. Session-wide real parts for tests/integration: the exported
models, one model server (the gRPC stand-in), one Redis and the pipelines over each backend,
loaded once per test session. Everything heavy is imported inside its fixture, so that
tests/unit (no service at all: tests/unit_guard.py) loads none of it."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ info and cost-model chatter
# as the server runs models (app/model_clients/savedmodel.py, ONEDNN), before any test module
# imports TensorFlow: TensorFlow reads it once, as it is imported
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import pytest  # noqa: E402

from config import load_settings  # noqa: E402
from scripts.pypi_assets import ROOT, celebrity_dataset  # noqa: E402

pytest_plugins = ["unit_guard"]   # tests/unit runs with no service (tests/unit_guard.py)

MODEL_DIR = ROOT / "serving_models"


def model_settings(addr):
    """Every model at the model server `addr`."""
    from scripts.serve_models import model_addresses
    return model_addresses(addr)


def app_values(redis_url: str, model_addr: str, prefix: str, cache: str | None = None, **overrides) -> dict:
    """The settings of a test's app: the real Redis under its own key `prefix`, every model over
    gRPC at `model_addr`, gallery snapshots in `cache` (the session's folder, not the system's)."""
    cache = {"gallery_cache_dir": cache} if cache else {}
    return {"model_backend": "grpc", **model_settings(model_addr), "redis_url": redis_url, "redis_prefix": prefix,
            **cache, **overrides}


def as_env(values: dict) -> dict[str, str]:
    """Settings as the environment of a Gunicorn."""
    return {name.upper(): str(value) for name, value in values.items()}


@pytest.fixture(scope="session")
def exported():
    """The SavedModels, exported if missing (a no-op when manifest.json is up to date)."""
    from scripts.export_models import export
    export(MODEL_DIR, log=lambda *_: None)
    return MODEL_DIR


@pytest.fixture(scope="session")
def celebrities():
    return celebrity_dataset()


@pytest.fixture(scope="session")
def zoo_reference(tmp_path_factory):
    """OpenCV's FaceDetectorYN and FaceRecognizerSF on the ONNX files YuNet and SFace come from."""
    from zoo_reference import ZooReference
    return ZooReference(tmp_path_factory.mktemp("zoo"))


@pytest.fixture(scope="session")
def celebrity_photos(celebrities):
    """The 118 5-celebrity photos as RGB arrays, sorted by path."""
    import cv2
    files = sorted(celebrities.glob("*/*/*.jpg"))
    assert len(files) == 118
    return [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]


@pytest.fixture(scope="session")
def model_server(exported, tmp_path_factory):
    """scripts/serve_models.py on a free loopback port; yields its address."""
    from scripts.serve_models import spawn

    log = open(tmp_path_factory.mktemp("model-server") / "serve.log", "w")
    process, addr = spawn(log_file=log)
    yield addr
    process.terminate()
    process.wait(timeout=30)
    log.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    from servers import RedisServer
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A real mosquitto for a test module (its own port and folder)."""
    from servers import Broker
    server = Broker(tmp_path_factory.mktemp("mosquitto")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gallery_cache(tmp_path_factory):
    """The gallery snapshot folder of every app the tests make (not the system's temp dir)."""
    return str(tmp_path_factory.mktemp("gallery-cache"))


@pytest.fixture
def server_settings(redis_server, model_server, gallery_cache):
    """Settings for an app on the real Redis and the real models over gRPC; each test gets
    its own key prefix, so tests share one Redis without seeing each other's gallery."""
    import uuid

    def make(**overrides):
        return load_settings(**{**app_values(redis_server.url, model_server, f"test-{uuid.uuid4().hex[:8]}:",
                                             gallery_cache), **overrides})
    return make


def stop_app(app):
    """Stop the background threads of an app a test made (housekeeping, gallery maintenance),
    so that none outlives the Redis it talks to."""
    app.extensions["facerec"].close()


@pytest.fixture(scope="module")
def module_app(request, redis_server, model_server, gallery_cache):
    """An app for a whole test module (its own gRPC channels with a 20 s deadline, its own key
    prefix), for module-scoped fixtures, which make_app's per-test apps cannot serve."""
    import uuid

    from app import create_app
    prefix = f"{request.module.__name__}-{uuid.uuid4().hex[:8]}:"
    app = create_app(load_settings(**app_values(redis_server.url, model_server, prefix, gallery_cache,
                                                grpc_timeout_s=20)))
    yield app
    stop_app(app)


@pytest.fixture
def make_app(server_settings, grpc_pipeline):
    """make(**settings) -> a Flask app; its background threads are stopped after the test."""
    from app import create_app
    apps = []

    def make(**overrides):
        # the session's gRPC pipeline, which the factory uses when the settings describe it
        apps.append(create_app(server_settings(**overrides), pipeline=grpc_pipeline))
        return apps[-1]
    yield make
    for app in apps:
        stop_app(app)


@pytest.fixture
def make_client(make_app):
    def make(**overrides):
        return make_app(**overrides).test_client()
    return make


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def api(request):
    """The native API as tests/api_client.py speaks it: api.enroll(name, *images, **fields),
    api.recognize(image, **fields), api.people(), ... each answering a Reply whose
    expect(status) gives the JSON. Over the test's `client` (made when first used);
    api.of(another client or a URL) for another app."""
    from api_client import Api
    return Api(lambda: request.getfixturevalue("client"))


class LiveServer:
    """The app on a real loopback HTTP port in a thread (werkzeug), for clients that need a
    URL (the CLI, the browser) without Gunicorn's start-up time."""

    def __init__(self, app):
        import threading

        from werkzeug.serving import make_server
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.app = app
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(make_app):
    """make(**settings) -> LiveServer; stopped after the test."""
    servers = []

    def make(**overrides):
        servers.append(LiveServer(make_app(**overrides)))
        return servers[-1]
    yield make
    for server in servers:
        server.stop()


class GunicornServer:
    """The real server: Gunicorn with the app factory, on a free loopback port."""

    def __init__(self, env, folder, workers=2):
        from scripts.processes import free_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "WORKER_HEADER": "1", **env, "BIND": f"127.0.0.1:{self.port}",
                    "WEB_CONCURRENCY": str(workers),
                    "PROMETHEUS_MULTIPROC_DIR": str(folder)}
        self.log = open(folder.parent / f"gunicorn-{self.port}.log", "w")
        self.process = None

    def start(self, timeout_s=120, ready_path="/readyz"):
        """Returned once `ready_path` answers 200 (/healthz: a server whose Redis is away on purpose)."""
        import subprocess
        import sys

        from scripts.processes import http_answers, start_process
        self.process = start_process(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "app:create_app()"],
            lambda: http_answers(self.url + ready_path), timeout_s, f"gunicorn (see {self.log.name})",
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)
        self.log.close()


@pytest.fixture(scope="module")
def gunicorn_server(redis_server, model_server, tmp_path_factory, gallery_cache):
    import uuid
    env = as_env(app_values(redis_server.url, model_server, f"gunicorn-{uuid.uuid4().hex[:8]}:", gallery_cache))
    server = GunicornServer(env, tmp_path_factory.mktemp("metrics")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def local_pipeline(exported):
    from app.pipeline import build_pipeline
    return build_pipeline(load_settings(model_backend="local", model_dir=exported))


@pytest.fixture(scope="session")
def embedding_networks(exported):
    """{"facenet": ..., "sface": ...}: each embedding network on its own, in-process (the default
    fused embedder runs both in one graph, which has no per-network embed())."""
    from app.pipeline import build_pipeline
    pipeline = build_pipeline(load_settings(model_backend="local", model_dir=exported, fused_graph=False))
    return {n.name: n for n in pipeline.embedder.networks}


@pytest.fixture(scope="session")
def grpc_pipeline(model_server):
    from app.pipeline import build_pipeline
    return build_pipeline(load_settings(model_backend="grpc", **model_settings(model_server)))
