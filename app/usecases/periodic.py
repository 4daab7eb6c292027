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


class PeriodicJob(threading.Thread):
    def __init__(self, name: str, every_s: float, work: Callable[[], object], outage: RedisOutage):
        super().__init__(name=name, daemon=True)
        self.every_s, self.work, self.outage = every_s, work, outage
        self.stopping = threading.Event()

    def run(self) -> None:
        failing = False
        wait = self.every_s * random.uniform(0.5, 1.0)
        while not self.stopping.wait(wait):
            wait = self.every_s
            if not self.outage.usable(background=True):
                continue
            try:
                self.work()
                failing = False
            except UNREACHABLE as e:
                self.outage.failed(e)
                if not failing:
                    log.warning("%s skipped, Redis is unreachable: %s", self.name, e)
                failing = True
            except Exception:  # noqa: BLE001 - anything else: the trace helps; try again next time
                log.exception("%s failed", self.name)

    def stop(self) -> None:
        """Ends the job and waits for it (how Services.close() stops it)."""
        self.stopping.set()
        self.join(timeout=5)


def start(name: str, every_s: float, work: Callable[[], object], outage: RedisOutage) -> PeriodicJob:
    job = PeriodicJob(name, every_s, work, outage)
    job.start()
    return job
