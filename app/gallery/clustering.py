"""Re-clustering the unknown visitors, off the request path: DBSCAN (scikit-learn) over every
kept sighting merges visitors that are one person (a stranger first seen from two sides) and
splits impure ones (a sighting that joined through one near look-alike), keeping ids stable.

Sightings join a visitor online by their nearest sighting (single linkage at VISITOR_DISTANCE);
DBSCAN with min_samples >= 3 needs two neighbours within eps to make a core sighting, so one
bridging sighting no longer chains two people together."""
from collections import Counter
from dataclasses import dataclass

import numpy as np

from app.gallery.visitors import VisitorStore, new_id


@dataclass
class Reclustering:
    sightings: int
    visitors_before: int
    visitors_after: int
    moved: int


def regroup(vectors: np.ndarray, visitors: list[str], eps: float, min_samples: int,
            make_id=new_id) -> dict[str, list[int]]:
    """{visitor id: rows that move to it} so that each DBSCAN cluster is one visitor.

    A cluster keeps the id that most of its sightings hold (the largest cluster chooses first),
    else gets a new one. A sighting DBSCAN calls noise stays in its visitor, or follows the
    visitor's clustered sightings when their id went elsewhere (online joins put it there)."""
    if len(visitors) == 0:
        return {}
    from sklearn.cluster import DBSCAN  # scikit-learn and SciPy (~100 MB) only in the worker that re-clusters

    labels = DBSCAN(eps=eps, min_samples=min_samples, metric="euclidean").fit_predict(vectors)
    current = np.asarray(visitors, dtype=object)
    target = current.copy()
    clusters = sorted((np.flatnonzero(labels == label) for label in set(labels.tolist()) if label >= 0),
                      key=lambda rows: (-len(rows), min(current[rows])))
    claimed: set[str] = set()
    for rows in clusters:
        votes = Counter(current[rows].tolist())
        free = [vid for vid, _ in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0])) if vid not in claimed]
        vid = free[0] if free else make_id()
        claimed.add(vid)
        target[rows] = vid
    for vid in set(visitors) - claimed:  # its clustered sightings went to other ids: the noise follows
        members = np.flatnonzero(current == vid)
        clustered, noise = members[labels[members] >= 0], members[labels[members] < 0]
        if len(clustered) and len(noise):
            target[noise] = Counter(target[clustered].tolist()).most_common(1)[0][0]
    moves: dict[str, list[int]] = {}
    for row in np.flatnonzero(target != current):
        moves.setdefault(target[row], []).append(int(row))
    return moves


def recluster(store: VisitorStore, eps: float, min_samples: int) -> Reclustering:
    """Every kept sighting re-clustered and the changes applied (each move atomic; sightings
    added meanwhile stay where they joined, removed ones are skipped)."""
    snapshot = store.read_all()
    moves = regroup(snapshot.vectors, snapshot.visitors, eps, min_samples)
    moved = sum(store.move(vid, [snapshot.sightings[row] for row in rows]) for vid, rows in moves.items())
    after = Counter(snapshot.visitors)
    for vid, rows in moves.items():
        for row in rows:
            after[snapshot.visitors[row]] -= 1
            after[vid] += 1
    return Reclustering(len(snapshot.sightings), len(set(snapshot.visitors)), sum(1 for n in after.values() if n > 0),
                        moved)
