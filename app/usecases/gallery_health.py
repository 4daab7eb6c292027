"""A gallery that explains itself: per enrolled face, how far it is from the person's other
faces (an outlier is likely a wrong photo), and which people are nearer than MATCH_THRESHOLD
to another person (look-alikes, or one person enrolled twice).

An outlier: a face of a person with at least 3 faces that none of their other faces would
match (its nearest other face is farther than MATCH_THRESHOLD). Measured (bench_visitors): no
false flag on the 92 train faces of the 5 celebrities, and a photo of another person added to
them flagged, alone, 100 times in 100 (a rule on the median distance flagged 6 genuine faces
at the same threshold). With two faces there is no telling which one is wrong: no flag."""
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.errors import GalleryTooLarge
from app.gallery.search.matching import distances
from app.pipeline.enrolled_crop import EnrolledCrop
from app.pipeline.quality import face_quality
from app.services import Services

MIN_FACES_FOR_OUTLIERS = 3
CHUNK = 1024
NEAREST_LOOKED = 8


@dataclass
class FaceReport:
    face_id: str
    nearest_other: float | None     # to the person's nearest other face
    median_other: float | None      # median distance to the person's other faces
    outlier: bool
    quality: float | None = None    # from the kept crop (app/pipeline/quality.py); None without a crop


@dataclass
class PersonFace:
    person_id: str
    name: str
    face_id: str


@dataclass
class LookAlike:
    a: PersonFace
    b: PersonFace
    distance: float                 # between their nearest two faces


@dataclass
class Outlier:
    face: PersonFace
    report: FaceReport


@dataclass
class GalleryHealth:
    people: int
    faces: int
    threshold: float
    look_alikes: list[LookAlike]    # nearest first
    outliers: list[Outlier]


def face_reports(vectors: dict[str, np.ndarray], threshold: float) -> list[FaceReport]:
    """One report per face of one person ({face id: vector}), by face id."""
    fids = sorted(vectors)
    if not fids:   # a person whose faces were all deleted (or a CompreFace subject not given one yet)
        return []
    matrix = np.array([vectors[f] for f in fids], np.float32).reshape(len(fids), -1)
    reports = []
    for i, fid in enumerate(fids):
        others = np.delete(distances(matrix[i], matrix), i) if len(fids) > 1 else np.zeros(0)
        if len(others) == 0:
            reports.append(FaceReport(fid, None, None, False))
            continue
        nearest = float(others.min())
        reports.append(FaceReport(fid, round(nearest, 4), round(float(np.median(others)), 4),
                                  len(fids) >= MIN_FACES_FOR_OUTLIERS and nearest > threshold))
    return reports


def person_report(s: Services, pid: str) -> tuple[dict[str, Any], list[FaceReport]]:
    """(the person, as GET /people/{id} lists them; a report per enrolled face)."""
    person = s.store.person(pid)
    reports = face_reports(s.store.face_vectors(pid), s.rule.threshold)
    crops = s.store.faces_to_reembed(pid)
    for report in reports:
        report.quality = crop_quality(crops.get(report.face_id, (b"", b""))[0])
    return person, reports


def crop_quality(data: bytes) -> float | None:
    """The quality of an enrolled face from the crop kept with it (the detector's score is not
    kept: counted as sure); None for a face enrolled before crops were kept, or an unreadable one."""
    try:
        crop = EnrolledCrop.from_bytes(data)
        return face_quality(crop.rgb(), crop.box, crop.landmarks, 1.0).quality
    except ValueError:
        return None


def gallery_health(s: Services) -> GalleryHealth:
    """Every pair of people nearer than the threshold, and every outlier face. Reads the whole
    gallery: refused (409) above HEALTH_MAX_FACES faces."""
    snapshot = s.store.read_all()
    faces = sum(len(f) for _, f in snapshot.people.values())
    if faces > s.settings.health_max_faces:
        raise GalleryTooLarge(f"the gallery has {faces} faces; the health report reads them all and is limited to "
                              f"{s.settings.health_max_faces} (HEALTH_MAX_FACES)")
    threshold = s.rule.threshold
    outliers, owners, rows = [], [], []
    for pid, (name, vectors) in sorted(snapshot.people.items()):
        for report in face_reports(vectors, threshold):
            owners.append(PersonFace(pid, name, report.face_id))
            rows.append(vectors[report.face_id])
            if report.outlier:
                outliers.append(Outlier(owners[-1], report))
    return GalleryHealth(len(snapshot.people), faces, threshold, _look_alikes(owners, rows, threshold), outliers)


def _look_alikes(owners: list[PersonFace], rows: list[np.ndarray], threshold: float) -> list[LookAlike]:
    """For each pair of people, their nearest two faces when nearer than `threshold` (found from
    each face's NEAREST_LOOKED other people's faces: bounded work and memory, any gallery)."""
    if not rows:
        return []
    matrix = np.array(rows, np.float32)
    pids = np.array([o.person_id for o in owners])
    k = min(NEAREST_LOOKED, len(matrix))
    nearest: dict[tuple[str, str], LookAlike] = {}
    for start in range(0, len(matrix), CHUNK):  # CHUNK x faces distances at a time
        block = np.sqrt(np.maximum(2.0 - 2.0 * matrix[start:start + CHUNK] @ matrix.T, 0.0))
        block[pids[start:start + CHUNK, None] == pids[None, :]] = np.inf
        columns = np.argpartition(block, k - 1, axis=1)[:, :k]
        for i, j in zip(*np.nonzero(np.take_along_axis(block, columns, axis=1) <= threshold)):
            a, b = sorted((owners[start + i], owners[columns[i, j]]), key=lambda o: o.person_id)
            d = round(float(block[i, columns[i, j]]), 4)
            if (a.person_id, b.person_id) not in nearest or d < nearest[a.person_id, b.person_id].distance:
                nearest[a.person_id, b.person_id] = LookAlike(a, b, d)
    return sorted(nearest.values(), key=lambda pair: (pair.distance, pair.a.person_id, pair.b.person_id))
