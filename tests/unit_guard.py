"""The unit tier (tests/unit) runs with no service at all: no Redis, no model server, no exported
models, no nginx, mosquitto, Chromium or podman (`pytest tests/unit`, under a minute). Enforced,
not hoped for: a test there that asks for a fixture of a real service fails, and so does one
that opens a network connection or starts a server process. A plugin of tests/conftest.py, not
a tests/unit/conftest.py: a second module named `conftest` would shadow the one the integration
tests import helpers from."""
import socket
import subprocess
from pathlib import Path

import pytest

# The roots every service fixture of tests/conftest.py stands on (app clients, live servers,
# Gunicorn, pipelines all need one of these).
SERVICE_FIXTURES = {"redis_server", "model_server", "exported", "grpc_pipeline", "local_pipeline", "module_app",
                    "gunicorn_server", "make_app", "live_server", "broker"}
UNIT = Path(__file__).parent / "unit"
SERVICE_PROGRAMS = {"redis-server", "mosquitto", "nginx", "chromium", "podman", "tensorflow_model_server",
                    "serve_models.py", "gunicorn"}


def _program_names(args) -> set[str]:
    args = [args] if isinstance(args, (str, bytes, Path)) else list(args)
    return {Path(str(a)).name for a in args[:4]}


def pytest_collection_modifyitems(config, items):
    """Checked when the tests are collected, before any session fixture could start a server."""
    here = UNIT
    wrong = [f"{item.nodeid} asks for {sorted(set(item.fixturenames) & SERVICE_FIXTURES)}" for item in items
             if here in item.path.parents and set(item.fixturenames) & SERVICE_FIXTURES]
    if wrong:
        raise pytest.UsageError("a unit test uses no service; move these to tests/integration:\n" + "\n".join(wrong))


@pytest.fixture(autouse=True)
def no_service(request, monkeypatch):
    if UNIT not in request.node.path.parents:
        return
    def refuse_connection(sock, address):
        raise AssertionError(f"a unit test opens no connection (tried {address!r}): move it to tests/integration")

    monkeypatch.setattr(socket.socket, "connect", refuse_connection)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse_connection)
    popen_init = subprocess.Popen.__init__

    def checked_popen(self, args, *rest, **kwargs):
        started = _program_names(args) & SERVICE_PROGRAMS
        # `gunicorn --check-config` only validates the configuration: it serves nothing
        if started and not ("gunicorn" in started and "--check-config" in map(str, args)):
            raise AssertionError(f"a unit test starts no server ({sorted(started)}): move it to tests/integration")
        popen_init(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", checked_popen)
