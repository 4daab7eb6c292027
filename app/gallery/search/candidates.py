"""Candidate rows for large galleries, so matching stays fast at a million faces.

Brute force reads the whole float32 matrix per query (~35-58 ms at 1M x 128 on 2 cores).
From `min_rows` faces on, a snapshot (app/gallery/snapshots/file.py) carries a trained 4-bit
product quantizer and the PQ code of each row (64 x 4 bits: 32 bytes per face), made off
the request path when the snapshot is written; each worker packs them into a faiss
fast-scan index. One scan of it ranks `wide` rows by their approximate distance; exact
distances are computed for the first `candidates` of them, and for all `wide` when the
nearest is farther than `sure_distance` (a stranger, or a hard photo: among near-equidistant
neighbours is where the PQ ranking errs). Every distance reported is exact.

Where the tail came from before (bench/bench_gallery.py, 1M faces): a probe took one scan
and 256 exact rows, but every stranger took a second scan plus 4096 exact rows labelled
through a Python list (p95 of strangers 7-117 ms against 2-4 ms for probes, the spread
being the machine's load): with 1 stranger in 6 queries the p95 was the strangers'. One scan
of `wide` costs ~0.7 ms more than a scan of 256 and serves both; labels are ranked with NumPy.
"""
from types import ModuleType
from typing import Any

import numpy as np

Quantizer = Any   # a trained faiss.IndexPQ; faiss has no type hints
SearchIndex = Any  # a faiss.IndexPQFastScan


class CandidateIndex:
    def __init__(self, min_rows: int = 50_000, candidates: int = 256, wide: int = 4096, sure_distance: float = 1.0,
                 sub_quantizers: int = 64, train_rows: int = 100_000):
        self.min_rows, self.candidates, self.wide, self.sure_distance = min_rows, candidates, wide, sure_distance
        self.sub_quantizers, self.train_rows = sub_quantizers, train_rows

    def wanted(self, rows: int) -> bool:
        """Whether a gallery of `rows` faces is worth an index."""
        return rows >= self.min_rows

    def quantizer(self, vectors: np.ndarray, previous: Quantizer | None = None) -> Quantizer:
        """A trained product quantizer (faiss.IndexPQ, no rows): `previous` when it fits
        this dimension, else trained on a sample of `vectors`."""
        faiss = _faiss()
        dim = vectors.shape[1]
        if previous is not None and previous.d == dim:
            return previous
        sub = self.sub_quantizers if dim % self.sub_quantizers == 0 else _divisor_near(dim, self.sub_quantizers)
        quantizer = faiss.IndexPQ(dim, sub, 4, faiss.METRIC_L2)
        quantizer.train(np.ascontiguousarray(vectors[:: max(1, len(vectors) // self.train_rows)], np.float32))
        return quantizer

    def ranked_rows(self, index: SearchIndex, query: np.ndarray, rows: int) -> np.ndarray:
        """Up to `wide` rows of the index, nearest first by approximate distance."""
        _, found = index.search(np.ascontiguousarray(query[None], np.float32), min(self.wide, rows))
        ranked: np.ndarray = found[0][found[0] >= 0]
        return ranked


def _faiss() -> ModuleType:
    """faiss on one OpenMP thread. Its threads spin while they wait for each other: on 2 busy
    cores, training on 3k rows took 27 s with 2 threads and 0.7 s with one (100k rows: 36 s
    against 1.2 s), and one thread is no slower for a single query's scan. A build in the
    background then takes one core and leaves the other to the requests."""
    import faiss
    faiss.omp_set_num_threads(1)
    return faiss


def codes(quantizer: Quantizer, vectors: np.ndarray) -> np.ndarray:
    """The PQ codes of `vectors` (uint8 [n, code size]: 32 bytes per face at 64 x 4 bits)."""
    computed: np.ndarray = quantizer.pq.compute_codes(np.ascontiguousarray(vectors, np.float32))
    return computed


def serialize(quantizer: Quantizer | None) -> np.ndarray:
    """The trained quantizer without rows (~8 KB), as a snapshot stores it beside the codes."""
    serialized: np.ndarray = _faiss().serialize_index(quantizer) if quantizer is not None else np.zeros(0, np.uint8)
    return serialized


def deserialize(data: np.ndarray) -> Quantizer | None:
    """The quantizer a snapshot stores, or None when it has none."""
    return _faiss().deserialize_index(np.ascontiguousarray(data)) if len(data) else None


def search_index(quantizer: Quantizer | None, stored_codes: np.ndarray) -> SearchIndex | None:
    """The fast-scan index over a snapshot's codes (packing 1M codes takes ~60 ms: the codes
    are kept in the snapshot, so a compaction encodes only the faces new since)."""
    if quantizer is None:
        return None
    faiss = _faiss()
    filled = faiss.clone_index(quantizer)
    faiss.copy_array_to_vector(np.ascontiguousarray(stored_codes).ravel(), filled.codes)
    filled.ntotal = len(stored_codes)
    return faiss.IndexPQFastScan(filled)


def _divisor_near(dim: int, wanted: int) -> int:
    """The number of sub-quantizers nearest `wanted` that divides `dim` (faiss needs that)."""
    return min((m for m in range(1, dim + 1) if dim % m == 0), key=lambda m: abs(m - wanted))
