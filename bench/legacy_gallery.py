"""Today's gallery replica, frozen as it was before snapshots (commit e69a86d): Python lists
and dicts of ids beside a float32 matrix, the whole gallery read from Redis at start-up, and
a candidate index rebuilt inside the request that notices 5% of the rows changed. The
benchmark runs it side by side with app/gallery/replica.py, in the same run, for the "before"
column. Not used by the app."""
import logging

import numpy as np

from app.gallery.changelog import Follower
from app.gallery.codec import BadVector, decode_vector, text
from app.gallery.replica import Match
from app.gallery.search.matching import distances
from app.gallery.store import GalleryStore

log = logging.getLogger(__name__)


def _first_per_label(order, d, labels, k):
    ranked, seen = [], set()
    for i in order:
        label = labels[i]
        if label not in seen:
            seen.add(label)
            ranked.append((label, float(d[i]), int(i)))
            if len(ranked) == k:
                break
    return ranked


def rank_people(query: np.ndarray, matrix: np.ndarray, labels: list, k: int,
                rows: np.ndarray | None = None) -> list[tuple]:
    """[(label, distance, row)] of the k nearest people, nearest first: each person's distance
    is that of their nearest face, at `row` of the matrix. `rows`: only these rows of the
    matrix are looked at (candidates from app/gallery/search/candidates.py)."""
    if rows is not None:
        ranked = rank_people(query, matrix[rows], [labels[r] for r in rows], k)
        if len(ranked) == k or len(rows) >= len(matrix):
            return [(label, d, int(rows[i])) for label, d, i in ranked]
        return rank_people(query, matrix, labels, k)  # fewer people among the candidates than asked
    d = distances(query, matrix)
    # Sorting only the nearest few faces is enough unless they belong to fewer than k people.
    few = min(len(d), 8 * k + 32)
    if few < len(d):
        nearest = np.argpartition(d, few - 1)[:few]
        ranked = _first_per_label(nearest[np.argsort(d[nearest], kind="stable")], d, labels, k)
        if len(ranked) == k:
            return ranked
    return _first_per_label(np.argsort(d, kind="stable"), d, labels, k)


