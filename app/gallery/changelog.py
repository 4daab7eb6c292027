"""Reads of a versioned log (the gallery's, the visitors') that must see one moment of Redis:
a version and the log entries after a position, or a version and the log's last position;
for the gallery, with its model record and how many people it has.

They run as read-only Lua scripts (`flags=no-writes`): atomic like MULTI/EXEC, but still
allowed when Redis is full (maxmemory), where Redis refuses every command queued in a MULTI,
reads included, and recognition would stop with it."""
import redis

from app.gallery.codec import text

# KEYS: version, log[, model hash, people set]; ARGV: the exclusive start of the range, and
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


def _pairs(flat: list) -> dict:
    return dict(zip(flat[::2], flat[1::2]))


def _with_record(reply: list, keys: tuple) -> tuple:
    return (_pairs(reply[2]), reply[3]) if keys else ()


def version_and_changes(client: redis.Redis, version_key: str, log_key: str, after_id: str,
                        *record_keys: str, count: int | None = None) -> tuple:
    """(version, [(entry id, {field: value})] of the log entries after `after_id` (the first
    `count` of them)[, the hash at record_keys[0] as a dict, the size of the set at record_keys[1]])."""
    reply = client.eval(VERSION_AND_CHANGES, 2 + len(record_keys), version_key, log_key, *record_keys,
                        f"({after_id}", "" if count is None else str(count))
    entries = [(entry_id, _pairs(flat)) for entry_id, flat in reply[1]]
    return (int(reply[0] or 0), entries, *_with_record(reply, record_keys))


def version_and_position(client: redis.Redis, version_key: str, log_key: str, *record_keys: str) -> tuple:
    """(version, id of the log's last entry ("0-0" when empty)[, the hash at record_keys[0] as
    a dict, the size of the set at record_keys[1]])."""
    reply = client.eval(VERSION_AND_POSITION, 2 + len(record_keys), version_key, log_key, *record_keys)
    last = text(reply[1][0][0]) if reply[1] else "0-0"
    return (int(reply[0] or 0), last, *_with_record(reply, record_keys))
