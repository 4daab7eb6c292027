"""Where snapshot files (app/gallery/snapshot.py) are kept: a folder on this host, shared by
its workers (GALLERY_CACHE_DIR), and Redis, shared by every replica, so that a new worker
loads one blob instead of reading the whole gallery. Redis stays the source of truth: a
snapshot is a copy at a log position, and a missing, damaged or stale one only means the
slower full read.

Redis keys (under the prefix):
    gallery:id                   string  a random id for this gallery, made once: a file of
                                         another gallery (another Redis, a flushed one) is never used
    gallery:snapshot             hash    the published snapshot: gallery, version, last_id,
                                         digest (sha256 of the file), size, chunks, at (time)
    gallery:snapshot:{d}:{i}     string  chunk i of the file whose digest starts with d (Redis
                                         strings stop at 512 MB); a replaced snapshot's chunks expire
    gallery:snapshot:lock        string  redis-py Lock: one worker at a time builds or publishes
"""
import contextlib
import fcntl
import logging
import os
import secrets
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis

from app.gallery.codec import text
from app.gallery.snapshot import BadSnapshot, file_digest

log = logging.getLogger(__name__)

CHUNK_BYTES = 4 << 20    # hiredis reads 1-4 MB strings fastest (~0.8 GB/s on loopback here)
REPLACED_TTL_S = 60      # a replaced snapshot's chunks stay this long for workers still reading them


@dataclass(frozen=True)
class Published:
    gallery: str
    version: int
    last_id: str
    digest: str
    size: int
    chunks: int
    at: float       # when it was published (time.time())


@dataclass(frozen=True)
class LocalFile:
    version: int
    digest: str
    path: Path

    @classmethod
    def of(cls, path: Path) -> "LocalFile":
        """From a kept file's name: {gallery}-{version}-{sha256}.snap (ValueError otherwise)."""
        _, version, digest = path.stem.split("-")
        return cls(int(version), digest, path)


