"""Redis transactions as typed calls. In a transaction a command returns its reply before
pipe.multi() and is queued (returning the pipeline) after it, which redis-py's annotations
cannot say (pyproject.toml skips them): a pipeline is `Pipe`, and atomically() returns what
the change returned, typed.

A transaction reads what it needs under WATCH, then queues its writes after pipe.multi();
redis-py runs it again when a watched key changed before EXEC, so the change is atomic against
every other writer. Used by the gallery store; the negative examples' and the visitors'
changes are Lua scripts instead (a gallery transaction queues the negatives' scripts into its
MULTI: a correction moves a face out of a person and into their negatives at one moment)."""
from collections.abc import Callable
from typing import Any, TypeVar, cast

import redis

Pipe = Any   # a pipeline: its commands reply under WATCH, queue and chain after pipe.multi()
T = TypeVar("T")


def atomically(client: redis.Redis, change: Callable[[Pipe], T], *watched: str) -> T:
    """What change(pipe) returned, once its writes are applied atomically."""
    return cast(T, client.transaction(change, *watched, value_from_callable=True))
