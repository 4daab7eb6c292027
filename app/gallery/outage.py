"""Whether this worker can reach Redis, remembered for a moment. A Redis that is wholly down
(connection refused, timed out) must not make every frame pay REDIS_TIMEOUT_S: after a failure,
recognitions answer from the worker's copy of the gallery without trying Redis for
REDIS_RETRY_S; then one caller (a request or the gallery's background thread) tries again with
one PING, outside every lock, while the others keep answering without Redis.

    outage = RedisOutage(client, retry_s=1.0)
    if outage.usable():           # always True while Redis answers
        try: ...                  # use Redis
        except UNREACHABLE as e:
            outage.failed(e)      # the next REDIS_RETRY_S do without it
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
        self._retry_at = 0.0              # monotonic: the next try during an outage

    @property
    def down(self) -> bool:
        return self.since is not None

    def usable(self) -> bool:
        """Whether to use Redis now: always while it answers; during an outage, once per
        REDIS_RETRY_S one caller PINGs it (True when it answers), every other caller gets False."""
        with self._lock:
            if self.since is None:
                return True
            now = time.monotonic()
            if now < self._retry_at:
                return False
            self._retry_at = now + self.retry_s   # this caller tries; the others do without meanwhile
        try:
            self.redis.ping()
        except UNREACHABLE as e:
            self.failed(e)
            return False
        self.reached()
        return True

    def failed(self, error: Exception) -> None:
        """A call found Redis unreachable: do without it for REDIS_RETRY_S."""
        with self._lock:
            if self.since is None:
                self.since = time.time()
                log.warning("Redis is unreachable (%s); recognitions answer from this worker's copy of the "
                            "gallery, without tracks or events, trying again every %.1f s", error, self.retry_s)
            self._retry_at = time.monotonic() + self.retry_s

    def reached(self) -> None:
        """A call reached Redis: the outage, if any, is over."""
        with self._lock:
            if self.since is not None:
                log.warning("Redis answers again after %.1f s", time.time() - self.since)
            self.since = None
