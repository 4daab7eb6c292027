"""A gallery snapshot file damaged while a worker uses it (issue 23, hole 7): a flipped bit in
a vector row, and the file cut to 4 KB. The worker read the file whole into its own memory,
checksum included, so neither changes an answer nor kills it (a mapped file did both: a
stranger matched at distance 0.0, and the workers died of SIGBUS). Real Redis."""
import subprocess
import sys
import uuid

import numpy as np
import pytest
import redis
from random_people import enroll_random_people

from app.gallery import GalleryReplica, GalleryStore
from app.gallery.search.candidates import CandidateIndex
from app.gallery.snapshots.file import Snapshot
from samples.vectors import near, unit


@pytest.fixture
def loaded(redis_server, tmp_path):
    """(a worker's replica loaded from its host's snapshot file, the people enrolled, the file)."""
    store = GalleryStore(redis.Redis.from_url(redis_server.url), f"snap-{uuid.uuid4().hex[:6]}:", log_maxlen=100)
    rng = np.random.default_rng(0)
    enrolled = enroll_random_people(store, rng, faces=25)
    first = GalleryReplica(store, CandidateIndex(min_rows=500), cache_dir=tmp_path)
    assert first.sync() == "reloaded"
    sibling = GalleryReplica(store, CandidateIndex(min_rows=500), cache_dir=tmp_path)
    assert sibling.sync() == "reloaded" and sibling.loaded_from == "local"
    return sibling, enrolled, sibling.live.snap.path


def test_a_bit_flipped_in_the_file_in_use_changes_no_answer(loaded):
    """Hole 7: one bit flipped in a vector row of the snapshot in use: no stranger matches."""
    replica, enrolled, path = loaded
    rng = np.random.default_rng(1)
    stranger = np.abs(unit(1, rng)[0])   # every component positive: a huge one in any row would win
    before = replica.match(stranger, 1)[0].distance
    offset = Snapshot(path)._footer()["sections"]["vectors"][0]
    with open(path, "r+b") as f:
        for row in range(0, 700, 7):   # the exponent's top bit of the first value of many rows
            f.seek(offset + row * 4 * replica.live.snap.meta.dim + 3)
            byte = f.read(1)[0]
            f.seek(-1, 1)
            f.write(bytes([byte ^ 0x40]))
    after = replica.match(stranger, 1)[0]
    assert after.distance == pytest.approx(before, abs=1e-5) and after.distance > 0.5
    pid, vectors = next(iter(enrolled.items()))
    assert replica.match(near(vectors[1], rng), 1)[0].person_id == pid


def test_a_snapshot_cut_short_in_use_does_not_kill_the_worker(loaded):
    """Hole 7: the file cut to 4 KB while a process holds it open: it reads every row, no SIGBUS."""
    _, _, path = loaded
    script = ("import sys, os; from app.gallery.snapshots.file import Snapshot; s = Snapshot(sys.argv[1]); "
              "os.truncate(sys.argv[1], 4096); print(float(abs(s.vectors).sum()) > 0)")
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "True", (done.returncode, done.stderr[-500:])


def test_snapshots_of_earlier_model_generations_are_pruned(loaded):
    """Also noticed: files of the gallery's earlier model generations are removed with older versions."""
    replica, _, path = loaded
    base, _, generation = replica.gallery.rpartition("g")
    earlier = path.with_name(f"{base}g{int(generation) - 1}-000000000001-{'0' * 64}.snap")
    later = path.with_name(f"{base}g{int(generation) + 1}-000000000001-{'1' * 64}.snap")
    other = path.with_name(f"ffffffffffffffffg{int(generation) - 1}-000000000001-{'2' * 64}.snap")
    for file in (earlier, later, other):
        file.write_bytes(b"x")
    replica.shelf.prune(replica.gallery, keep=path)
    assert path.exists() and later.exists() and other.exists() and not earlier.exists()
