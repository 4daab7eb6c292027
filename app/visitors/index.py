"""This worker's copy of the unknown visitors' sightings (vector and visitor of each), kept in
step with Redis (app/visitors/store.py) from its change log, one round trip when nothing
changed: which visitor is nearest to a new unknown face. Its size is bounded by
VISITOR_MAX_SIGHTINGS."""
from collections.abc import Set as AbstractSet
from typing import Any

import numpy as np

from app.gallery.changelog import Follower
from app.gallery.codec import BadVector, decode_vector, text
from app.gallery.search.matching import distances
from app.visitors.store import VisitorStore


class VisitorIndex(Follower):
    def __init__(self, store: VisitorStore):
        super().__init__(store.changelog)
        self.store = store
        self.version, self.last_id = -1, ""   # the log position of this copy (-1: not loaded)
        self.vectors = np.zeros((256, store.dim), np.float32)
        self.sids: list[str] = []
        self.vids: list[str] = []
        self.row: dict[str, int] = {}

    @property
    def size(self) -> int:
        return len(self.sids)

    def joinable(self, embedding: np.ndarray, within: float, exclude: AbstractSet[str] = frozenset(),
                 without: str | None = None) -> list[tuple[str, float]]:
        """(visitor id, distance of its nearest sighting) of each visitor, nearest first, that
        `embedding` may join: within `within` of its nearest sighting and of most (more than
        half) of its sightings, so that a face near one sighting of a visitor (a chain of
        look-alikes) does not join it. Leaves out the visitors in `exclude` and the sighting
        `without` (the one `embedding` will replace)."""
        with self.lock:
            d = distances(embedding, self.vectors[:len(self.sids)])
            if without is not None and without in self.row:
                d[self.row[without]] = np.inf
            near = np.flatnonzero(d <= within)
            if not len(near):
                return []
            vids = np.asarray(self.vids, dtype=object)
            found = []
            for vid in {self.vids[row] for row in near} - set(exclude):
                members = d[(vids == vid) & np.isfinite(d)]
                if 2 * int((members <= within).sum()) > len(members):
                    found.append((vid, float(members.min())))
        return sorted(found, key=lambda pair: pair[1])

    def _following(self) -> "VisitorIndex | None":
        return self if self.version >= 0 else None

    def _reload(self) -> None:
        snapshot = self.store.read_all()
        self.sids, self.vids, self.row = [], [], {}
        for sid, vid, vector in zip(snapshot.sightings, snapshot.visitors, snapshot.vectors):
            self._add(sid, vid, vector)
        self.version, self.last_id = snapshot.version, snapshot.last_id

    def apply(self, entry_id: str, entry: dict[str, Any]) -> None:
        """One entry of the visitors' log (app/visitors/visitors.lua); every kind is idempotent."""
        op, sid, vid = text(entry["op"]), text(entry["sid"]), text(entry["vid"])
        if op in ("add", "update"):   # update: a visit's sighting refined (a new vector, maybe a new visitor)
            try:
                self._add(sid, vid, decode_vector(entry["vec"], self.store.dim), replace=op == "update")
            except BadVector:
                pass
        elif op == "move" and sid in self.row:
            self.vids[self.row[sid]] = vid
        elif op == "remove":
            self._remove(sid)

    def _add(self, sid: str, vid: str, vector: np.ndarray, replace: bool = False) -> None:
        if sid in self.row:
            self.vids[self.row[sid]] = vid
            if replace:
                self.vectors[self.row[sid]] = vector
            return
        if len(self.sids) == len(self.vectors):
            self.vectors = np.concatenate([self.vectors, np.zeros_like(self.vectors)])
        self.vectors[len(self.sids)] = vector
        self.row[sid] = len(self.sids)
        self.sids.append(sid)
        self.vids.append(vid)

    def _remove(self, sid: str) -> None:
        """Swap the last row into the removed one: O(1)."""
        i = self.row.pop(sid, None)
        if i is None:
            return
        last = len(self.sids) - 1
        if i != last:
            self.vectors[i] = self.vectors[last]
            self.sids[i], self.vids[i] = self.sids[last], self.vids[last]
            self.row[self.sids[i]] = i
        self.sids.pop()
        self.vids.pop()
        if len(self.vectors) > 1024 and len(self.sids) < len(self.vectors) // 4:  # give memory back after trims
            self.vectors = self.vectors[:len(self.vectors) // 2].copy()
