"""Negative examples: faces an operator said are NOT a person ("this is not Alice"), kept beside
the gallery, never inside it. Matching refuses a person when the probe is nearer to one of
their negatives than to their nearest enrolled face plus a margin (CORRECTION_MARGIN), so the
look-alike stops matching on their other photos while the person's own photos still match.

Redis keys (under the prefix):
    negatives:{pid}         hash  negative id -> vector (app/gallery/codec.py: 4 x dim bytes)
    negatives:{pid}:order   zset  negative id -> time added (the oldest go beyond NEGATIVES_PER_PERSON)
    negatives:people        set   pids with negatives
    negatives:version       int   +1 per change: each worker reloads its copy when it moved

Corrections are rare and manual, so a worker reloads all negatives when the version moved
(one GET when it did not), only when some face is within the threshold of someone."""
import threading
import time

import numpy as np
import redis

from app.gallery.codec import encode_vector, readable, text
from app.gallery.matching import distances
from app.gallery.model_record import LEGACY_MODEL, GalleryModel, model_namespace


class Negatives:
    def __init__(self, client: redis.Redis, prefix: str = "fr:", per_person: int = 50, margin: float = 0.2,
                 model: GalleryModel = LEGACY_MODEL):
        """model: what made the negatives' embeddings; its keys are its own (model_namespace)."""
        prefix = model_namespace(prefix, model)
        self.redis, self.prefix, self.per_person, self.margin, self.dim = client, prefix, per_person, margin, model.dim
        self.people_key, self.version_key = prefix + "negatives:people", prefix + "negatives:version"
        self.lock = threading.Lock()
        self.version = -1
        self.of: dict[str, np.ndarray] = {}   # this worker's copy: pid -> [n,dim]

    def key(self, pid: str) -> str:
        return f"{self.prefix}negatives:{pid}"

    # --- changes ---------------------------------------------------------------------
    def add(self, pid: str, nid: str, vector: np.ndarray) -> int:
        """Negative `nid` of person `pid` (again: replaced) -> how many they have; the oldest
        beyond the cap are dropped."""
        key = self.key(pid)

        def change(pipe):
            after = pipe.zcard(key + ":order") + (pipe.zscore(key + ":order", nid) is None)
            old = [text(n) for n in pipe.zrange(key + ":order", 0, after - self.per_person - 1)] \
                if after > self.per_person else []
            old = [n for n in old if n != nid]
            pipe.multi()
            pipe.hset(key, nid, encode_vector(vector, self.dim))
            pipe.zadd(key + ":order", {nid: time.time()})
            if old:
                pipe.hdel(key, *old)
                pipe.zrem(key + ":order", *old)
            pipe.sadd(self.people_key, pid)
            pipe.incr(self.version_key)
            pipe.hlen(key)
        return self.redis.transaction(change, key + ":order", value_from_callable=False)[-1]

    def remove(self, pid: str, nid: str) -> bool:
        """Negative `nid` of `pid` withdrawn -> whether there was one."""
        key = self.key(pid)

        def change(pipe):
            if not pipe.hexists(key, nid):
                return False
            left = pipe.hlen(key) - 1
            pipe.multi()
            pipe.hdel(key, nid)
            pipe.zrem(key + ":order", nid)
            if left == 0:
                pipe.srem(self.people_key, pid)
            pipe.incr(self.version_key)
            return True
        return self.redis.transaction(change, key, value_from_callable=True)

    def prune(self, is_person) -> int:
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
        return self.redis.hlen(self.key(pid))

    # --- this worker's copy ----------------------------------------------------------
    def sync(self) -> None:
        version = int(self.redis.get(self.version_key) or 0)
        if version == self.version:
            return
        with self.lock:
            if version == self.version:
                return
            # the version first, then the data (not in a MULTI, which Redis refuses when full): a
            # change in between is read now and again at the next sync, never missed
            pids = sorted(text(p) for p in self.redis.smembers(self.people_key))
            with self.redis.pipeline(transaction=False) as pipe:
                for pid in pids:
                    pipe.hvals(self.key(pid))
                stored = pipe.execute()
            self.of = {pid: self._matrix(vectors) for pid, vectors in zip(pids, stored) if vectors}
            self.version = version

    def _matrix(self, stored: list[bytes]) -> np.ndarray:
        return readable(dict(enumerate(stored)), self.dim)[1]   # the unreadable left out

    def refuses(self, pid: str, embedding: np.ndarray, distance: float) -> bool:
        """Whether `pid`, nearest at `distance`, is refused for this probe: one of their negatives
        is nearer than distance + margin. Call sync() first."""
        negatives = self.of.get(pid)
        if negatives is None or len(negatives) == 0:
            return False
        return float(distances(embedding, negatives).min()) < distance + self.margin
