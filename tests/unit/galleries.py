"""Gallery snapshots made without Redis, for the unit tier: an empty snapshot written section by
section, the changes of the Redis log as LiveGallery receives them, and a snapshot of people
built from those changes by app/gallery/snapshots/builder.py (the path a compaction takes)."""
from pathlib import Path

import numpy as np

from app.gallery.codec import encode_vector
from app.gallery.search.candidates import CandidateIndex
from app.gallery.search.live import LiveGallery
from app.gallery.snapshots import builder
from app.gallery.snapshots.file import Snapshot, SnapshotWriter

GALLERY = "unit-gallery"


def empty_snapshot(path: Path, dim: int = 128) -> str:
    """An empty gallery's snapshot at `path`; its sha256."""
    writer = SnapshotWriter(path)
    for name, array in [("vectors", np.zeros((0, dim), "<f4")), ("codes", np.zeros((0, 0), np.uint8)),
                        ("face_ids", np.zeros(0, "S1")), ("person", np.zeros(0, np.int32)),
                        ("sorted_fids", np.zeros(0, "S1")), ("fid_rows", np.zeros(0, np.int32)),
                        ("pids", np.zeros(0, "S1")), ("starts", np.zeros(1, np.int64)),
                        ("name_ends", np.zeros(0, np.int64)), ("names", np.zeros(0, np.uint8)),
                        ("pq", np.zeros(0, np.uint8))]:
        writer.add(name, array)
    return writer.finish({"gallery": GALLERY, "version": 0, "last_id": "0-0", "dim": dim, "faces": 0, "people": 0,
                          "problems": [], "index_trained_rows": 0})


class Log:
    """Entries of the gallery's change log (values as Redis gives them: bytes), numbered in order."""

    def __init__(self):
        self.count = 0

    def entry(self, op: str, pid: str, fid: str = "", name: str = "", vec: bytes = b"") -> tuple[str, dict]:
        self.count += 1
        return f"{self.count}-0", {"op": op.encode(), "pid": pid.encode(), "fid": fid.encode(),
                                   "name": name.encode(), "vec": vec}

    def add(self, live: LiveGallery, pid: str, name: str, faces: dict) -> None:
        for fid, vector in faces.items():
            live.apply(*self.entry("add", pid, fid, name, encode_vector(vector, len(vector))))


def gallery_of(folder: Path, people: dict, settings: CandidateIndex, dim: int = 128) -> tuple[LiveGallery, Log]:
    """A LiveGallery over a snapshot holding `people` ({pid: (name, {fid: vector})}), written by
    builder.from_live from the changes that enrolled them; and the log to apply more changes."""
    empty = folder / "empty.snap"
    live, log = LiveGallery(Snapshot(empty, empty_snapshot(empty, dim)), settings), Log()
    for pid, (name, faces) in people.items():
        log.add(live, pid, name, faces)
    path = folder / "people.snap"
    digest = builder.from_live(live, path, GALLERY, settings)
    return LiveGallery(Snapshot(path, digest), settings), log


def brute_force(people: dict, removed: set = frozenset()) -> tuple[np.ndarray, list[str], list[str]]:
    """(matrix, person of each row, face id of each row) of everyone not removed."""
    rows = [(pid, fid, v) for pid, (_, faces) in people.items() if pid not in removed for fid, v in faces.items()]
    return np.array([v for _, _, v in rows]), [p for p, _, _ in rows], [f for _, f, _ in rows]