class CandidateIndex:
    def __init__(self, min_rows=50_000, candidates=256, wide=4096, sure_distance=1.0, rebuild_fraction=0.05,
                 sub_quantizers=64):
        self.min_rows, self.candidates, self.wide, self.sure_distance = min_rows, candidates, wide, sure_distance
        self.rebuild_fraction, self.sub_quantizers = rebuild_fraction, sub_quantizers
        self.reset()

    def rank(self, query: np.ndarray, vectors: np.ndarray, count: int, labels: list, k: int) -> list[tuple]:
        """[(label, distance, row)] of the k nearest labels among the first `count` rows,
        nearest first, with exact distances. Widens the candidates once when the nearest is not sure."""
        matrix = vectors[:count]
        rows = self.rows_for(query, vectors, count, k)
        ranked = rank_people(query, matrix, labels, k, rows)
        if rows is not None and ranked and ranked[0][1] > self.sure_distance:
            ranked = rank_people(query, matrix, labels, k, self.rows_for(query, vectors, count, k, wide=True))
        return ranked

    def mark(self, row: int) -> None:
        """Row `row` of the matrix got new content (rows past the snapshot are candidates anyway)."""
        if self.index is not None and row < self.snapshot_rows:
            self.touched.add(row)

    def reset(self):
        self.index, self.snapshot_rows, self.touched = None, 0, set()

    def rows_for(self, query: np.ndarray, vectors: np.ndarray, count: int, k: int,
                 wide: bool = False) -> np.ndarray | None:
        """Row numbers worth an exact look, or None when the whole matrix should be scanned."""
        if count < self.min_rows:
            self.reset()
            return None
        pending = len(self.touched) + max(count - self.snapshot_rows, 0)
        if self.index is None or pending > self.rebuild_fraction * count:
            self._rebuild(vectors, count)
        wanted = max(self.wide if wide else self.candidates, 16 * k)
        _, found = self.index.search(query[None].astype(np.float32), min(wanted, self.snapshot_rows))
        rows = found[0][(found[0] >= 0) & (found[0] < count)]
        extra = [r for r in self.touched if r < count] + list(range(self.snapshot_rows, count))
        return np.unique(np.concatenate([rows, np.asarray(extra, np.int64)])) if extra else rows

    def _rebuild(self, vectors, count):
        import faiss
        index = faiss.IndexPQFastScan(vectors.shape[1], self.sub_quantizers, 4, faiss.METRIC_L2)
        sample = vectors[: count][:: max(1, count // 100_000)]
        index.train(np.ascontiguousarray(sample))
        index.add(np.ascontiguousarray(vectors[:count]))
        self.index, self.snapshot_rows, self.touched = index, count, set()


class LegacyReplica(Follower):
    def __init__(self, store: GalleryStore, candidates: CandidateIndex | None = None):
        super().__init__(store.changelog)
        self.store = store
        self.version, self.last_id = -1, ""   # the log position of this copy (-1: not loaded)
        self.candidates = candidates or CandidateIndex()
        self.vectors = np.zeros((1024, store.dim), np.float32)
        self._count = 0
        self.pids, self.fids = [], []
        self.row = {}           # fid -> row in vectors
        self.faces_of = {}      # pid -> set of fids
        self.names = {}         # pid -> name
        self.problems: list[str] = []   # stored vectors that could not be read, from the last load

    @property
    def size(self) -> int:
        """Enrolled faces in this copy."""
        return self._count

    def match(self, embedding: np.ndarray, k: int) -> list[Match]:
        """The k nearest people, nearest first."""
        with self.lock:
            ranked = self.candidates.rank(embedding, self.vectors, self._count, self.pids, k)
            return [Match(pid, self.names.get(pid, ""), d, self.fids[row]) for pid, d, row in ranked]

    def person_of_face(self, fid: str) -> str | None:
        """Who face `fid` belongs to in this copy, if anyone."""
        with self.lock:
            row = self.row.get(fid)
            return None if row is None else self.pids[row]

    def _following(self) -> "LegacyReplica | None":
        return self if self.version >= 0 else None

    def _reload(self) -> None:
        snapshot = self.store.read_all()
        self._count = 0
        self.candidates.reset()
        self.pids, self.fids, self.row, self.faces_of, self.names = [], [], {}, {}, {}
        for pid, (name, faces) in snapshot.people.items():
            self.names[pid] = name
            for fid, vector in faces.items():
                self._add(pid, fid, vector)
        self.problems = snapshot.problems
        for problem in self.problems:
            log.error("gallery: skipped a stored face that cannot be read: %s", problem)
        self.version, self.last_id = snapshot.version, snapshot.last_id

    def apply(self, entry_id: str, entry: dict) -> None:
        op, pid, fid = text(entry["op"]), text(entry["pid"]), text(entry.get("fid", b""))
        if op == "add":
            self.names[pid] = text(entry["name"])
            try:
                self._add(pid, fid, decode_vector(entry["vec"], self.store.dim))
            except BadVector as e:
                log.error("gallery: skipped face %s of person %s from the log: %s", fid, pid, e)
        elif op == "remove":
            self._remove(fid)
        elif op == "remove_person":
            for face in list(self.faces_of.get(pid, ())):
                self._remove(face)
            self.names.pop(pid, None)
        elif op == "rename":
            self.names[pid] = text(entry["name"])

    def _add(self, pid: str, fid: str, vector: np.ndarray) -> None:
        if fid in self.row:
            self.vectors[self.row[fid]] = vector
            self.candidates.mark(self.row[fid])
            return
        if self._count == len(self.vectors):
            self.vectors = np.concatenate([self.vectors, np.zeros_like(self.vectors)])
        self.vectors[self._count] = vector
        self.candidates.mark(self._count)
        self.row[fid] = self._count
        self.pids.append(pid)
        self.fids.append(fid)
        self.faces_of.setdefault(pid, set()).add(fid)
        self._count += 1

    def _remove(self, fid: str) -> None:
        """Swap the last row into the removed one: O(1)."""
        i = self.row.pop(fid, None)
        if i is None:
            return
        pid = self.pids[i]
        self.faces_of[pid].discard(fid)
        if not self.faces_of[pid]:
            del self.faces_of[pid]
        last = self._count - 1
        if i != last:
            self.vectors[i] = self.vectors[last]
            self.pids[i], self.fids[i] = self.pids[last], self.fids[last]
            self.row[self.fids[i]] = i
            self.candidates.mark(i)
        self.pids.pop()
        self.fids.pop()
        self._count -= 1
