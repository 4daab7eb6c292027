"""Re-clustering the unknown visitors, off the request path: DBSCAN (scikit-learn) over every
kept sighting merges visitors that are one person (a stranger first seen from two sides) and
splits impure ones (a sighting that joined through one near look-alike), keeping ids stable.

Sightings join a visitor online when they are within VISITOR_DISTANCE of most of its sightings
(app/usecases/visitors.py). DBSCAN with min_samples >= 3 needs two neighbours within eps to make
a core sighting, but its clusters still chain: with many strangers at camera quality a run of
look-alikes, each within eps of the next, made one cluster of 9 people (bench/bench_visits.py,
many strangers). So each DBSCAN cluster is cut by complete linkage at `spread`
(VISITOR_MAX_SPREAD): in a visitor, every two sightings are at most `spread` apart. And a part
becomes a visitor only if it keeps the join rule (each sighting within eps of most of the
others): re-clustering may not make a group that no sighting could have joined online, which
is how a cut at 1.2 still merged pairs of look-alike strangers; the rows of such a part stay
where they are (REFUSED: unlike DBSCAN's noise, they do not follow their visitor's other
sightings elsewhere)."""
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.visitors.store import VisitorStore, new_id

NOISE, REFUSED = -1, -2   # labels of clusters_of that are no cluster


@dataclass
class Reclustering:
    sightings: int
    visitors_before: int
    visitors_after: int
    moved: int


def keeps_join_rule(vectors: np.ndarray, within: float) -> bool:
    """Whether every row is within `within` of more than half of the other rows."""
    if len(vectors) < 2:
        return True
    from scipy.spatial.distance import cdist
    near = (cdist(vectors, vectors) <= within).sum(axis=1) - 1
    return bool(np.all(2 * near > len(vectors) - 1))


def clusters_of(vectors: np.ndarray, eps: float, min_samples: int, spread: float) -> np.ndarray:
    """A cluster label per row (NOISE: DBSCAN's noise): DBSCAN's clusters, each cut by complete
    linkage so that no two rows of a cluster are more than `spread` apart; the rows of a part
    that breaks the join rule at `eps` (keeps_join_rule) are REFUSED."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist
    from sklearn.cluster import DBSCAN  # scikit-learn and SciPy (~100 MB) only in the worker that re-clusters

    labels = DBSCAN(eps=eps, min_samples=min_samples, metric="euclidean").fit_predict(vectors)
    out = np.full(len(labels), NOISE)
    next_label = 0
    for label in sorted(set(labels.tolist()) - {-1}):
        rows = np.flatnonzero(labels == label)
        parts = fcluster(linkage(pdist(vectors[rows]), "complete"), spread, "distance") if len(rows) > 1 else [1]
        for part in sorted(set(parts)):
            members = rows[np.asarray(parts) == part]
            if keeps_join_rule(vectors[members], eps):
                out[members] = next_label
                next_label += 1
            else:
                out[members] = REFUSED
    return out


def regroup(vectors: np.ndarray, visitors: list[str], eps: float, min_samples: int,
            make_id: Callable[[], str] = new_id, spread: float = 2.0) -> dict[str, list[int]]:
    """{visitor id: rows that move to it} so that each cluster (clusters_of) is one visitor.

    A cluster keeps the id that most of its sightings hold (the largest cluster chooses first),
    else gets a new one. A sighting DBSCAN calls noise stays in its visitor, or follows the
    visitor's clustered sightings when their id went elsewhere (online joins put it there)."""
    if len(visitors) == 0:
        return {}
    labels = clusters_of(vectors, eps, min_samples, spread)
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
        clustered, noise = members[labels[members] >= 0], members[labels[members] == NOISE]
        if len(clustered) and len(noise):
            target[noise] = Counter(target[clustered].tolist()).most_common(1)[0][0]
    moves: dict[str, list[int]] = {}
    for row in np.flatnonzero(target != current):
        moves.setdefault(target[row], []).append(int(row))
    return moves


def recluster(store: VisitorStore, eps: float, min_samples: int, spread: float = 2.0) -> Reclustering:
    """Every kept sighting re-clustered and the changes applied (each move atomic; sightings
    added meanwhile stay where they joined, removed ones are skipped)."""
    snapshot = store.read_all()
    moves = regroup(snapshot.vectors, snapshot.visitors, eps, min_samples, spread=spread)
    known = set(snapshot.visitors)
    # a visitor named or forgotten since the read takes no sightings back (move refuses: -1)
    done = {vid: store.move(vid, [snapshot.sightings[row] for row in rows], new=vid not in known)
            for vid, rows in moves.items()}
    moved = sum(n for n in done.values() if n > 0)
    moves = {vid: rows for vid, rows in moves.items() if done[vid] >= 0}
    after = Counter(snapshot.visitors)
    for vid, rows in moves.items():
        for row in rows:
            after[snapshot.visitors[row]] -= 1
            after[vid] += 1
    return Reclustering(len(snapshot.sightings), len(set(snapshot.visitors)), sum(1 for n in after.values() if n > 0),
                        moved)