class SnapshotShelf:
    def __init__(self, client: redis.Redis, prefix: str, folder: str | os.PathLike):
        self.redis, self.prefix, self.folder = client, prefix, Path(folder)
        self.id_key, self.manifest_key = prefix + "gallery:id", prefix + "gallery:snapshot"
        self.lock_key = prefix + "gallery:snapshot:lock"

    def gallery_id(self) -> str:
        """This gallery's random id (snapshots of another Redis or prefix are not used); read
        before it is written, so a worker still loads when Redis is full (and refuses SET)."""
        known = self.redis.get(self.id_key)
        if known is None:
            self.redis.set(self.id_key, secrets.token_hex(8), nx=True)
            known = self.redis.get(self.id_key)
        return known.decode()

    # --- this host's folder ----------------------------------------------------------------
    def _ready_folder(self) -> Path:
        """The folder, made private (0700): files in it are trusted once their checksum held.
        One that others can write to, or that cannot be made, is replaced by a private
        temporary folder (this worker then shares no file with the others of its host)."""
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = self.folder.stat()
            if info.st_uid != os.getuid() or info.st_mode & 0o022:
                raise PermissionError("writable by other users")
        except OSError as e:
            private = Path(tempfile.mkdtemp(prefix="facerec-gallery-"))
            log.warning("gallery: cannot keep snapshots in %s (%s); using %s, not shared with other workers",
                        self.folder, e, private)
            self.folder = private
        return self.folder

    def local(self, gallery: str) -> list[LocalFile]:
        """This gallery's snapshot files on this host, newest first."""
        found = []
        for path in self._ready_folder().glob(f"{gallery}-*.snap"):
            try:
                found.append(LocalFile.of(path))
            except ValueError:
                continue
        return sorted(found, key=lambda f: f.version, reverse=True)

    def temp_path(self, gallery: str) -> Path:
        return self._ready_folder() / f".{gallery}-{uuid.uuid4().hex}.tmp"

    def keep(self, temp: Path, gallery: str, version: int, digest: str) -> LocalFile:
        """Moves a complete, checked file into place under its final name (atomically)."""
        path = self.folder / f"{gallery}-{version:012d}-{digest}.snap"
        os.replace(temp, path)
        return LocalFile(version, digest, path)

    @contextlib.contextmanager
    def host_lock(self, gallery: str, timeout_s: float = 600.0):
        """One worker of this host at a time builds or downloads (flock: released if it dies)."""
        with open(self._ready_folder() / f".{gallery}.lock", "w") as f:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"another worker holds {f.name}") from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def prune(self, gallery: str, keep: Path) -> None:
        """Removes this gallery's files older than `keep`, the files of its earlier model
        generations (`gallery` is "{id}g{generation}": a re-embedding or an adopted model made
        them useless), and temporary files left by a worker that died. A worker still reading
        one holds it open (snapshots are read whole, never mapped)."""
        for old in self.local(gallery):
            if old.path != keep and old.version <= LocalFile.of(keep).version:
                old.path.unlink(missing_ok=True)
        base, _, generation = gallery.rpartition("g")
        for path in self.folder.glob(f"{base}g*-*.snap"):
            earlier = path.name.split("-", 1)[0][len(base) + 1:]
            if earlier.isdigit() and generation.isdigit() and int(earlier) < int(generation):
                path.unlink(missing_ok=True)
        for temp in self.folder.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                if time.time() - temp.stat().st_mtime > 3600:
                    temp.unlink()

    # --- Redis -------------------------------------------------------------------------------
    def chunk_key(self, digest: str, i: int) -> str:
        return f"{self.prefix}gallery:snapshot:{digest[:16]}:{i}"

    def published(self) -> Published | None:
        fields = {text(k): text(v) for k, v in self.redis.hgetall(self.manifest_key).items()}
        try:
            return Published(fields["gallery"], int(fields["version"]), fields["last_id"], fields["digest"],
                             int(fields["size"]), int(fields["chunks"]), float(fields.get("at", 0)))
        except (KeyError, ValueError):
            return None

    def redis_lock(self, blocking_timeout: float | None):
        """The lock for building or publishing (redis-py's Lock: token-checked release, expiry)."""
        return self.redis.lock(self.lock_key, timeout=600, blocking_timeout=blocking_timeout)

    def publish(self, file: LocalFile, gallery: str, last_id: str) -> bool:
        """Puts the file in Redis in chunks, then points the manifest at it, unless a snapshot
        as new is already published. Hold redis_lock()."""
        current = self.published()
        if current is not None and current.gallery == gallery and current.version >= file.version:
            return False
        size, chunks = file.path.stat().st_size, 0
        with open(file.path, "rb") as f:
            while data := f.read(CHUNK_BYTES):
                self.redis.set(self.chunk_key(file.digest, chunks), data)
                chunks += 1
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.manifest_key)
            pipe.hset(self.manifest_key, mapping={"gallery": gallery, "version": file.version, "last_id": last_id,
                                                  "digest": file.digest, "size": size, "chunks": chunks,
                                                  "at": time.time()})
            if current is not None:
                for i in range(current.chunks):
                    pipe.expire(self.chunk_key(current.digest, i), REPLACED_TTL_S)
            pipe.execute()
        log.info("gallery: published snapshot v%d (%.0f MB) to Redis", file.version, size / 1e6)
        return True

    def withdraw(self, snapshot: Published) -> None:
        """Unpublishes a snapshot found damaged (unless another replaced it meanwhile), so the
        next sound one takes its place even at the same version."""
        def change(pipe):
            if pipe.hget(self.manifest_key, "digest") != snapshot.digest.encode():
                return
            pipe.multi()
            pipe.delete(self.manifest_key)
            for i in range(snapshot.chunks):
                pipe.expire(self.chunk_key(snapshot.digest, i), REPLACED_TTL_S)
        self.redis.transaction(change, self.manifest_key)

    def download(self, snapshot: Published) -> LocalFile:
        """The published file, copied into this host's folder (chunk by chunk, never whole in
        memory) and checked against its digest; BadSnapshot if it is not what it claims."""
        temp = self.temp_path(snapshot.gallery)
        try:
            written = 0
            with open(temp, "wb") as f:
                for i in range(snapshot.chunks):
                    data = self.redis.get(self.chunk_key(snapshot.digest, i))
                    if data is None:
                        raise BadSnapshot(f"chunk {i} of the published snapshot is gone (replaced while read?)")
                    f.write(data)
                    written += len(data)
            if written != snapshot.size or file_digest(temp) != snapshot.digest:
                raise BadSnapshot("the published snapshot's bytes do not match its checksum")
            return self.keep(temp, snapshot.gallery, snapshot.version, snapshot.digest)
        finally:
            temp.unlink(missing_ok=True)
