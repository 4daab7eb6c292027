"""Writing snapshot files (app/gallery/snapshot.py), always off the request path: from Redis
(the full read: the first snapshot, or when no usable one exists) and from a worker's
snapshot plus the changes since (a compaction). Both stream the vectors into the file in
person order, so building one never holds a second copy of the matrix in memory. A full read
trains the product quantizer and encodes the written rows (mapped back from the page cache);
a compaction keeps the quantizer and the codes, and encodes only the faces new since."""
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from app.gallery import candidates as pq
from app.gallery.candidates import CandidateIndex
from app.gallery.codec import readable
from app.gallery.live import LiveGallery
from app.gallery.snapshot import SnapshotWriter
from app.gallery.store import GalleryStore

log = logging.getLogger(__name__)

READ_BATCH = 500        # people per Redis round trip in a full read
WRITE_ROWS = 65_536     # rows per piece written or encoded
MAX_PROBLEMS = 1000     # listed; more are counted


def from_redis(store: GalleryStore, path: Path, gallery: str, dim: int, settings: CandidateIndex) -> str:
    """Reads the whole gallery from Redis into a snapshot at `path`; returns its sha256. The
    position is read first: changes made during the read are applied again from the log,
    which is harmless (every change is idempotent)."""
    version, last_id = store.position()
    pids = store.pids()   # sorted; one added after the position is in the log too (applying it again is harmless)
    names: list[tuple[str, str]] = []
    problems: list[str] = []

    def rows() -> Iterator[tuple[np.ndarray, list[bytes], np.ndarray]]:
        for start in range(0, len(pids), READ_BATCH):
            vectors, fids, codes = [], [], []
            for pid, name, faces in store.names_and_faces(pids[start: start + READ_BATCH]):
                if name is None:
                    continue  # deleted since the position was read
                code = len(names)
                names.append((pid, name))
                good, matrix = _decoded(faces, dim, pid, problems)
                vectors.append(matrix)
                fids += good
                codes.append(np.full(len(good), code, np.int32))
            if vectors:
                yield np.concatenate(vectors), fids, np.concatenate(codes)

    def people() -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # called once rows() is spent
        encoded = [name.encode() for _, name in names]
        return (_bytes_array([pid.encode() for pid, _ in names]), np.cumsum([len(b) for b in encoded], dtype=np.int64),
                np.frombuffer(b"".join(encoded), np.uint8))

    meta = {"gallery": gallery, "version": version, "last_id": last_id, "index_trained_rows": 0}
    return _write(path, meta, dim, rows(), people, problems, settings, None)


def from_live(live: LiveGallery, path: Path, gallery: str, settings: CandidateIndex) -> str:
    """A new snapshot at `path` from `live` (a copy, not mutated while this runs): its
    snapshot's rows that still count and its tail, as of its log position."""
    snap = live.snap
    pids, old_codes, name_ends, names = _people_of(live)
    new_code = np.full(snap.meta.people + len(live.extra), -1, np.int64)
    new_code[old_codes] = np.arange(len(old_codes))
    base_rows = np.flatnonzero(~live.dead)
    t = len(live.tail_fids)
    row_codes = np.concatenate([new_code[snap.person[base_rows]], new_code[live.tail_codes[:t]]])
    if (row_codes < 0).any():
        raise ValueError("a face belongs to nobody: the changes are inconsistent")
    order = np.argsort(row_codes, kind="stable")
    tail_fids = _bytes_array([f.encode() for f in live.tail_fids])

    fid_type = np.result_type(snap.face_ids.dtype, tail_fids.dtype)

    def rows() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for start in range(0, len(order), WRITE_ROWS):
            piece = order[start: start + WRITE_ROWS]
            in_base = piece < len(base_rows)
            vectors = np.empty((len(piece), live.dim), np.float32)
            fids = np.empty(len(piece), fid_type)
            vectors[in_base] = snap.vectors[base_rows[piece[in_base]]]
            fids[in_base] = snap.face_ids[base_rows[piece[in_base]]]
            vectors[~in_base] = live.tail[piece[~in_base] - len(base_rows)]
            fids[~in_base] = tail_fids[piece[~in_base] - len(base_rows)]
            yield vectors, fids, row_codes[piece].astype(np.int32)

    trained = snap.meta.index_trained_rows
    previous = live.quantizer if live.quantizer is not None and len(order) <= 2 * trained else None

    def known_codes(quantizer) -> Iterator[np.ndarray]:  # the snapshot's codes, and the tail's encoded
        tail_codes = pq.codes(quantizer, live.tail[:t]) if t else np.zeros((0, quantizer.pq.code_size), np.uint8)
        for start in range(0, len(order), WRITE_ROWS):
            piece = order[start: start + WRITE_ROWS]
            in_base = piece < len(base_rows)
            out = np.empty((len(piece), tail_codes.shape[1]), np.uint8)
            out[in_base] = snap.codes[base_rows[piece[in_base]]]
            out[~in_base] = tail_codes[piece[~in_base] - len(base_rows)]
            yield out
    meta = {"gallery": gallery, "version": live.version, "last_id": live.last_id}
    return _write(path, {**meta, "index_trained_rows": trained if previous is not None else 0}, live.dim, rows(),
                  lambda: (pids, name_ends, names), list(snap.meta.problems), settings, previous, known_codes)


