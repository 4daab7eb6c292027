"""Gunicorn settings: gunicorn -c config/gunicorn.conf.py "app:create_app()"

Threaded workers; each worker loads its own models and Redis connection in the app factory
(no preload). The worker timeout is set above the longest a request may wait on the model
and Redis deadlines, so a slow model gives that one request a clean 503/504 instead of the
worker being killed ("[critical] WORKER TIMEOUT").
"""
import os
import tempfile

# Prometheus multiprocess mode: every worker writes its values here, /metrics adds them up.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="facerec-metrics-"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from config import load_settings  # noqa: E402

settings = load_settings()  # a bad variable (BIND, WEB_CONCURRENCY and THREADS included) stops the server here, named

bind = settings.bind
workers = settings.web_concurrency
worker_class = "gthread"
threads = settings.threads
# two model calls (detect, embed), each bounded by GRPC_TIMEOUT_S retries included, a few
# Redis round trips, plus decoding: well under this.
timeout = int(max(30, 2 * settings.grpc_timeout_s + 4 * settings.redis_timeout_s + 15))
graceful_timeout = 30
keepalive = 5
# gunicorn's control socket sits at one path per user, so two servers on a box would clash.
control_socket_disable = True
accesslog = "-"
errorlog = "-"


def on_starting(server):
    # before the workers fork: Gunicorn's own refusals answer in JSON (config/gunicorn_errors.py)
    from gunicorn import util

    from config.gunicorn_errors import json_error
    util.write_error = json_error


def child_exit(server, worker):
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker):
    # the worker's clean goodbye to the MQTT broker (app/mqtt/publisher.py); the app is only
    # looked at, never imported (config imports nothing from app/)
    services = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("facerec")
    if services is not None:
        services.close()
