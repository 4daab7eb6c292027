"""Matching embeddings against enrolled faces: Euclidean distance between unit vectors,
a person's distance being that of their nearest enrolled face, and the one rule that says
whether a distance means "same person"."""
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MatchRule:
    """Same person when the distance is at most `threshold` (MATCH_THRESHOLD), decided on the
    exact distance everywhere (recognize, verify, the compatibility APIs). `confidence` maps
    the distance to (0, 1): 0.5 at the threshold, falling from 0.73 to 0.27 over `scale`
    around it."""
    threshold: float
    scale: float = 0.1

    def same_person(self, distance: float) -> bool:
        return distance <= self.threshold

    def confidence(self, distance: float) -> float:
        return 1.0 / (1.0 + math.exp((distance - self.threshold) / self.scale))


def one_blas_thread() -> None:
    """NumPy's OpenBLAS on one thread in this process. Its threads spin while they wait for
    each other: on these 2 busy cores a 50k x 128 matrix-vector product took 15.6 ms at the
    median with OpenBLAS's default threads and 1.5 ms with one. A worker answers several
    requests at once on its own threads; BLAS threads only fight them."""
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=1, user_api="blas")


def distances(query: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Euclidean distances from unit vector `query` [D] to every row of `matrix` [N,D] (unit rows)."""
    if len(matrix) == 0:
        return np.zeros(0, np.float32)
    found: np.ndarray = np.sqrt(np.maximum(2.0 - 2.0 * (matrix @ query), 0.0))
    return found


def rank_people(query: np.ndarray, matrix: np.ndarray, labels: list[str], k: int) -> list[tuple[str, float, int]]:
    """[(label, distance, row)] of the k nearest people by brute force, nearest first: each
    person's distance is that of their nearest face, at `row` of the matrix (the exact answer
    the tests hold the gallery's candidate search to)."""
    d = distances(query, matrix)
    return [(labels[i], float(d[i]), int(i)) for i in nearest_per_label(d, np.asarray(labels), k)]


def nearest_per_label(d: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k nearest distinct labels in `d` (one per label: its nearest), nearest
    first; vectorised, so thousands of candidate rows cost no Python loop."""
    if len(d) == 0:
        return np.zeros(0, np.int64)
    few = min(len(d), 8 * k + 32)
    order = np.argpartition(d, few - 1)[:few] if few < len(d) else np.arange(len(d))
    while True:
        order = order[np.argsort(d[order], kind="stable")]
        _, first = np.unique(labels[order], return_index=True)
        if len(first) >= k or len(order) == len(d):
            return order[np.sort(first)[:k]]
        order = np.arange(len(d))  # the nearest few faces belong to fewer than k people
