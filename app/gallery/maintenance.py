"""The background thread of each worker's replica (app/gallery/replica.py): keeps an idle
worker in step with Redis, compacts its copy into a new snapshot when the changes have grown,
and publishes snapshots for the workers to come; requests never do any of it."""
import contextlib
import logging
import os
import threading
import weakref
from typing import Protocol

log = logging.getLogger(__name__)


class Maintained(Protocol):
    def maintain(self) -> None: ...


def start(replica: Maintained, stop: threading.Event, every_s: float) -> threading.Thread:
    """Runs replica.maintain() every `every_s` until `stop` is set. It holds the replica weakly:
    a replica nobody uses any more (a test's app) ends its thread."""
    ref = weakref.ref(replica)

    def loop() -> None:
        with contextlib.suppress(OSError, AttributeError):  # Linux: a thread has its own niceness
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)  # requests first on busy cores
        failing = False
        while not stop.is_set():
            current = ref()
            if current is None:
                return
            try:
                current.maintain()
                failing = False
            except Exception as e:  # Redis away, disk full, another model's gallery: requests report it
                if not failing:
                    log.warning("gallery: background maintenance failed (%s); retrying every %.0f s", e, every_s)
                failing = True
            del current
            stop.wait(every_s)
    thread = threading.Thread(target=loop, name="gallery-maintenance", daemon=True)
    thread.start()
    return thread
