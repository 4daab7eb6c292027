"""The one change-log follower (app/gallery/changelog.py) that the gallery replica, the visitor
index and the negative examples share: one round trip when nothing changed, the new entries
applied in order (a page at a time off the request path), a whole reload when the log lost
entries the copy had not read, when the log's record says so, or, for a log without entries,
whenever the version moved."""
import uuid
from typing import Any

import pytest
import redis

from app.gallery.changelog import CatchUp, ChangeLog, Follower, Sync
from app.gallery.codec import text


@pytest.fixture
def client(redis_server):
    return redis.Redis.from_url(redis_server.url)


class Writer:
    """A toy store: every change appends a value to a list, bumps the version and logs it."""

    def __init__(self, client: redis.Redis, maxlen: int = 1000):
        prefix = f"log-{uuid.uuid4().hex[:6]}:"
        self.client, self.maxlen = client, maxlen
        self.values_key, self.version_key, self.log_key = prefix + "values", prefix + "version", prefix + "log"

    def add(self, value: str) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.rpush(self.values_key, value)
            pipe.incr(self.version_key)
            pipe.xadd(self.log_key, {"value": value}, maxlen=self.maxlen, approximate=False)
            pipe.execute()


class ListCopy(Follower):
    def __init__(self, changelog: ChangeLog, writer: Writer):
        super().__init__(changelog)
        self.writer = writer
        self.version, self.last_id = -1, ""
        self.values: list[str] = []
        self.reloads = 0

    def _following(self) -> "ListCopy | None":
        return self if self.version >= 0 else None

    def _reload(self) -> None:
        position = self.changelog.position()
        self.values = [text(v) for v in self.writer.client.lrange(self.writer.values_key, 0, -1)]
        self.version, self.last_id = position.version, position.last_id
        self.reloads += 1

    def apply(self, entry_id: str, entry: dict[str, Any]) -> None:
        self.values.append(text(entry["value"]))


def test_a_copy_loads_then_applies_only_what_is_new(client):
    writer = Writer(client)
    copy = ListCopy(ChangeLog(client, writer.version_key, writer.log_key), writer)
    writer.add("a")
    assert copy.sync() == Sync.RELOADED == "reloaded" and copy.values == ["a"]
    assert copy.sync() == "current"
    for value in "bcd":
        writer.add(value)
    assert copy.sync() == "updated" and copy.values == ["a", "b", "c", "d"] and copy.reloads == 1
    assert copy.version == 4


def test_a_long_catch_up_reads_page_by_page(client):
    writer = Writer(client)
    changelog = ChangeLog(client, writer.version_key, writer.log_key)
    copy = ListCopy(changelog, writer)
    copy.sync()
    for i in range(25):
        writer.add(str(i))
    assert changelog.catch_up(copy, page=4) is CatchUp.UPDATED
    assert copy.values == [str(i) for i in range(25)] and copy.version == 25 and copy.reloads == 1
    assert changelog.catch_up(copy, page=4) is CatchUp.CURRENT


def test_entries_trimmed_before_the_copy_read_them_reload_it(client):
    writer = Writer(client, maxlen=3)
    copy = ListCopy(ChangeLog(client, writer.version_key, writer.log_key), writer)
    copy.sync()
    for value in "abcdef":
        writer.add(value)
    assert copy.changelog.catch_up(copy) is CatchUp.GAP
    assert copy.sync() == "reloaded" and copy.values == list("abcdef") and copy.reloads == 2


def test_a_log_without_entries_reloads_whenever_its_version_moves(client):
    writer = Writer(client)
    copy = ListCopy(ChangeLog(client, writer.version_key), writer)
    writer.add("a")
    assert copy.sync() == "reloaded" and copy.sync() == "current"
    writer.add("b")
    assert copy.sync() == "reloaded" and copy.values == ["a", "b"] and copy.reloads == 2


def test_the_record_read_with_the_log_can_refuse_the_copy_or_make_it_reload(client):
    writer = Writer(client)
    record, people = writer.log_key + ":record", writer.log_key + ":people"
    client.hset(record, "generation", 1)
    client.sadd(people, "p")
    seen: list[tuple[dict, int]] = []

    def accepts(fields: dict, count: int) -> bool:
        seen.append((fields, count))
        if fields.get(b"state") == b"refused":
            raise PermissionError("another model")
        return fields.get(b"generation") == b"1"

    copy = ListCopy(ChangeLog(client, writer.version_key, writer.log_key, (record, people), accepts), writer)
    writer.add("a")
    assert copy.sync() == "reloaded" and seen[-1] == ({b"generation": b"1"}, 1)
    writer.add("b")
    assert copy.sync() == "updated"
    client.hset(record, "generation", 2)
    assert copy.changelog.catch_up(copy) is CatchUp.GAP
    client.hset(record, "state", "refused")
    with pytest.raises(PermissionError):
        copy.sync()
