"""Redis transactions and pipelines, typed as they behave. redis-py types a command by its
reply, but in a pipeline a queued command returns the pipeline (so commands chain), and in a
transaction a command returns its reply before pipe.multi() and is queued after it.

A transaction reads what it needs under WATCH, then queues its writes after pipe.multi();
redis-py runs it again when a watched key changed before EXEC, so the change is atomic against
every other writer. Used by the gallery store and the negative examples (the visitors' changes
are Lua scripts instead)."""
from collections.abc import Callable
from typing import Any, TypeVar, cast

import redis

Pipe = Any   # a pipeline: its commands queue and chain (pipe.get(a).get(b).execute()), or reply under WATCH
T = TypeVar("T")


def atomically(client: redis.Redis, change: Callable[[Pipe], T], *watched: str) -> T:
    """What change(pipe) returned, once its writes are applied atomically."""
    # redis-py types `change` as returning None, though value_from_callable returns its value
    return cast(T, client.transaction(change, *watched, value_from_callable=True))  # type: ignore[arg-type]


def batch(client: redis.Redis) -> Pipe:
    """A pipeline without MULTI: one round trip, no atomicity (which Redis refuses when full)."""
    return client.pipeline(transaction=False)
