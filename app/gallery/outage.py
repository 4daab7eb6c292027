"""Whether this worker can reach Redis, remembered for a moment. A Redis that is wholly down
(connection refused, timed out) must not make every frame pay REDIS_TIMEOUT_S: after a failure,
recognitions answer from the worker's copy of the gallery without trying Redis, and the
worker's background threads (the gallery's maintenance, the visit sweep) try it again with one
PING every REDIS_RETRY_S, outside every lock. A request tries it itself only when no one has for
3 x REDIS_RETRY_S (the background thread busy elsewhere), so the frames of an outage wait on a
dead Redis once, when it is found dead, not once per back-off.

    outage = RedisOutage(client, retry_s=1.0)
    if outage.usable():           # always True while Redis answers
        try: ...                  # use Redis
        except UNREACHABLE as e:
            outage.failed(e)      # do without it until a try succeeds
"""
import logging
import threading
import time

import redis

log = logging.getLogger(__name__)

UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)   # Redis away, not Redis refusing a command


class RedisOutage:
    def __init__(self, client: redis.Redis, retry_s: float = 1.0):
        self.redis, self.retry_s = client, retry_s
        self._lock = threading.Lock()
        self.since: float | None = None   # when this outage began (wall clock); None: Redis answers
        self._tried_at = 0.0              # monotonic: the last try (or failure) during an outage

    @property
    def down(self) -> bool:
        return self.since is not None

    def usable(self, background: bool = False) -> bool:
        """Whether to use Redis now: always while it answers. During an outage, `background`
        callers PING it once per REDIS_RETRY_S, requests only when nobody has for 3 x REDIS_RETRY_S
        (True when it answers); every other caller gets False at once."""
        with self._lock:
            if self.since is None:
                return True
            now = time.monotonic()
            if now < self._tried_at + self.retry_s * (1 if background else 3):
                return False
            self._tried_at = now   # this caller tries; the others do without meanwhile
        try:
            self.redis.ping()
        except UNREACHABLE as e:
            self.failed(e)
            return False
        self.reached()
        return True

    def failed(self, error: Exception) -> None:
        """A call found Redis unreachable: do without it until a try succeeds."""
        with self._lock:
            if self.since is None:
                self.since = time.time()
                log.warning("Redis is unreachable (%s); recognitions answer from this worker's copy of the "
                            "gallery, without tracks or events, trying again every %.1f s", error, self.retry_s)
            self._tried_at = time.monotonic()

    def reached(self) -> None:
        """A call reached Redis: the outage, if any, is over."""
        with self._lock:
            if self.since is not None:
                log.warning("Redis answers again after %.1f s", time.time() - self.since)
            self.since = None
