"""A worker's periodic background job (the housekeeping, the visit sweep): a daemon thread that
runs `work` every `every_s`, the first time after a random part of it so that the workers do
not all wake together. While Redis is known unreachable it waits its turn to try it
(app/gallery/outage.py) and says once that Redis is away; any other error is logged with its
trace; nothing is raised. Its stop() ends it and waits for it, so nothing the job does comes
after (an "ended" after the MQTT goodbye, say).

    thread = start("facerec-visit-sweep", 1.0, lambda: sweep_once(s), s.outage)
    thread.stop()
"""
import logging
import random
import threading
from collections.abc import Callable

from app.gallery.outage import UNREACHABLE, RedisOutage

log = logging.getLogger(__name__)


def start(name: str, every_s: float, work: Callable[[], object], outage: RedisOutage) -> threading.Thread:
    stop = threading.Event()

    def loop() -> None:
        failing = False
        wait = every_s * random.uniform(0.5, 1.0)
        while not stop.wait(wait):
            wait = every_s
            if not outage.usable(background=True):
                continue
            try:
                work()
                failing = False
            except UNREACHABLE as e:
                outage.failed(e)
                if not failing:
                    log.warning("%s skipped, Redis is unreachable: %s", name, e)
                failing = True
            except Exception:  # noqa: BLE001 - anything else: the trace helps; try again next time
                log.exception("%s failed", name)

    thread = threading.Thread(target=loop, name=name, daemon=True)

    def stop_and_wait() -> None:
        stop.set()
        thread.join(timeout=5)

    thread.stop = stop_and_wait  # type: ignore[attr-defined]  # how Services.close() stops it
    thread.start()
    return thread
