"""What a worker matches against: a snapshot file and the changes logged since it (faces added,
replaced and removed, people removed and renamed), searched whole or through the candidate
index; every answer is brute force's, with exact distances (no Redis: the snapshot is written
to tmp_path from the same changes, app/gallery/snapshots/builder.py)."""
import logging

import numpy as np
import pytest
from galleries import GALLERY, brute_force, gallery_of

from app.gallery.search.candidates import CandidateIndex
from app.gallery.search.live import LiveGallery
from app.gallery.search.matching import rank_people
from app.gallery.snapshots import builder
from app.gallery.snapshots.file import Snapshot
from samples.vectors import near, unit

WHOLE = CandidateIndex(min_rows=10**9)   # small galleries: the snapshot is scanned whole
INDEXED = CandidateIndex(min_rows=1000)  # the candidate path


def random_people(rng, count, faces, start=0):
    return {f"p{i:04d}": (f"person {i}", {f"f{i}-{j}": v for j, v in enumerate(unit(faces, rng))})
            for i in range(start, start + count)}


def assert_like_brute_force(live, people, queries, k=3, removed=frozenset()):
    """Rank 1 is brute force's (person, face, distance); every distance is exact, nearest first."""
    matrix, labels, fids = brute_force(people, removed)
    for q in queries:
        exact = rank_people(q, matrix, labels, k)
        found = live.nearest(q, k)
        assert (found[0][0], found[0][3]) == (exact[0][0], fids[exact[0][2]])
        assert len({pid for pid, *_ in found}) == len(found) == min(k, len(set(labels)))
        assert [d for _, _, d, _ in found] == sorted(d for _, _, d, _ in found)
        for pid, name, distance, fid in found:
            assert people[pid][0] == name and fid in people[pid][1]
            assert distance == pytest.approx(float(np.linalg.norm(people[pid][1][fid] - q)), abs=1e-5)


@pytest.mark.parametrize("settings, count, faces", [(WHOLE, 40, 3), (INDEXED, 300, 8)], ids=["whole", "indexed"])
def test_changes_since_the_snapshot_are_matched_like_brute_force(tmp_path, settings, count, faces):
    rng = np.random.default_rng(0)
    people = random_people(rng, count, faces)
    live, log = gallery_of(tmp_path, people, settings)
    assert (live.index is not None) == (settings is INDEXED) and live.size == count * faces and live.changes == 0
    pids = list(people)
    probes = [near(people[pid][1][f"f{i}-{i % faces}"], rng) for i, pid in enumerate(pids[:30])]
    assert_like_brute_force(live, people, probes + list(unit(10, rng)))

    newcomers = random_people(rng, 5, 2, start=count)
    for pid, (name, faces_of) in newcomers.items():                  # people new since the snapshot
        log.add(live, pid, name, faces_of)
    people.update(newcomers)
    replaced = pids[0], "f0-0", unit(1, rng)[0]                       # one face given a new vector
    log.add(live, replaced[0], people[replaced[0]][0], {replaced[1]: replaced[2]})
    people[replaced[0]][1][replaced[1]] = replaced[2]
    live.apply(*log.entry("remove", pids[1], "f1-0"))                # one face removed
    del people[pids[1]][1]["f1-0"]
    live.apply(*log.entry("remove_person", pids[2]))                 # one person removed
    live.apply(*log.entry("rename", pids[3], name="Renamed Person"))
    people[pids[3]] = ("Renamed Person", people[pids[3]][1])
    removed = {pids[2]}

    assert live.size == count * faces + 10 - 1 - faces and live.changes > 0
    assert live.person_of_face("f1-0") is None and live.person_of_face("f2-1") is None
    assert live.person_of_face(f"f{count}-1") == f"p{count:04d}" and live.person_of_face("f0-0") == pids[0]
    changed = [near(v, rng, 0.5) for pid in list(newcomers) + pids[:4] for v in people[pid][1].values()]
    assert_like_brute_force(live, people, changed + probes + list(unit(10, rng)), removed=removed)
    assert all(pid != pids[2] for q in changed for pid, *_ in live.nearest(q, 3))

    path = tmp_path / "compacted.snap"                                # the changes folded into a new snapshot
    compacted = LiveGallery(Snapshot(path, builder.from_live(live.copy(), path, GALLERY, settings)), settings)
    assert compacted.changes == 0 and compacted.size == live.size and compacted.last_id == live.last_id
    assert_like_brute_force(compacted, people, changed + probes, removed=removed)


def test_a_copy_takes_changes_without_touching_the_original(tmp_path):
    rng = np.random.default_rng(1)
    people = random_people(rng, 10, 2)
    live, log = gallery_of(tmp_path, people, WHOLE)
    copy = live.copy()
    log.add(copy, "p9999", "newcomer", {"new": unit(1, rng)[0]})
    copy.apply(*log.entry("remove_person", "p0000"))
    assert copy.size == 20 + 1 - 2 and live.size == 20 and live.changes == 0
    assert live.person_of_face("new") is None and live.person_of_face("f0-0") == "p0000"
    assert copy.snap is live.snap  # the snapshot is shared, never written to


def test_a_change_the_snapshot_had_seen_changes_nothing(tmp_path):
    rng = np.random.default_rng(2)
    people = random_people(rng, 10, 2)
    live, log = gallery_of(tmp_path, people, WHOLE)
    log.add(live, "p0003", "person 3", people["p0003"][1])           # the log is read again from an older position
    live.apply(*log.entry("remove", "p0004", "no-such-face"))
    live.apply(*log.entry("remove_person", "nobody"))
    assert live.changes == 0 and live.size == 20


def test_a_malformed_vector_in_the_log_is_skipped_and_logged(tmp_path, caplog):
    rng = np.random.default_rng(3)
    live, log = gallery_of(tmp_path, random_people(rng, 5, 2), WHOLE)
    with caplog.at_level(logging.ERROR, logger="app.gallery.search.live"):
        live.apply(*log.entry("add", "p0000", "bad", "person 0", b"\x00" * 100))
    assert "skipped face bad of person p0000" in caplog.text and live.person_of_face("bad") is None
    assert live.size == 10 and live.changes == 0
