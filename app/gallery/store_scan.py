"""Reading the whole gallery in batches, for what streams through it (a snapshot build, the
export): a few hundred people per round trip, so memory stays flat at any gallery size.
Uses the keys of app/gallery/store.py; stored vectors are checked by the codec's rule
(float32 little-endian of the gallery's dimension, finite, unit length), vectorised."""
from collections.abc import Iterator

import numpy as np

from app.gallery.codec import UNIT_TOLERANCE, text
from app.gallery.store import GalleryStore


def readable(faces: dict, dim: int) -> tuple[list[bytes], np.ndarray, list[tuple[bytes, str]]]:
    """(face ids, float32 rows [n, dim]) of the stored vectors that are embeddings, and
    (face id, what is wrong) of the others."""
    fids = [f for f, data in faces.items() if len(data) == dim * 4]
    bad = [(f, f"an embedding is {dim * 4} bytes, this one is {len(data)}")
           for f, data in faces.items() if len(data) != dim * 4]
    matrix = np.frombuffer(b"".join(faces[f] for f in fids), "<f4").reshape(-1, dim).astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        good = np.isfinite(matrix).all(axis=1) & (np.abs(np.linalg.norm(matrix, axis=1) - 1.0) <= UNIT_TOLERANCE)
    bad += [(fids[i], "an embedding must be finite and of unit length") for i in np.flatnonzero(~good)]
    return [f for f, ok in zip(fids, good) if ok], matrix[good], bad


def dump(store: GalleryStore, dim: int, batch: int = 200) -> Iterator[dict]:
    """Every person, by id: their record and faces [(face id, stored vector bytes, thumbnail,
    crop)] (vectors that are not embeddings left out: the replica reports them)."""
    pids = store.pids()
    for start in range(0, len(pids), batch):
        some = pids[start: start + batch]
        with store.redis.pipeline(transaction=False) as pipe:
            for pid in some:
                key = store.person_key(pid)
                pipe.hgetall(key).hgetall(key + ":faces").hgetall(key + ":thumbs").hgetall(key + ":crops")
            replies = pipe.execute()
        for pid, record, faces, thumbs, crops in zip(some, replies[::4], replies[1::4], replies[2::4], replies[3::4]):
            if not record:
                continue  # deleted meanwhile
            good = set(readable(faces, dim)[0])
            yield {"person_id": pid, **{text(k): text(v) for k, v in record.items()},
                   "faces": [(text(f), faces[f], thumbs.get(f, b""), crops.get(f, b"")) for f in sorted(good)]}
