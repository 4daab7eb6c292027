"""A versioned change log in Redis, and the one way every in-memory copy follows it.

A store that workers copy (the gallery, the visitors) keeps a version (+1 per change) and a
stream with one entry per idempotent change, both written by the change itself (its MULTI/EXEC
or Lua script). A worker's copy remembers the version and the last entry it applied; catching
up costs one round trip when nothing changed, applies the new entries when some did, and the
copy is loaded whole again when the log no longer holds every change since (trimmed away, or
Redis is older than the copy). The negative examples keep a version and no stream: any change
reloads them.

The reads that must see one moment (a version with the entries after a position, or a
version with the log's last position; for the gallery, with its model record and how many
people it has) run as read-only Lua scripts (`flags=no-writes`): atomic like MULTI/EXEC, but
still allowed when Redis is full (maxmemory), where Redis refuses every command queued in a
MULTI, reads included, and recognition would stop with it."""
import abc
import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

import redis

from app.gallery.codec import text

# KEYS: version, log[, record hash, record set]; ARGV: the exclusive start of the range, and
# how many entries at most ("" for all)
VERSION_AND_CHANGES = """#!lua flags=no-writes
local entries
if ARGV[2] ~= '' then entries = redis.call('XRANGE', KEYS[2], ARGV[1], '+', 'COUNT', ARGV[2])
else entries = redis.call('XRANGE', KEYS[2], ARGV[1], '+') end
local out = {redis.call('GET', KEYS[1]), entries}
if KEYS[4] then out[3] = redis.call('HGETALL', KEYS[3]); out[4] = redis.call('SCARD', KEYS[4]) end
return out
"""
VERSION_AND_POSITION = """#!lua flags=no-writes
local out = {redis.call('GET', KEYS[1]), redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)}
if KEYS[4] then out[3] = redis.call('HGETALL', KEYS[3]); out[4] = redis.call('SCARD', KEYS[4]) end
return out
"""

Entry = tuple[str, dict[str, Any]]    # (entry id, {field: value as Redis returned it})
Accepts = Callable[[dict[Any, Any], int], bool]


class CatchUp(enum.Enum):
    """What catching a copy up with the log did."""
    CURRENT = "current"    # nothing changed since the copy's position
    UPDATED = "updated"    # the new entries were applied
    GAP = "gap"            # the log no longer holds every change since (or refused the copy): load it whole


class Sync(enum.StrEnum):
    """What a follower's sync() did (a str: "current", "updated", "reloaded")."""
    CURRENT = "current"
    UPDATED = "updated"
    RELOADED = "reloaded"


@dataclass(frozen=True)
class Changes:
    version: int
    entries: list[Entry]
    accepted: bool     # False: the log's record changed since the copy's last read (reload it)


@dataclass(frozen=True)
class Position:
    version: int
    last_id: str       # "0-0" for an empty log


class Copy(Protocol):
    """An in-memory copy that follows a log: its position, and how it applies one entry."""
    version: int
    last_id: str

    def apply(self, entry_id: str, entry: dict[str, Any]) -> None: ...


def _pairs(flat: list[Any]) -> dict[Any, Any]:
    return dict(zip(flat[::2], flat[1::2]))


def _entries(reply: list[Any]) -> list[Entry]:
    """From a script's reply (each entry's fields a flat list) or XRANGE's (redis-py makes them a dict)."""
    return [(text(entry_id), {text(k): v for k, v in (fields if isinstance(fields, dict) else _pairs(fields)).items()})
            for entry_id, fields in reply]


class ChangeLog:
    def __init__(self, client: redis.Redis, version_key: str, log_key: str | None = None,
                 record_keys: tuple[str, str] | None = None, accepts: Accepts | None = None):
        """`log_key` None: a version and no entries. `record_keys` (a hash, a set): read at the
        same moment as the log and given to `accepts(hash fields, set size)`, which raises when
        the copy may not follow this log at all and returns False when the copy must be loaded
        again (the gallery's model record)."""
        self.redis, self.version_key, self.log_key = client, version_key, log_key
        self.record_keys, self.accepts = record_keys, accepts

    def _accepted(self, reply: list[Any]) -> bool:
        if self.record_keys is None or self.accepts is None:
            return True
        return self.accepts(_pairs(reply[2]), int(reply[3]))

    def changes(self, after_id: str, count: int | None = None) -> Changes:
        """The version and the log entries after `after_id` (the first `count` of them)."""
        if self.log_key is None:
            return Changes(int(self.redis.get(self.version_key) or 0), [], True)
        reply = self.redis.eval(VERSION_AND_CHANGES, 2 + len(self.record_keys or ()), self.version_key,
                                self.log_key, *(self.record_keys or ()), f"({after_id}",
                                "" if count is None else str(count))
        return Changes(int(reply[0] or 0), _entries(reply[1]), self._accepted(reply))

    def position(self) -> Position:
        """The version and the id of the log's last entry. A whole read starts here: changes
        made while the data is read are in the log after this position and applied again
        later, which is harmless because every logged change is idempotent."""
        if self.log_key is None:
            return Position(int(self.redis.get(self.version_key) or 0), "0-0")
        reply = self.redis.eval(VERSION_AND_POSITION, 2 + len(self.record_keys or ()), self.version_key,
                                self.log_key, *(self.record_keys or ()))
        self._accepted(reply)
        return Position(int(reply[0] or 0), text(reply[1][0][0]) if reply[1] else "0-0")

    def catch_up(self, copy: Copy, page: int | None = None) -> CatchUp:
        """Applies the entries after `copy`'s position to it. `page`: read them this many at a
        time (a long catch-up off the request path: parsing one huge reply would hold the GIL
        for 100+ ms); the version and the first page are read at one moment."""
        changes = self.changes(copy.last_id, count=page)
        if not changes.accepted:
            return CatchUp.GAP
        missing, entries = changes.version - copy.version, changes.entries
        if not missing:
            return CatchUp.CURRENT
        if self.log_key is None or missing < 0 or len(entries) > missing or (page is None and len(entries) != missing):
            return CatchUp.GAP
        while True:
            for entry_id, fields in entries[:missing]:
                copy.apply(entry_id, fields)
                copy.last_id = entry_id
            missing -= len(entries[:missing])
            if not missing:
                break
            entries = _entries(cast(list[Any], self.redis.xrange(self.log_key, min=f"({copy.last_id}", count=page)))
            if not entries:
                return CatchUp.GAP  # trimmed while we read
        copy.version = changes.version
        return CatchUp.UPDATED


class Follower(abc.ABC):
    """Keeps one in-memory copy in step with a change log (the gallery replica, the visitor
    index, the negative examples): subclasses say which copy (`_following`) and how to load it
    whole (`_reload`, which reads the log's position first)."""

    def __init__(self, changelog: ChangeLog):
        self.changelog = changelog
        self.lock = threading.Lock()   # around the copy: syncs, reads, swaps

    @abc.abstractmethod
    def _following(self) -> Copy | None:
        """The copy to keep in step; None before its first load."""

    @abc.abstractmethod
    def _reload(self) -> None:
        """Loads the copy whole, from the log's position read first."""

    def _before_sync(self) -> None:
        """Called with the lock held, before the copy is caught up: may raise to skip it."""

    def sync(self) -> Sync:
        """Catch up with Redis."""
        with self.lock:
            self._before_sync()
            copy = self._following()
            caught = CatchUp.GAP if copy is None else self.changelog.catch_up(copy)
            if caught is CatchUp.GAP:
                self._reload()
                return Sync.RELOADED
            return Sync.UPDATED if caught is CatchUp.UPDATED else Sync.CURRENT