def _people_of(live: LiveGallery) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(pids sorted, their numbers in `live`, name ends, UTF-8 names) of everyone not removed,
    vectorised over the snapshot's people (Python only for the people changed since): a
    Python loop per person would hold the GIL for seconds at a million faces and stall the
    requests of this worker."""
    snap, count = live.snap, live.snap.meta.people
    removed = _bytes_array([p.encode() for p in live.removed])
    keep = np.flatnonzero(~np.isin(snap.pids, removed)) if len(removed) else np.arange(count)
    extra = [p for p in live.extra if p not in live.removed]
    codes = np.concatenate([keep, np.array([live.extra_code[p] for p in extra], np.int64)])
    pids = np.concatenate([snap.pids[keep], _bytes_array([p.encode() for p in extra])])
    order = np.argsort(pids, kind="stable")
    pids, codes = pids[order], codes[order]
    # where each person's name lies: in the snapshot's names, or in the names given since
    ends = snap.name_ends.astype(np.int64)
    begin = np.zeros(count + len(live.extra), np.int64)
    length = np.zeros(count + len(live.extra), np.int64)
    begin[:count] = np.concatenate([[0], ends[:-1]]) if count else begin[:count]
    length[:count] = ends - begin[:count]
    given, offset = [], len(snap.names)
    for pid, name in live.names.items():
        code = live.code_of(pid)
        if code is not None:
            data = name.encode()
            begin[code], length[code], offset = offset, len(data), offset + len(data)
            given.append(data)
    source = np.concatenate([snap.names, np.frombuffer(b"".join(given), np.uint8)])
    lengths = length[codes]
    name_ends = np.cumsum(lengths, dtype=np.int64)
    total = int(name_ends[-1]) if len(codes) else 0
    gather = np.repeat(begin[codes] - (name_ends - lengths), lengths) + np.arange(total)
    return pids, codes, name_ends, source[gather]


def _bytes_array(values: list[bytes]) -> np.ndarray:
    return np.array(values, dtype=bytes) if values else np.zeros(0, "S1")


def _decoded(faces: dict, dim: int, pid: str, problems: list) -> tuple[list[bytes], np.ndarray]:
    good, matrix, bad = readable(faces, dim)
    for fid, why in bad:
        _problem(problems, f"face {fid.decode()} of person {pid}: {why}")
    return good, matrix


def _problem(problems: list, message: str) -> None:
    if len(problems) < MAX_PROBLEMS:
        problems.append(message)
    elif len(problems) == MAX_PROBLEMS:
        problems.append("and more faces that cannot be read")


def _write(path: Path, meta: dict, dim: int, rows, people, problems: list, settings: CandidateIndex,
           quantizer=None, known_codes=None) -> str:
    """The snapshot file, from `rows` (vectors, face ids, person numbers) in person order, and
    people() -> (sorted pids, name ends, UTF-8 names), asked once the rows are written.
    `quantizer`: the previous snapshot's, kept with `known_codes`(quantizer) -> the rows'
    codes in pieces; otherwise one is trained and every row encoded."""
    writer = SnapshotWriter(path)
    try:
        writer.begin("vectors", "<f4", (dim,))
        all_fids, all_codes = [], []
        for vectors, fids, codes in rows:
            writer.append(vectors)
            all_fids.append(np.asarray(fids, dtype=bytes) if len(fids) else np.zeros(0, "S1"))
            all_codes.append(codes)
        writer.end()
        n = sum(len(c) for c in all_codes)
        fresh = quantizer is None
        if settings.wanted(n):
            quantizer = _encoded(writer, n, dim, settings, quantizer, known_codes)
        else:
            quantizer = None
            writer.add("codes", np.zeros((0, 0), np.uint8))
        face_ids = np.concatenate(all_fids) if all_fids else np.zeros(0, "S1")
        person = np.concatenate(all_codes).astype(np.int32) if all_codes else np.zeros(0, np.int32)
        del all_fids, all_codes
        writer.add("face_ids", face_ids)
        writer.add("person", person)
        by_fid = np.argsort(face_ids, kind="stable")
        writer.add("sorted_fids", face_ids[by_fid])
        writer.add("fid_rows", by_fid.astype(np.int32))
        del by_fid
        pids, name_ends, names = people()
        writer.add("pids", pids)
        writer.add("starts", np.searchsorted(person, np.arange(len(pids) + 1)).astype(np.int64))
        writer.add("name_ends", name_ends)
        writer.add("names", names)
        writer.add("pq", pq.serialize(quantizer))
        if quantizer is not None and fresh:
            meta = {**meta, "index_trained_rows": n}
        return writer.finish({**meta, "dim": dim, "faces": n, "people": len(pids), "problems": problems})
    except BaseException:
        writer.abandon()
        raise


def _encoded(writer: SnapshotWriter, n: int, dim: int, settings: CandidateIndex, quantizer, known_codes):
    """Writes the rows' PQ codes (the section `codes`), encoding the rows just written (read
    back through the page cache) unless they are known; returns the quantizer."""
    writer.file.flush()
    vectors = np.memmap(writer.path, "<f4", mode="r", offset=writer.sections["vectors"][0], shape=(n, dim))
    if quantizer is None or known_codes is None:
        quantizer = settings.quantizer(vectors)
        pieces = (pq.codes(quantizer, vectors[start: start + WRITE_ROWS]) for start in range(0, n, WRITE_ROWS))
    else:
        pieces = known_codes(quantizer)
    code_size = quantizer.pq.code_size
    writer.begin("codes", np.uint8, (code_size,))
    for piece in pieces:
        writer.append(piece)
    writer.end()
    del vectors
    return quantizer
