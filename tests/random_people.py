"""People of random unit vectors written straight into a gallery store, for the tests of the
replica, its candidate index and its snapshots (no models needed)."""
import uuid

import numpy as np

from app.gallery import GalleryStore, NewFace
from samples.vectors import unit


def enroll_random_people(store: GalleryStore, rng: np.random.Generator, people: int = 30, faces: int = 4) -> dict:
    """{person id: their vectors}: `people` new people of `faces` random unit vectors each."""
    enrolled = {}
    for _ in range(people):
        vectors = unit(faces, rng)
        pid, _ = store.create_person(f"person {uuid.uuid4().hex[:8]}", [NewFace(v) for v in vectors])
        enrolled[pid] = vectors
    return enrolled
