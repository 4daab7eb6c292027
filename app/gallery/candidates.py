"""Candidate rows for large galleries, so matching stays fast at a million faces.

Brute force reads the whole float32 matrix per query (~58 ms at 1M x 128 on 2 cores). Above
`min_rows`, a faiss 4-bit product-quantization fast-scan index (64 x 4 bits: 32 bytes per
face) proposes the few hundred nearest rows, and matching then computes exact distances for
those rows only, so every distance reported is exact. The index is a snapshot of the rows: rows added or
changed since (appends, overwrites, the swap of a removal) are always candidates too, and the
snapshot is rebuilt once those exceed `rebuild_fraction` of the gallery. A query whose
nearest candidate is farther than `sure_distance` (a stranger, or a hard photo) is looked at
again with `wide` candidates: near-equidistant neighbours are where the PQ ranking errs.
"""
import numpy as np

from app.gallery.matching import rank_people


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
