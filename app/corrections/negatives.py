"""Negative examples: faces an operator said are NOT a person ("this is not Alice"), kept beside
the gallery, never inside it. Matching refuses a person when the probe is nearer to one of
their negatives than to their nearest enrolled face plus a margin (CORRECTION_MARGIN), so the
look-alike stops matching on their other photos while the person's own photos still match.

Redis keys (under the prefix):
    negatives:{pid}         hash  negative id -> vector (app/gallery/codec.py: 4 x dim bytes)
    negatives:{pid}:order   zset  negative id -> time added (the oldest go beyond NEGATIVES_PER_PERSON)
    negatives:people        set   pids with negatives
    negatives:version       int   +1 per change: each worker reloads its copy when it moved

Corrections are rare and manual, so the version is their whole change log (app/gallery/changelog.py):
a worker reloads all negatives when it moved (one GET when it did not), only when some face is
within the threshold of someone."""
from collections.abc import Callable
from typing import Any

import numpy as np
import redis

from app.gallery.changelog import ChangeLog, Follower
from app.gallery.codec import encode_vector, readable, text
from app.gallery.model_record import LEGACY_MODEL, GalleryModel, model_namespace
from app.gallery.redis_calls import Pipe
from app.gallery.search.matching import distances


class Negatives(Follower):
    def __init__(self, client: redis.Redis, prefix: str = "fr:", per_person: int = 50, margin: float = 0.2,
                 model: GalleryModel = LEGACY_MODEL):
        """model: what made the negatives' embeddings; its keys are its own (model_namespace)."""
        prefix = model_namespace(prefix, model)
        self.redis, self.prefix, self.per_person, self.margin, self.dim = client, prefix, per_person, margin, model.dim
        self.people_key, self.version_key = prefix + "negatives:people", prefix + "negatives:version"
        super().__init__(ChangeLog(client, self.version_key))   # a version, no entries: any change reloads
        self.version, self.last_id = -1, ""     # this worker's copy's position (-1: not loaded)
        self.of: dict[str, np.ndarray] = {}     # this worker's copy: pid -> [n,dim]

    def key(self, pid: str) -> str:
        return f"{self.prefix}negatives:{pid}"

    # --- changes ---------------------------------------------------------------------
    # Each change is one script, so that it can also be queued into a gallery transaction (a
    # correction moves a face out of a person and into their negatives at one moment).
    ADD = """
    local key, order, people, version = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
    local nid, vec, cap, pid = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
    local now = redis.call('TIME')   -- Redis's clock: the newest is newest whichever worker's clock lags
    redis.call('HSET', key, nid, vec)
    redis.call('ZADD', order, now[1] + now[2] / 1e6, nid)
    local over = redis.call('ZCARD', order) - cap
    if over > 0 then
      for _, old in ipairs(redis.call('ZRANGE', order, 0, over - 1)) do
        if old ~= nid then
          redis.call('HDEL', key, old)
          redis.call('ZREM', order, old)
        end
      end
    end
    redis.call('SADD', people, pid)
    redis.call('INCR', version)
    return redis.call('HLEN', key)
    """
    REMOVE = """
    local key, order, people, version = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
    if redis.call('HDEL', key, ARGV[1]) == 0 then return 0 end
    redis.call('ZREM', order, ARGV[1])
    if redis.call('HLEN', key) == 0 then redis.call('SREM', people, ARGV[2]) end
    redis.call('INCR', version)
    return 1
    """

    def _keys(self, pid: str) -> list[str]:
        key = self.key(pid)
        return [key, key + ":order", self.people_key, self.version_key]

    def add(self, pid: str, nid: str, vector: np.ndarray) -> int:
        """Negative `nid` of person `pid` (again: replaced) -> how many they have; the oldest
        beyond the cap are dropped."""
        return int(self.queue_add(self.redis, pid, nid, vector))

    def queue_add(self, pipe: Pipe, pid: str, nid: str, vector: np.ndarray) -> Any:
        """add(), on `pipe`: run now on a client, queued after pipe.multi() on a transaction."""
        return pipe.eval(self.ADD, 4, *self._keys(pid), nid, encode_vector(vector, self.dim), self.per_person, pid)

    def remove(self, pid: str, nid: str) -> bool:
        """Negative `nid` of `pid` withdrawn -> whether there was one."""
        return bool(self.queue_remove(self.redis, pid, nid))

    def queue_remove(self, pipe: Pipe, pid: str, nid: str) -> Any:
        """remove(), on `pipe` (as queue_add)."""
        return pipe.eval(self.REMOVE, 4, *self._keys(pid), nid, pid)

    def prune(self, is_person: Callable[[str], bool]) -> int:
        """The negatives of people no longer enrolled (`is_person(pid)` False) dropped -> how many people."""
        gone = [pid for pid in (text(p) for p in self.redis.smembers(self.people_key)) if not is_person(pid)]
        if gone:
            with self.redis.pipeline(transaction=True) as pipe:
                for pid in gone:
                    pipe.delete(self.key(pid), self.key(pid) + ":order")
                pipe.srem(self.people_key, *gone)
                pipe.incr(self.version_key)
                pipe.execute()
        return len(gone)

    def count(self, pid: str) -> int:
        return int(self.redis.hlen(self.key(pid)))

    # --- this worker's copy ----------------------------------------------------------
    def _following(self) -> "Negatives | None":
        return self if self.version >= 0 else None

    def _reload(self) -> None:
        # the version first, then the data (not in a MULTI, which Redis refuses when full): a
        # change in between is read now and again at the next sync, never missed
        version = self.changelog.position().version
        pids = sorted(text(p) for p in self.redis.smembers(self.people_key))
        with self.redis.pipeline(transaction=False) as pipe:
            for pid in pids:
                pipe.hvals(self.key(pid))
            stored = pipe.execute()
        self.of = {pid: self._matrix(vectors) for pid, vectors in zip(pids, stored) if vectors}
        self.version = version

    def apply(self, entry_id: str, entry: dict[str, Any]) -> None:
        """Never called: the negatives' log is a version without entries."""
        raise NotImplementedError

    def _matrix(self, stored: list[bytes]) -> np.ndarray:
        return readable(dict(enumerate(stored)), self.dim)[1]   # the unreadable left out

    def refuses(self, pid: str, embedding: np.ndarray, distance: float) -> bool:
        """Whether `pid`, nearest at `distance`, is refused for this probe: one of their negatives
        is nearer than distance + margin. Call sync() first."""
        negatives = self.of.get(pid)
        if negatives is None or len(negatives) == 0:
            return False
        return float(distances(embedding, negatives).min()) < distance + self.margin
