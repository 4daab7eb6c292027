"""Is this worker ready to serve: Redis answers, the gallery's embeddings are of this worker's
model, and each model answers (the orchestrator's readiness probe, /readyz).

A gallery of another model makes the worker not ready (503, `gallery_model_mismatch` naming
both models): in a rolling update the old workers keep serving until the gallery is
re-embedded. A gallery being re-embedded to this worker's model leaves it ready: it answers
the progress and its recognitions say 409 until the run is done."""
from dataclasses import dataclass
from typing import Protocol

import redis

from app.errors import FaceRecError
from app.gallery.model_record import REEMBEDDING, mismatch
from app.services import Services


class _Served(Protocol):
    """A served model a readiness check asks (a detector, an embedder's network or graph)."""
    name: str

    def ready(self) -> bool: ...


@dataclass
class Readiness:
    ready: bool
    checks: dict[str, str]     # {part: "ok" or what is wrong with it}
    gallery_model: str | None  # None: an empty gallery


def readiness(s: Services) -> Readiness:
    checks, ready, gallery_model = {}, True, None
    try:
        s.redis.ping()
        s.outage.reached()   # (recognitions use Redis again without waiting for the next try)
        checks["redis"] = "ok"
    except redis.RedisError as e:
        checks["redis"] = f"Redis at {s.redis_where} is unreachable: {e}"
        ready = False
    else:
        try:
            record, people = s.store.model_record()
            gallery_model = record.model.id if record else None
            problem = mismatch(record, people, s.store.model)
            if problem is None:
                s.replica.sync()  # this worker's copy loads
                checks["gallery"] = "ok"
            elif record is not None and record.state == REEMBEDDING and record.model == s.store.model:
                checks["gallery"] = f"reembedding: {problem.message}"
            else:
                checks["gallery"] = f"{problem.code}: {problem.message}"
                ready = False
        except redis.RedisError as e:  # the data in Redis is not a gallery this server can read
            checks["gallery"] = f"the gallery cannot be loaded from Redis ({type(e).__name__}); see the server log"
            ready = False
    parts: tuple[_Served, ...] = (s.pipeline.detector, *s.pipeline.embedder.networks)
    for part in parts:
        try:
            part.ready()
            checks[part.name] = "ok"
        except FaceRecError as e:
            checks[part.name] = e.message
            ready = False
    return Readiness(ready, checks, gallery_model)
