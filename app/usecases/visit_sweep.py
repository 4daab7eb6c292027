"""Visits whose camera fell silent, ended without waiting for its next frame: every
VISIT_SWEEP_S, each worker ends the tracks of which no frame came for TRACK_GAP_S and publishes
"ended" for the announced ones (<prefix>/visits/<camera>). Ending is atomic in Redis
(app/visits/store.py, VisitStore.sweep): however many workers and replicas sweep at once, and
whether the camera's next frame or a sweep notices first, each visit ends once.

    start(services)        # the app factory, in each worker, when MQTT is on: a daemon thread
    sweep_once(services)   # what the thread runs (tests may call it)
"""
import logging
import random
import threading

from app.gallery.outage import UNREACHABLE
from app.services import Services
from app.visits import TrackState

log = logging.getLogger(__name__)


def sweep_once(s: Services, now: float | None = None) -> list[tuple[str, TrackState]]:
    """(camera, track) of the visits this call ended, each announced ("ended") when its identity
    had been; raises redis.RedisError."""
    ended = s.visits.sweep(now)
    for camera, track in ended:
        if track.published is not None:
            s.publisher.publish_visit(camera, "ended", track.public())
    return ended


def start(s: Services) -> threading.Thread:
    """A daemon thread running sweep_once every VISIT_SWEEP_S (the first after a random part of
    it, so the workers do not all wake together); Redis being away is said once, never raised.
    Its stop() ends it and waits for it."""
    every_s = s.settings.visit_sweep_s
    stop = threading.Event()

    def loop() -> None:
        failing = False
        wait = every_s * random.uniform(0.5, 1.0)
        while not stop.wait(wait):
            wait = every_s
            if not s.outage.usable(background=True):
                continue
            try:
                sweep_once(s)
                failing = False
            except UNREACHABLE as e:
                s.outage.failed(e)
                if not failing:
                    log.warning("visit sweep skipped, Redis is unreachable: %s", e)
                failing = True
            except Exception:  # noqa: BLE001 - anything else: the trace helps; try again next time
                log.exception("visit sweep failed")

    thread = threading.Thread(target=loop, name="facerec-visit-sweep", daemon=True)

    def stop_and_wait() -> None:
        stop.set()
        thread.join(timeout=5)

    thread.stop = stop_and_wait  # type: ignore[attr-defined]  # how Services.close() stops it
    thread.start()
    return thread
