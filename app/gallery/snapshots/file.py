"""A snapshot of the gallery in one file: every face's vector, face id and person, every
person's id and name, the candidate index, and the log position it reflects. Read whole
into the worker's memory (one sequential read, hashed as it is read; no parsing: the arrays
are read-only views of those bytes), so a new worker is ready as soon as the file is read
(app/gallery/snapshots/shelf.py keeps the files, locally and in Redis;
app/gallery/snapshots/builder.py writes them). It is not mapped: a mapped file damaged while
in use gave wrong answers, and one cut short killed the workers that read it (SIGBUS).

Layout: MAGIC, the sections (each 64-byte aligned), a JSON footer (format, gallery id,
version, last log id, dimension, counts, where each section is), the footer's length
(uint64 LE), MAGIC. A file is named by the sha256 of its bytes, checked when it is opened:
a damaged or truncated file is refused (BadSnapshot), never half-read. It is read into the
worker's own memory and the checksum is of those bytes: damage to the file afterwards
(a flipped bit, a truncation) cannot change an answer or kill a worker (docs/hostile-input.md).

Sections: vectors float32 [n, dim] (rows grouped by person); face_ids S [n]; person int32 [n]
(index into pids); sorted_fids S [n] and their rows fid_rows int32 [n] (for lookups: NumPy's
searchsorted with a `sorter` checks the whole sorter on every call, ~1 ms at 1M); pids S [P]
(sorted, so a person's number is their place); starts int64 [P+1] (person p has rows
starts[p]..starts[p+1]); name_ends int64 [P] and names uint8 (UTF-8, concatenated); pq uint8
(the trained product quantizer, faiss-serialized, empty below the size that needs one) and
codes uint8 [n, code size] (each row's PQ code: a compaction reuses them).
"""
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

MAGIC = b"FRGSNAP1"
FORMAT = 2
ALIGN = 64
READ_CHUNK = 8 << 20


class BadSnapshot(ValueError):
    """A snapshot file that cannot be used: damaged, truncated, of another format or gallery."""


