"""Reads of a versioned log (the gallery's, the visitors') that must see one moment of Redis:
a version and the log entries after a position, or a version and the log's last position.

They run as read-only Lua scripts (`flags=no-writes`): atomic like MULTI/EXEC, but still
allowed when Redis is full (maxmemory), where Redis refuses every command queued in a MULTI,
reads included, and recognition would stop with it."""
import redis

from app.gallery.codec import text

VERSION_AND_CHANGES = """#!lua flags=no-writes
return {redis.call('GET', KEYS[1]), redis.call('XRANGE', KEYS[2], ARGV[1], '+')}
"""
VERSION_AND_POSITION = """#!lua flags=no-writes
return {redis.call('GET', KEYS[1]), redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)}
"""


def _entry(raw: list) -> tuple[bytes, dict]:
    entry_id, flat = raw
    return entry_id, dict(zip(flat[::2], flat[1::2]))


def version_and_changes(client: redis.Redis, version_key: str, log_key: str, after_id: str) -> tuple[int, list]:
    """(version, [(entry id, {field: value})] of the log entries after `after_id`)."""
    version, entries = client.eval(VERSION_AND_CHANGES, 2, version_key, log_key, f"({after_id}")
    return int(version or 0), [_entry(e) for e in entries]


def version_and_position(client: redis.Redis, version_key: str, log_key: str) -> tuple[int, str]:
    """(version, id of the log's last entry, "0-0" when empty)."""
    version, last = client.eval(VERSION_AND_POSITION, 2, version_key, log_key)
    return int(version or 0), text(last[0][0]) if last else "0-0"
