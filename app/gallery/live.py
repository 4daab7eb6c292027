"""What one worker matches against: a snapshot (app/gallery/snapshot.py: read-only, mapped,
shared by the workers of a host) and the changes logged since it was written, kept beside
it: faces added or replaced since (the tail, a small matrix searched whole), snapshot rows
that no longer count (dead: removed, or replaced by a tail row), new names. The snapshot is
never written to; a background compaction writes a new one and the replica swaps to it
(app/gallery/replica.py), so the tail stays small and no request pays for a rebuild.

People are numbered: a snapshot's people by their place in its sorted ids, people new since
then after those. Not thread-safe: the replica holds its lock around every call."""
import logging

import numpy as np

from app.gallery import candidates as pq
from app.gallery.candidates import CandidateIndex
from app.gallery.codec import BadVector, decode_vector, text
from app.gallery.matching import distances, nearest_per_label
from app.gallery.snapshot import Snapshot

log = logging.getLogger(__name__)


class LiveGallery:
    def __init__(self, snap: Snapshot, settings: CandidateIndex):
        self.snap, self.settings = snap, settings
        self.quantizer = pq.deserialize(snap.pq_bytes)
        self.index = pq.search_index(self.quantizer, snap.codes)
        self.version, self.last_id, self.dim = snap.meta.version, snap.meta.last_id, snap.meta.dim
        self.dead = np.zeros(snap.meta.faces, bool)
        self.dead_count = 0
        self.tail = np.zeros((16, self.dim), np.float32)
        self.tail_codes = np.zeros(16, np.int64)
        self.tail_fids: list[str] = []
        self.tail_row: dict[str, int] = {}      # fid -> row of the tail
        self.names: dict[str, str] = {}         # pid -> name given since the snapshot
        self.removed: set[str] = set()          # pids removed since the snapshot (and not back)
        self.extra: list[str] = []              # people new since the snapshot: number = snapshot's count + i
        self.extra_code: dict[str, int] = {}

    @property
    def size(self) -> int:
        return self.snap.meta.faces - self.dead_count + len(self.tail_fids)

    @property
    def changes(self) -> int:
        """Rows that differ from the snapshot: what a compaction would fold in."""
        return self.dead_count + len(self.tail_fids)

    def copy(self) -> "LiveGallery":
        """An independent copy of the changes (small), sharing the snapshot and its index."""
        other = LiveGallery.__new__(LiveGallery)
        other.__dict__.update(self.__dict__)
        other.dead, other.tail, other.tail_codes = self.dead.copy(), self.tail.copy(), self.tail_codes.copy()
        other.tail_fids, other.tail_row = list(self.tail_fids), dict(self.tail_row)
        other.names, other.removed = dict(self.names), set(self.removed)
        other.extra, other.extra_code = list(self.extra), dict(self.extra_code)
        return other

    # --- people -------------------------------------------------------------------------
    def code_of(self, pid: str, create: bool = False) -> int | None:
        code = self.snap.code_of(pid)
        if code is None:
            code = self.extra_code.get(pid)
        if code is None and create:
            code = self.extra_code[pid] = self.snap.meta.people + len(self.extra)
            self.extra.append(pid)
        return code

    def pid_of(self, code: int) -> str:
        people = self.snap.meta.people
        return self.snap.pid(code) if code < people else self.extra[code - people]

    def name_of(self, code: int) -> str:
        pid = self.pid_of(code)
        if pid in self.names:
            return self.names[pid]
        return self.snap.name(code) if code < self.snap.meta.people and pid not in self.removed else ""

    def person_of_face(self, fid: str) -> str | None:
        j = self.tail_row.get(fid)
        if j is not None:
            return self.pid_of(int(self.tail_codes[j]))
        row = self.snap.row_of(fid)
        return None if row is None or self.dead[row] else self.pid_of(int(self.snap.person[row]))

    # --- changes --------------------------------------------------------------------------
    def apply(self, entry_id: str, fields: dict) -> None:
        """One entry of the gallery log (app/gallery/store.py); every kind is idempotent."""
        entry = {text(k): v for k, v in fields.items()}
        op, pid, fid = text(entry["op"]), text(entry["pid"]), text(entry.get("fid", b""))
        if op == "add":
            self.names[pid] = text(entry["name"])
            self.removed.discard(pid)
            try:
                code = self.code_of(pid, create=True) or 0   # create=True: never None
                self._put(fid, code, decode_vector(entry["vec"], self.dim))
            except BadVector as e:
                log.error("gallery: skipped face %s of person %s from the log: %s", fid, pid, e)
        elif op == "remove":
            self._drop(fid)
        elif op == "remove_person":
            self._drop_person(pid)
        elif op == "rename":
            self.names[pid] = text(entry["name"])
        self.last_id = text(entry_id)

    def _put(self, fid: str, code: int, vector: np.ndarray) -> None:
        j = self.tail_row.get(fid)
        if j is not None:
            self.tail[j], self.tail_codes[j] = vector, code
            return
        row = self.snap.row_of(fid)
        if row is not None and not self.dead[row]:
            if self.snap.person[row] == code and np.array_equal(self.snap.vectors[row], vector):
                return  # already so: a logged change the snapshot had seen
            self._kill(row)
        j = len(self.tail_fids)
        if j == len(self.tail):
            self.tail = np.concatenate([self.tail, np.zeros_like(self.tail)])
            self.tail_codes = np.concatenate([self.tail_codes, np.zeros_like(self.tail_codes)])
        self.tail[j], self.tail_codes[j] = vector, code
        self.tail_fids.append(fid)
        self.tail_row[fid] = j

    def _kill(self, row: int) -> None:
        if not self.dead[row]:
            self.dead[row] = True
            self.dead_count += 1

    def _drop(self, fid: str) -> None:
        j = self.tail_row.pop(fid, None)
        if j is None:
            row = self.snap.row_of(fid)
            if row is not None:
                self._kill(row)
            return
        last = len(self.tail_fids) - 1  # move the tail's last row into the hole: O(1)
        if j != last:
            self.tail[j], self.tail_codes[j] = self.tail[last], self.tail_codes[last]
            self.tail_fids[j] = self.tail_fids[last]
            self.tail_row[self.tail_fids[j]] = j
        self.tail_fids.pop()

    def _drop_person(self, pid: str) -> None:
        code = self.code_of(pid)
        self.names.pop(pid, None)
        if code is None:
            return
        self.removed.add(pid)
        for fid in [self.tail_fids[j] for j in np.flatnonzero(self.tail_codes[: len(self.tail_fids)] == code)]:
            self._drop(fid)
        if code < self.snap.meta.people:
            for row in self.snap.rows_of(code):
                self._kill(row)

    # --- matching -------------------------------------------------------------------------
    def nearest(self, query: np.ndarray, k: int) -> list[tuple[str, str, float, str]]:
        """(pid, name, exact distance, fid) of the k nearest people, nearest first."""
        query = np.asarray(query, np.float32)
        n, t = self.snap.meta.faces, len(self.tail_fids)
        tail_d = distances(query, self.tail[:t])
        rows = None
        if self.index is not None and n:
            ranked = self.settings.ranked_rows(self.index, query, n)
            ranked = ranked[~self.dead[ranked]]
            rows = np.sort(ranked[: self.settings.candidates])
            d = distances(query, self.snap.vectors[rows])
            best = min(float(d.min(initial=np.inf)), float(tail_d.min(initial=np.inf)))
            if best > self.settings.sure_distance and len(ranked) > len(rows):
                rows = np.sort(ranked)
                d = distances(query, self.snap.vectors[rows])
            found = self._ranked(d, rows, tail_d, k)
            if len(found) == k or len(found) == self.size:
                return found
        d = distances(query, self.snap.vectors)  # the whole snapshot: small, or too few people among the candidates
        d[self.dead] = np.inf
        return self._ranked(d, None, tail_d, k)

    def _ranked(self, d, rows, tail_d, k):
        codes = self.snap.person[rows] if rows is not None else self.snap.person
        alive = np.isfinite(d)
        if rows is None and not alive.all():
            d, rows, codes = d[alive], np.flatnonzero(alive), codes[alive]
        labels = np.concatenate([codes.astype(np.int64), self.tail_codes[: len(tail_d)]])
        found = []
        for i in nearest_per_label(np.concatenate([d, tail_d]), labels, k):
            code = int(labels[i])
            if i < len(d):
                row = int(rows[i]) if rows is not None else int(i)
                fid = self.snap.face_ids[row].decode()
                found.append((self.pid_of(code), self.name_of(code), float(d[i]), fid))
            else:
                found.append((self.pid_of(code), self.name_of(code), float(tail_d[i - len(d)]),
                              self.tail_fids[i - len(d)]))
        return found
