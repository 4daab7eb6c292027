"""Visits whose camera fell silent, ended without waiting for its next frame: every
VISIT_SWEEP_S, each worker ends the tracks of which no frame came for TRACK_GAP_S, publishes
"ended" for the announced ones (<prefix>/visits/<camera>, with MQTT on) and gives an unknown
visit's visitor sighting the mean of all its faces (with or without MQTT). Ending is atomic in Redis
(app/visits/store.py, VisitStore.sweep): however many workers and replicas sweep at once, and
whether the camera's next frame or a sweep notices first, each visit ends once.

    start(services)        # the app factory, in each worker, when VISIT_SWEEP_S > 0: a daemon thread
    sweep_once(services)   # what the thread runs (tests may call it)
"""

from app.services import Services
from app.usecases import periodic, visits
from app.visits import TrackState


def sweep_once(s: Services, now: float | None = None) -> list[tuple[str, TrackState]]:
    """(camera, track) of the visits this call ended, each announced ("ended") when its identity
    had been; raises redis.RedisError."""
    ended = s.visits.sweep(now)
    visits.end_visits(s, ended)
    return ended


def start(s: Services) -> periodic.PeriodicJob:
    """A daemon thread running sweep_once every VISIT_SWEEP_S (app/usecases/periodic.py)."""
    return periodic.start("facerec-visit-sweep", s.settings.visit_sweep_s, lambda: sweep_once(s), s.outage)
