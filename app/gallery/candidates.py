"""Candidate rows for large galleries, so matching stays fast at a million faces.

Brute force reads the whole float32 matrix per query (~35-58 ms at 1M x 128 on 2 cores).
From `min_rows` faces on, a snapshot (app/gallery/snapshot.py) carries a faiss 4-bit
product-quantization fast-scan index of its rows (64 x 4 bits: 32 bytes per face), built off
the request path when the snapshot is written. One scan of it ranks `wide` rows by their
approximate distance; exact distances are computed for the first `candidates` of them, and for
all `wide` when the nearest is farther than `sure_distance` (a stranger, or a hard photo: among
near-equidistant neighbours is where the PQ ranking errs). Every distance reported is exact.

Where the time went before (bench/bench_gallery.py, 1M faces): probes needed one scan and 256
exact rows (~2.5 ms), but every stranger paid a second scan of the index plus 4096 exact rows
gathered with a Python list of labels (~18-24 ms): the p95 of a mix with 1 stranger in 6 was
the strangers'. One scan of `wide` costs ~0.7 ms more than a scan of 256 and serves both.
"""
import numpy as np


class CandidateIndex:
    def __init__(self, min_rows: int = 50_000, candidates: int = 256, wide: int = 4096, sure_distance: float = 1.0,
                 sub_quantizers: int = 64, train_rows: int = 100_000):
        self.min_rows, self.candidates, self.wide, self.sure_distance = min_rows, candidates, wide, sure_distance
        self.sub_quantizers, self.train_rows = sub_quantizers, train_rows

    def wanted(self, rows: int) -> bool:
        """Whether a gallery of `rows` faces is worth an index."""
        return rows >= self.min_rows

    def empty_index(self, vectors: np.ndarray, previous=None):
        """An index ready for add(): the codebooks of `previous` when it has the same
        dimension, else trained on a sample."""
        faiss = _faiss()
        dim = vectors.shape[1]
        if previous is not None and previous.d == dim and previous.is_trained:
            index = faiss.clone_index(previous)
            index.reset()
            return index
        sub = self.sub_quantizers if dim % self.sub_quantizers == 0 else _divisor_near(dim, self.sub_quantizers)
        index = faiss.IndexPQFastScan(dim, sub, 4, faiss.METRIC_L2)
        sample = vectors[:: max(1, len(vectors) // self.train_rows)]
        index.train(np.ascontiguousarray(sample, np.float32))
        return index

    def ranked_rows(self, index, query: np.ndarray, rows: int) -> np.ndarray:
        """Up to `wide` rows of the index, nearest first by approximate distance."""
        _, found = index.search(np.ascontiguousarray(query[None], np.float32), min(self.wide, rows))
        return found[0][found[0] >= 0]


def _faiss():
    """faiss on one OpenMP thread. Its threads spin while they wait for each other: on 2 busy
    cores, training on 3k rows took 27 s with 2 threads and 0.7 s with one (100k rows: 36 s
    against 1.2 s), and one thread is no slower for a single query's scan. A build in the
    background then takes one core and leaves the other to the requests."""
    import faiss
    faiss.omp_set_num_threads(1)
    return faiss


def serialize(index) -> np.ndarray:
    faiss = _faiss()
    return faiss.serialize_index(index) if index is not None else np.zeros(0, np.uint8)


def deserialize(data: np.ndarray):
    """The index stored in a snapshot, or None when it has none."""
    if not len(data):
        return None
    return _faiss().deserialize_index(np.ascontiguousarray(data))


def _divisor_near(dim: int, wanted: int) -> int:
    """The number of sub-quantizers nearest `wanted` that divides `dim` (faiss needs that)."""
    return min((m for m in range(1, dim + 1) if dim % m == 0), key=lambda m: abs(m - wanted))
