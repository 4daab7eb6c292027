"""Is this worker ready to serve: Redis answers, its copy of the gallery loads, and each
model answers (the orchestrator's readiness probe, /readyz)."""
import redis

from app.errors import FaceRecError
from app.services import Services


def readiness_checks(s: Services) -> dict[str, str]:
    """{part: "ok" or what is wrong with it}."""
    checks = {}
    try:
        s.redis.ping()
        checks["redis"] = "ok"
    except redis.RedisError as e:
        checks["redis"] = f"Redis at {s.redis_where} is unreachable: {e}"
    for part in (s.pipeline.detector, s.pipeline.embedder):
        try:
            part.ready()
            checks[part.name] = "ok"
        except FaceRecError as e:
            checks[part.name] = e.message
    return checks
