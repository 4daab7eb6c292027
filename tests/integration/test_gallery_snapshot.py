"""Gallery snapshots: a new worker loads one file (its host's, or the one published in Redis)
and applies the log from its position; a stale, damaged or foreign snapshot is never used,
and the worker falls back to the full read from Redis, the source of truth."""
import shutil
import uuid

import numpy as np
import pytest
import redis
from random_people import enroll_random_people

from app.gallery import GalleryReplica, GalleryStore, NewFace
from app.gallery.search.candidates import CandidateIndex
from app.gallery.snapshots.file import file_digest
from app.gallery.snapshots.shelf import LocalFile
from samples.vectors import near, unit


@pytest.fixture
def client(redis_server):
    return redis.Redis.from_url(redis_server.url)


@pytest.fixture
def store(client):
    return GalleryStore(client, f"snap-{uuid.uuid4().hex[:6]}:", log_maxlen=100)


def replica(store, folder, min_rows=50_000):
    return GalleryReplica(store, CandidateIndex(min_rows=min_rows), cache_dir=folder)


def assert_knows(r, enrolled, rng):
    for pid, vectors in enrolled.items():
        assert r.match(near(vectors[1], rng), 1)[0].person_id == pid


def test_a_new_worker_loads_the_published_snapshot_then_the_log_since(store, tmp_path):
    rng = np.random.default_rng(0)
    enrolled = enroll_random_people(store, rng, faces=25)
    first = replica(store, tmp_path / "host-a", min_rows=500)
    assert first.sync() == "reloaded" and first.loaded_from == "full read"
    published = first.shelf.published()
    version = int(store.redis.get(store.version_key))  # 750 faces and the model record the gallery adopted
    assert published.version == version and version >= 750 and published.chunks >= 1  # what the full read built

    later = enroll_random_people(store, rng, people=5)  # after the snapshot: only in the log
    store.rename(next(iter(enrolled)), "Renamed")
    other_host = replica(store, tmp_path / "host-b", min_rows=500)
    assert other_host.sync() == "reloaded" and other_host.loaded_from == "redis"
    assert other_host.builds == [] and other_host.size == 750 + 5 * 4
    assert other_host.live.index is not None  # the candidate index came with the snapshot
    assert_knows(other_host, {**enrolled, **later}, rng)
    assert other_host.match(near(enrolled[next(iter(enrolled))][0], rng), 1)[0].name == "Renamed"

    sibling = replica(store, tmp_path / "host-b", min_rows=500)  # the second worker of that host: its file
    assert sibling.sync() == "reloaded" and sibling.loaded_from == "local" and sibling.builds == []
    assert_knows(sibling, later, rng)
    assert list(sibling.shelf.local(sibling.gallery))[0].path.stat().st_ino == \
        list(other_host.shelf.local(other_host.gallery))[0].path.stat().st_ino  # one file, shared


def test_a_snapshot_older_than_the_log_falls_back_to_the_full_read(store, tmp_path):
    rng = np.random.default_rng(1)
    enrolled = enroll_random_people(store, rng, people=10)
    replica(store, tmp_path / "a").sync()  # publishes at version 41 (40 faces, the model record adopted)
    for i in range(300):  # more changes than the log keeps (maxlen 100): the snapshot can't catch up
        store.create_person(f"extra {i}", [NewFace(unit(1, rng)[0])])
    assert store.redis.xlen(store.log_key) < 300
    late = replica(store, tmp_path / "b")
    assert late.sync() == "reloaded" and late.loaded_from == "full read"
    assert late.size == 40 + 300
    assert_knows(late, enrolled, rng)
    assert late.shelf.published().version == int(store.redis.get(store.version_key))  # the fresher one replaced it


def test_a_damaged_published_snapshot_falls_back_to_the_full_read(store, client, tmp_path):
    rng = np.random.default_rng(2)
    enrolled = enroll_random_people(store, rng, people=10)
    replica(store, tmp_path / "a").sync()
    published = replica(store, tmp_path / "x").shelf.published()
    key = f"{store.prefix}gallery:snapshot:{published.digest[:16]}:0"
    client.setrange(key, 200, b"\x00\x01\x02")  # a few bytes of the matrix flipped
    r = replica(store, tmp_path / "b")
    assert r.sync() == "reloaded" and r.loaded_from == "full read"
    assert_knows(r, enrolled, rng)
    after = replica(store, tmp_path / "c")  # the damaged one was withdrawn, a sound one published
    assert after.sync() == "reloaded" and after.loaded_from == "redis"
    assert_knows(after, enrolled, rng)


def test_a_damaged_or_foreign_local_file_is_removed_not_used(store, client, tmp_path):
    rng = np.random.default_rng(3)
    enroll_random_people(store, rng, people=10)
    folder = tmp_path / "host"
    first = replica(store, folder)
    first.sync()
    client.delete(first.shelf.manifest_key)  # only the host's file is left to load from
    file = first.shelf.local(first.gallery)[0].path
    data = bytearray(file.read_bytes())
    data[100] ^= 0xFF
    file.write_bytes(bytes(data))
    r = replica(store, folder)
    assert r.sync() == "reloaded" and r.loaded_from == "full read"
    assert file_digest(file) == LocalFile.of(file).digest  # the damaged file was replaced by a sound build

    # the same prefix on a flushed Redis is another gallery: its old files are not used
    client.delete(*client.keys(store.prefix + "*"))
    again = enroll_random_people(store, rng, people=3)
    fresh = replica(store, folder)
    assert fresh.sync() == "reloaded" and fresh.loaded_from == "full read" and fresh.gallery != r.gallery
    assert fresh.size == 12
    assert_knows(fresh, again, rng)


def test_a_fresh_snapshot_is_published_not_one_per_compaction(store, tmp_path, monkeypatch):
    from app.gallery import replica as replica_module
    rng = np.random.default_rng(5)
    enroll_random_people(store, rng, people=10)
    worker = replica(store, tmp_path / "a")
    worker.sync()
    first = worker.shelf.published()
    enroll_random_people(store, rng, people=10)  # 40 changes: more than a quarter of the 100 the log keeps
    worker.sync()
    assert worker.compact()
    assert not worker.publish()  # published less than PUBLISH_EVERY_S ago: Redis keeps one copy
    monkeypatch.setattr(replica_module, "PUBLISH_EVERY_S", 0)
    assert worker.publish()
    assert worker.shelf.published().version == first.version + 40
    assert store.redis.ttl(worker.shelf.chunk_key(first.digest, 0)) > 0  # the replaced one expires


def test_a_shared_cache_folder_others_can_write_is_not_trusted(store, tmp_path):
    rng = np.random.default_rng(6)
    enrolled = enroll_random_people(store, rng, people=3)
    folder = tmp_path / "open"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    r = replica(store, folder)
    try:
        assert r.sync() == "reloaded"
        assert r.shelf.folder != folder and not any(folder.iterdir())  # a private folder instead
        assert_knows(r, enrolled, rng)
    finally:
        shutil.rmtree(r.shelf.folder, ignore_errors=True)
