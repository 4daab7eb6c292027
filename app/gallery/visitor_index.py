"""This worker's copy of the unknown visitors' sightings (vector and visitor of each), kept in
step with Redis (app/gallery/visitors.py) from its change log, one round trip when nothing
changed: which visitor is nearest to a new unknown face. Its size is bounded by
VISITOR_MAX_SIGHTINGS."""
from collections.abc import Set as AbstractSet

import numpy as np

from app.gallery.codec import BadVector, decode_vector, text
from app.gallery.log_follower import LogFollower
from app.gallery.matching import distances
from app.gallery.visitors import VisitorStore


class VisitorIndex(LogFollower):
    def __init__(self, store: VisitorStore):
        super().__init__(store)
        self.vectors = np.zeros((256, store.dim), np.float32)
        self.sids: list[str] = []
        self.vids: list[str] = []
        self.row: dict[str, int] = {}

    @property
    def size(self) -> int:
        return len(self.sids)

    def nearest(self, embedding: np.ndarray, exclude: AbstractSet[str] = frozenset()) -> tuple[str, float] | None:
        """(visitor id, distance) of the visitor with the sighting nearest to `embedding`,
        leaving out the visitors in `exclude`; None when there is none."""
        with self.lock:
            d = distances(embedding, self.vectors[:len(self.sids)])
            if len(d) and not exclude:
                row = int(np.argmin(d))
                return self.vids[row], float(d[row])
            for row in np.argsort(d, kind="stable"):
                if self.vids[row] not in exclude:
                    return self.vids[row], float(d[row])
        return None

    def _reload(self) -> str:
        snapshot = self.store.read_all()
        self.sids, self.vids, self.row = [], [], {}
        for sid, vid, vector in zip(snapshot.sightings, snapshot.visitors, snapshot.vectors):
            self._add(sid, vid, vector)
        self.version, self.last_id = snapshot.version, snapshot.last_id
        return "reloaded"

    def _apply(self, entry: dict) -> None:
        op, sid, vid = text(entry["op"]), text(entry["sid"]), text(entry["vid"])
        if op == "add":
            try:
                self._add(sid, vid, decode_vector(entry["vec"], self.store.dim))
            except BadVector:
                pass
        elif op == "move" and sid in self.row:
            self.vids[self.row[sid]] = vid
        elif op == "remove":
            self._remove(sid)

    def _add(self, sid: str, vid: str, vector: np.ndarray) -> None:
        if sid in self.row:
            self.vids[self.row[sid]] = vid
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