def file_digest(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class SnapshotWriter:
    """Writes the sections one after the other (a section may be appended to in pieces, so a
    million vectors never need to be in memory at once), then the footer; `digest` is the
    sha256 of everything written."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.file = open(self.path, "wb")
        self.hash = hashlib.sha256()
        self.offset = 0
        self.sections: dict[str, list[Any]] = {}
        self._open: tuple[str, np.dtype[Any], tuple[int, ...], int] | None = None
        self._rows = 0
        self._write(MAGIC)

    def _write(self, data: bytes | np.ndarray) -> None:
        raw: bytes | np.ndarray = data
        if isinstance(data, np.ndarray):
            raw = data.reshape(-1).view(np.uint8) if data.size else b""
        view = memoryview(raw).cast("B")  # type: ignore[arg-type]  # an ndarray is a buffer; numpy does not say so
        self.file.write(view)
        self.hash.update(view)
        self.offset += len(view)

    def _align(self) -> None:
        if self.offset % ALIGN:
            self._write(bytes(ALIGN - self.offset % ALIGN))

    def begin(self, name: str, dtype: npt.DTypeLike, row_shape: tuple[int, ...] = ()) -> None:
        """Start section `name` of rows of `row_shape`; append() adds rows."""
        self._align()
        self._open = (name, np.dtype(dtype), tuple(row_shape), self.offset)
        self._rows = 0

    def _section_open(self) -> tuple[str, np.dtype[Any], tuple[int, ...], int]:
        if self._open is None:
            raise ValueError("no section begun")
        return self._open

    def append(self, rows: np.ndarray) -> None:
        name, dtype, row_shape, _ = self._section_open()
        rows = np.ascontiguousarray(rows, dtype)
        if rows.shape[1:] != row_shape:
            raise ValueError(f"section {name}: rows of shape {rows.shape[1:]}, expected {row_shape}")
        self._write(rows)
        self._rows += len(rows)

    def end(self) -> None:
        name, dtype, row_shape, start = self._section_open()
        self.sections[name] = [start, dtype.str, [self._rows, *row_shape]]
        self._open = None

    def add(self, name: str, array: np.ndarray) -> None:
        """A whole section at once."""
        array = np.asarray(array)
        self.begin(name, array.dtype, array.shape[1:])
        self.append(array)
        self.end()

    def finish(self, meta: dict[str, Any]) -> str:
        """Writes the footer, returns the sha256 hex of the file."""
        footer = json.dumps({**meta, "format": FORMAT, "sections": self.sections}).encode()
        self._write(footer)
        self._write(len(footer).to_bytes(8, "little"))
        self._write(MAGIC)
        self.file.close()  # no fsync: a file cut short by a crash fails its checksum and is rebuilt
        return self.hash.hexdigest()

    def abandon(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class SnapshotMeta:
    gallery: str
    version: int
    last_id: str
    dim: int
    faces: int
    people: int
    problems: tuple[str, ...]
    index_trained_rows: int


class Snapshot:
    """An opened snapshot file: read-only NumPy views of its sections and lookups by id."""

    def __init__(self, path: str | os.PathLike[str], digest: str | None = None):
        """Opens and checks `path`; `digest`: the sha256 it must have (checked over the whole
        file, ~0.3 s per GB). Raises BadSnapshot when anything is off."""
        self.path = Path(path)
        self.map, actual = self._private_copy()
        if digest is not None and actual != digest:
            raise BadSnapshot(f"{self.path.name}: its bytes do not match their checksum")
        footer = self._footer()
        try:
            self.meta = SnapshotMeta(footer["gallery"], int(footer["version"]), str(footer["last_id"]),
                                     int(footer["dim"]), int(footer["faces"]), int(footer["people"]),
                                     tuple(footer.get("problems", ())), int(footer.get("index_trained_rows", 0)))
            arrays = {name: self._section(name, *where) for name, where in footer["sections"].items()}
            self.vectors, self.face_ids, self.person = arrays["vectors"], arrays["face_ids"], arrays["person"]
            self.sorted_fids, self.fid_rows = arrays["sorted_fids"], arrays["fid_rows"]
            self.pids, self.starts = arrays["pids"], arrays["starts"]
            self.name_ends, self.names = arrays["name_ends"], arrays["names"]
            self.pq_bytes, self.codes = arrays["pq"], arrays["codes"]
        except (KeyError, TypeError, ValueError) as e:
            raise BadSnapshot(f"{self.path.name}: malformed footer ({e})") from None
        n, people = self.meta.faces, self.meta.people
        if (self.vectors.shape != (n, self.meta.dim) or len(self.face_ids) != n or len(self.person) != n
                or len(self.sorted_fids) != n or len(self.fid_rows) != n or len(self.pids) != people
                or len(self.starts) != people + 1 or len(self.name_ends) != people
                or (len(self.pq_bytes) and len(self.codes) != n)):
            raise BadSnapshot(f"{self.path.name}: sections disagree on the number of faces or people")

    def _private_copy(self) -> tuple[bytearray, str]:
        """(the file's bytes in this process's own memory, their sha256). The checksum is of the
        very bytes that are then used, and nothing is mapped: a file damaged or cut short after
        this (by anyone who can write the folder) changes no answer and cannot kill the worker
        (SIGBUS: a mapped page past a truncated end). The cost: each worker holds its own copy
        (the file's size) instead of sharing the page cache."""
        digest = hashlib.sha256()
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                data = bytearray(size)
                view, done = memoryview(data), 0
                while done < size and (n := f.readinto(view[done: done + READ_CHUNK])):
                    digest.update(view[done: done + n])
                    done += n
        except OSError as e:
            raise BadSnapshot(f"{self.path.name}: cannot be read ({e})") from None
        if done != size:
            raise BadSnapshot(f"{self.path.name}: cut short while it was read")
        return data, digest.hexdigest()

    def _footer(self) -> dict[str, Any]:
        size = len(self.map)
        if size < 2 * len(MAGIC) + 8 or self.map[:8] != MAGIC or self.map[-8:] != MAGIC:
            raise BadSnapshot(f"{self.path.name}: not a gallery snapshot, or cut short")
        length = int.from_bytes(self.map[-16:-8], "little")
        if length > size - 24:
            raise BadSnapshot(f"{self.path.name}: footer length out of range")
        try:
            footer = json.loads(self.map[size - 16 - length: size - 16])
        except ValueError:
            raise BadSnapshot(f"{self.path.name}: unreadable footer") from None
        if not isinstance(footer, dict) or footer.get("format") != FORMAT:
            raise BadSnapshot(f"{self.path.name}: snapshot format {footer.get('format')!r}, expected {FORMAT}")
        return footer

    def _section(self, name: str, offset: int, dtype: str, shape: list[int]) -> np.ndarray:
        kind, count = np.dtype(dtype), int(np.prod(shape))
        if offset < 0 or offset + count * kind.itemsize > len(self.map) - 16:
            raise BadSnapshot(f"{self.path.name}: section {name} lies outside the file")
        array = np.frombuffer(self.map, kind, count, offset).reshape(shape)
        array.flags.writeable = False   # a view of the private copy: read-only, as the file was
        return array

    # --- lookups --------------------------------------------------------------------------
    def row_of(self, fid: str) -> int | None:
        """The row of face `fid`, if the snapshot has it."""
        i = _place(self.sorted_fids, self.meta.faces, fid)
        return None if i is None else int(self.fid_rows[i])

    def code_of(self, pid: str) -> int | None:
        """The number of person `pid` (their place among the sorted ids), if the snapshot has them."""
        return _place(self.pids, self.meta.people, pid)

    def pid(self, code: int) -> str:
        return str(self.pids[code].decode())

    def name(self, code: int) -> str:
        start = int(self.name_ends[code - 1]) if code else 0
        return str(self.names[start: int(self.name_ends[code])].tobytes().decode())

    def rows_of(self, code: int) -> range:
        return range(int(self.starts[code]), int(self.starts[code + 1]))


def _place(sorted_keys: np.ndarray, count: int, value: str) -> int | None:
    """Where `value` stands in `sorted_keys` (fixed-width bytes, sorted), if it is there."""
    try:
        key = value.encode()
    except UnicodeEncodeError:   # a lone surrogate: no stored key holds one
        return None
    if not count or len(key) > sorted_keys.dtype.itemsize:
        return None
    i = int(np.searchsorted(sorted_keys, key))
    return i if i < count and sorted_keys[i] == key else None
