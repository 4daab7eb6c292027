"""Prometheus metrics. Under Gunicorn every worker is a process, so when
PROMETHEUS_MULTIPROC_DIR is set (config/gunicorn.conf.py sets it) the values are written
there and /metrics adds up all workers (prometheus_client's multiprocess mode)."""
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

# Module-level, as prometheus_client means them to be. The one effect of importing this: in
# multiprocess mode an unlabelled metric opens its value file (named by pid) in that folder when it
# is made; Gunicorn does not preload the app, so each worker makes its own after the fork.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("facerec_http_requests_total", "HTTP requests", ["endpoint", "method", "status"])
REQUEST_SECONDS = Histogram("facerec_http_request_seconds", "HTTP request latency", ["endpoint"],
                            buckets=LATENCY_BUCKETS)
STAGE_SECONDS = Histogram("facerec_stage_seconds", "Pipeline stage latency (decode, detect, embed, match)",
                          ["stage"], buckets=LATENCY_BUCKETS)
FACES = Counter("facerec_faces_total", "Faces found in recognized frames", ["result"])
MODEL_ERRORS = Counter("facerec_model_errors_total", "Failed model calls", ["model", "code"])
GALLERY_UNREADABLE = Gauge("facerec_gallery_unreadable_faces", "Stored faces this worker could not read at its "
                           "last load (skipped; see the log)", multiprocess_mode="max")
EVENTS_DROPPED = Counter("facerec_events_dropped_total", "Recognitions answered without an event (Redis full)")
DEGRADED = Counter("facerec_recognitions_degraded_total",
                   "Recognitions answered without Redis (unreachable), from the worker's copy of the gallery")
GALLERY_FACES = Gauge("facerec_gallery_faces", "Enrolled faces in this worker's copy of the gallery",
                      multiprocess_mode="max")
MQTT_PUBLISHED = Counter("facerec_mqtt_published_total", "MQTT messages handed to the broker connection")
MQTT_DROPPED = Counter("facerec_mqtt_dropped_total", "MQTT messages dropped (queue full, broker unreachable)",
                       ["reason"])
MQTT_CONNECTED = Gauge("facerec_mqtt_connected", "Workers connected to the MQTT broker", multiprocess_mode="livesum")


def observe_stages(timing_ms: dict[str, float]) -> None:
    for stage, ms in timing_ms.items():
        if stage != "total":
            STAGE_SECONDS.labels(stage).observe(ms / 1000.0)


def observe_recognition(timing_ms: dict[str, float], matched: list[bool], gallery_size: int) -> None:
    """One recognized frame: its stage times, each face known or unknown, the gallery's size."""
    observe_stages(timing_ms)
    GALLERY_FACES.set(gallery_size)
    for known in matched:
        FACES.labels("known" if known else "unknown").inc()


def exposition():
    """(body, content type) for GET /metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
