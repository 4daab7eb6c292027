"""Work off the request path, every HOUSEKEEPING_INTERVAL_S, by one worker at a time (a Redis
lock, redis-py's Lock): sightings over the age cap dropped (the count cap is kept as each one
is added), the unknown visitors re-clustered when they changed, and the negative examples of
people no longer enrolled dropped.

    start(services)            # the app factory, in each worker: a daemon thread
    run_once(services)         # what the thread runs (tests and operators may call it)
"""
import logging
from dataclasses import dataclass

import redis

from app.errors import PersonNotFound
from app.services import Services
from app.usecases import periodic
from app.visitors.clustering import Reclustering, recluster

log = logging.getLogger(__name__)
LOCK_TIMEOUT_S = 600        # a worker that dies holding the lock frees it after this


@dataclass
class Housekeeping:
    ran: bool                           # False: another worker held the lock
    trimmed: int = 0
    reclustering: Reclustering | None = None   # None: nothing changed since the last one
    pruned_people: int = 0


def _is_person(s: Services, pid: str) -> bool:
    try:
        s.store.person(pid)
        return True
    except PersonNotFound:
        return False


def run_once(s: Services) -> Housekeeping:
    lock = s.redis.lock(s.settings.redis_prefix + "housekeeping:lock", timeout=LOCK_TIMEOUT_S, blocking=False)
    if not lock.acquire():
        return Housekeeping(ran=False)
    try:
        trimmed = 0
        while (n := s.visitors.trim()) > 0:
            trimmed += n
        due, version = s.visitors.clustering_due()
        reclustering = None
        if due:  # its own moves change the version: one more run finds nothing to move, and rests
            reclustering = recluster(s.visitors, s.settings.visitor_distance, s.settings.visitor_min_samples,
                                     s.settings.visitor_max_spread)
            s.visitors.mark_clustered(version)
        pruned = s.negatives.prune(lambda pid: _is_person(s, pid))
        return Housekeeping(True, trimmed, reclustering, pruned)
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:  # held past its timeout: another worker may have it now
            pass


def start(s: Services) -> periodic.PeriodicJob:
    """A daemon thread running run_once every HOUSEKEEPING_INTERVAL_S (app/usecases/periodic.py)."""
    def work() -> None:
        result = run_once(s)
        if result.reclustering and result.reclustering.moved:
            log.info("visitors re-clustered: %s", result.reclustering)
    return periodic.start("facerec-housekeeping", s.settings.housekeeping_interval_s, work, s.outage)
