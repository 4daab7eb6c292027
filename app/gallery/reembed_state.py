"""Where a re-embedding run of the gallery stands, in Redis, so that any worker can report it
and an interrupted run resumes (app/usecases/reembed.py runs it).

Keys (under the prefix): reembed:state (hash: status, target, previous, cursor, started_at,
finished_at, error, people_total, people_done, faces_done, from_thumbnails), reembed:failed
(list of JSON: the faces that could not be re-embedded, and why), reembed:lock (redis-py's
Lock, held by the running thread)."""
import json
from collections.abc import Callable
from typing import Any

import redis

from app.gallery.codec import text


class ReembedState:
    def __init__(self, client: redis.Redis, prefix: str):
        self.redis = client
        self.state_key, self.failed_key, self.lock_key = (prefix + "reembed:state", prefix + "reembed:failed",
                                                          prefix + "reembed:lock")

    def read(self) -> tuple[dict[str, str], list[dict[str, Any]], bool]:
        """(the state, the faces not re-embedded, whether a run holds the lock), at one moment."""
        with self.redis.pipeline(transaction=True) as pipe:
            state, failed, locked = pipe.hgetall(self.state_key).lrange(self.failed_key, 0, -1) \
                .exists(self.lock_key).execute()
        return _texts(state), [json.loads(f) for f in failed], bool(locked)

    def fields(self) -> dict[str, str]:
        return _texts(self.redis.hgetall(self.state_key))

    def cursor(self) -> str:
        """The last person done (people go in order of their id)."""
        return text(self.redis.hget(self.state_key, "cursor") or b"")

    def lock(self, ttl_s: float) -> Any:   # a redis-py Lock, released by the thread of the run
        return self.redis.lock(self.lock_key, timeout=ttl_s, thread_local=False)

    def begin(self, target: str, previous: str, people_total: int, started_at: str) -> None:
        """A new run towards model `target`: the last run's state and failures forgotten."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.state_key, self.failed_key)
            pipe.hset(self.state_key, mapping={"target": target, "previous": previous, "cursor": "",
                                               "started_at": started_at, "people_total": people_total})
            pipe.execute()

    def update(self, **fields: str) -> None:
        self.redis.hset(self.state_key, mapping=fields)

    def progress(self, pid: str, faces: int, from_thumbnails: int, failed: list[dict[str, str]]
                 ) -> Callable[[Any], None]:
        """What queues person `pid` as done on a pipeline: written in the MULTI/EXEC that rewrites
        the person's faces (GalleryStore.rewrite_faces(also=...)), so neither is written without
        the other."""
        def queue(pipe: Any) -> None:
            pipe.hset(self.state_key, "cursor", pid)
            pipe.hincrby(self.state_key, "people_done", 1)
            pipe.hincrby(self.state_key, "faces_done", faces)
            pipe.hincrby(self.state_key, "from_thumbnails", from_thumbnails)
            if failed:
                pipe.rpush(self.failed_key, *[json.dumps(f) for f in failed])
        return queue


def _texts(reply: dict[bytes, bytes]) -> dict[str, str]:
    return {text(k): text(v) for k, v in reply.items()}
