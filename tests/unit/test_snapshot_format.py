"""The snapshot file: written section by section, read back as read-only arrays with lookups
by id; a damaged, truncated or foreign file is refused (BadSnapshot), never half-read."""
import json

import numpy as np
import pytest
from galleries import GALLERY, empty_snapshot, gallery_of

from app.gallery.search.candidates import CandidateIndex
from app.gallery.snapshots.file import MAGIC, BadSnapshot, Snapshot, SnapshotWriter, file_digest
from samples.vectors import unit


def people_of(rng, count=4, faces=3):
    names = ["Zoë", "Ada Lovelace", "李小龍", "Bob"]
    return {f"p{i:02d}": (names[i % len(names)], {f"f{i}-{j}": v for j, v in enumerate(unit(faces, rng))})
            for i in range(count)}


def test_an_empty_gallery_round_trips(tmp_path):
    digest = empty_snapshot(tmp_path / "e.snap", dim=256)
    assert digest == file_digest(tmp_path / "e.snap")
    snap = Snapshot(tmp_path / "e.snap", digest)
    assert (snap.meta.gallery, snap.meta.dim, snap.meta.faces, snap.meta.people) == (GALLERY, 256, 0, 0)
    assert snap.vectors.shape == (0, 256) and snap.row_of("f") is None and snap.code_of("p") is None


def test_people_faces_and_names_read_back_by_id(tmp_path):
    people = people_of(np.random.default_rng(0))
    live, _ = gallery_of(tmp_path, people, CandidateIndex(min_rows=10**9))
    snap = live.snap
    assert (snap.meta.faces, snap.meta.people, snap.meta.dim) == (12, 4, 128)
    assert [snap.pid(c) for c in range(4)] == sorted(people)  # a person's number is their place
    for pid, (name, faces) in people.items():
        code = snap.code_of(pid)
        assert snap.pid(code) == pid and snap.name(code) == name
        rows = snap.rows_of(code)
        assert len(rows) == len(faces) and all(snap.person[r] == code for r in rows)
        for fid, vector in faces.items():
            row = snap.row_of(fid)
            assert row in rows and snap.face_ids[row].decode() == fid
            np.testing.assert_array_equal(snap.vectors[row], vector)
    assert snap.row_of("nobody") is None and snap.code_of("nobody") is None
    assert snap.row_of("x" * 500) is None  # longer than any stored id
    assert not snap.vectors.flags.writeable  # read-only: workers share what they read, never write it


def test_sections_are_appended_in_pieces_and_checked_for_shape(tmp_path):
    writer = SnapshotWriter(tmp_path / "p.snap")
    writer.begin("vectors", "<f4", (4,))
    writer.append(np.ones((2, 4)))
    writer.append(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"rows of shape \(3,\), expected \(4,\)"):
        writer.append(np.zeros((1, 3)))
    writer.end()
    assert writer.sections["vectors"][2] == [5, 4] and writer.sections["vectors"][0] % 64 == 0
    writer.abandon()
    assert not (tmp_path / "p.snap").exists()


def damaged(tmp_path, data: bytes, name="bad.snap"):
    (tmp_path / name).write_bytes(data)
    return tmp_path / name


def footer_of(data: bytes) -> dict:
    length = int.from_bytes(data[-16:-8], "little")
    return json.loads(data[-16 - length:-16])


def with_footer(data: bytes, footer: dict) -> bytes:
    length = int.from_bytes(data[-16:-8], "little")
    text = json.dumps(footer).encode()
    return data[:-16 - length] + text + len(text).to_bytes(8, "little") + MAGIC


@pytest.fixture
def sound(tmp_path):
    live, _ = gallery_of(tmp_path, people_of(np.random.default_rng(1)), CandidateIndex(min_rows=10**9))
    return live.snap.path.read_bytes()


def test_damaged_files_are_refused_saying_how(tmp_path, sound):
    footer = footer_of(sound)
    flipped = bytearray(sound)
    flipped[200] ^= 0xFF
    cases = {
        "not a gallery snapshot, or cut short": [sound[:-5], b"", b"PNG" + sound[3:], sound[:len(sound) // 2]],
        "footer length out of range": [sound[:-16] + (10**9).to_bytes(8, "little") + MAGIC],
        "unreadable footer": [sound[:-16 - 5] + b"}}}}}" + sound[-16:]],
        "snapshot format 1, expected 2": [with_footer(sound, {**footer, "format": 1})],
        "lies outside the file": [with_footer(sound, {**footer, "sections": {
            **footer["sections"], "vectors": [len(sound), "<f4", [12, 128]]}})],
        "sections disagree": [with_footer(sound, {**footer, "faces": 11})],
        "malformed footer": [with_footer(sound, {k: v for k, v in footer.items() if k != "dim"})],
    }
    for says, variants in cases.items():
        for data in variants:
            with pytest.raises(BadSnapshot, match=says):
                Snapshot(damaged(tmp_path, data))
    path = damaged(tmp_path, bytes(flipped))
    Snapshot(path)  # a flipped byte inside a section is only seen by the checksum ...
    with pytest.raises(BadSnapshot, match="do not match their checksum"):
        Snapshot(path, file_digest(damaged(tmp_path, sound, "sound.snap")))  # ... which the shelf always gives
    with pytest.raises(BadSnapshot, match="cannot be read"):
        Snapshot(tmp_path / "missing.snap")


def test_a_truncated_or_mislabelled_file_is_refused(tmp_path):
    writer = SnapshotWriter(tmp_path / "s.snap")
    vectors = unit(3, np.random.default_rng(4))
    writer.add("vectors", vectors)
    digest = writer.finish({"gallery": "g", "version": 1, "last_id": "0-0", "dim": vectors.shape[1], "faces": 3,
                            "people": 0})
    data = (tmp_path / "s.snap").read_bytes()
    with pytest.raises(BadSnapshot, match="malformed footer"):  # no face ids, persons, names...
        Snapshot(tmp_path / "s.snap", digest)
    (tmp_path / "cut.snap").write_bytes(data[:-20])
    with pytest.raises(BadSnapshot, match="cut short"):
        Snapshot(tmp_path / "cut.snap")
    with pytest.raises(BadSnapshot, match="checksum"):
        Snapshot(tmp_path / "s.snap", "0" * 64)
