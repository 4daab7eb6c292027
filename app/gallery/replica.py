"""This worker's copy of the gallery, kept in step with Redis (app/gallery/store.py) by
applying the logged changes since its last look: one round trip when nothing changed.
Matching reads only this copy.

The copy is a snapshot file, mapped read-only and shared by the workers of a host, plus the
changes since (app/gallery/search/live.py). A new worker loads the newest usable snapshot (this
host's folder, else the one published in Redis, else it builds one with the full read) and
applies the log from the snapshot's position. A background thread (start_maintenance(), from
the app factory) keeps an idle worker in step, folds the changes into a new snapshot once
they pass `compact_fraction` of the gallery and swaps it in atomically, and publishes a fresh
snapshot to Redis for the workers to come, one worker at a time: requests never build."""
import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import redis
from redis.exceptions import LockError, OutOfMemoryError

from app import metrics
from app.gallery import maintenance
from app.gallery.changelog import CatchUp, Follower, Sync
from app.gallery.outage import UNREACHABLE, RedisOutage
from app.gallery.search.candidates import CandidateIndex
from app.gallery.search.live import LiveGallery
from app.gallery.search.matching import one_blas_thread
from app.gallery.snapshots import builder
from app.gallery.snapshots.file import BadSnapshot, Snapshot
from app.gallery.snapshots.shelf import LocalFile, SnapshotShelf
from app.gallery.store import GalleryStore

log = logging.getLogger(__name__)

LOG_PAGE = 1000          # log entries per read when catching up off the request path
PUBLISH_EVERY_S = 60     # at most one published snapshot a minute


@dataclass(frozen=True)
class Match:
    """An enrolled person near a probe: their nearest face (`face_id`) and its distance."""
    person_id: str
    name: str
    distance: float
    face_id: str


class GalleryReplica(Follower):
    """This worker's copy of the gallery (its LiveGallery), kept in step with the gallery's
    change log."""

    def __init__(self, store: GalleryStore, candidates: CandidateIndex | None = None, cache_dir: str | None = None,
                 compact_fraction: float = 0.02, compact_min: int = 1000, outage: RedisOutage | None = None):
        """`cache_dir`: this host's snapshot folder (default: a private one in the temp dir). A
        compaction starts once the changes pass max(`compact_min`, `compact_fraction` x faces).
        `outage`: the worker's memory of Redis being unreachable (the background thread then waits
        its turn to try Redis again instead of holding the copy's lock on a dead connection)."""
        one_blas_thread()
        super().__init__(store.changelog)   # self.lock: around the copy (sync, match, swaps)
        self.store = store
        self.candidates = candidates or CandidateIndex()
        folder = cache_dir or Path(tempfile.gettempdir()) / f"facerec-gallery-{os.getuid()}"
        self.shelf = SnapshotShelf(store.redis, store.prefix, folder)
        self.dim = store.dim
        self.compact_fraction, self.compact_min = compact_fraction, compact_min
        self._maintaining = threading.Lock()    # one background build at a time
        self.live: LiveGallery | None = None
        self.gallery = ""                # "{gallery id}g{model generation}" of the copy, from the first load
        self.problems: list[str] = []   # stored vectors that could not be read, from the last full read
        self.builds: list[str] = []     # what this replica built, and on which thread (tests, metrics)
        self.loaded_from: str | None = None   # "local", "redis" or "full read"
        self.synced_at: float | None = None   # when the copy was last in step with Redis (wall clock)
        self.outage = outage
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._too_old: set[Path] = set()   # files tried in this load whose position the log has trimmed

    @property
    def size(self) -> int:
        """Enrolled faces in this copy."""
        live = self.live
        return live.size if live is not None else 0

    def _following(self) -> LiveGallery | None:
        return self.live

    def _before_sync(self) -> None:
        """A caller that waited for the lock while another's sync found Redis gone gives up at
        once, instead of waiting REDIS_TIMEOUT_S on a hung Redis in its turn."""
        if self.outage is not None and self.outage.down:
            raise redis.ConnectionError("Redis was found unreachable a moment ago")

    def sync(self) -> Sync:
        """Catch up with Redis; raises redis.RedisError (and tells the outage when unreachable)."""
        try:
            done = super().sync()
        except UNREACHABLE as e:
            if self.outage is not None:
                self.outage.failed(e)
            raise
        self.synced_at = time.time()
        if self.outage is not None:
            self.outage.reached()
        return done

    @property
    def age_s(self) -> float | None:
        """Seconds since the copy was last in step with Redis; None when there is no copy."""
        synced = self.synced_at
        return None if self.live is None or synced is None else max(0.0, time.time() - synced)

    def match(self, embedding: np.ndarray, k: int) -> list[Match]:
        """The k nearest people, nearest first, with exact distances."""
        with self.lock:
            if self.live is None:
                return []
            return [Match(*found) for found in self.live.nearest(embedding, k)]

    def person_of_face(self, fid: str) -> str | None:
        """Who face `fid` belongs to in this copy, if anyone."""
        with self.lock:
            return self.live.person_of_face(fid) if self.live is not None else None

    def _reload(self) -> None:
        """The newest usable snapshot and the log since; else the full read (one worker of
        the host, and one in the cluster when it can wait its turn, reads and publishes).
        Snapshots are of one generation of the gallery's model record: none made before a
        re-embedding is used after it."""
        store = self.store
        store.position()  # 409 when this worker may not match against the gallery
        self.gallery = f"{self.shelf.gallery_id()}g{store.model_generation}"
        self._too_old = set()
        live = self._newest_usable() or self._full_read()
        self._install(live)
        self.shelf.prune(self.gallery, keep=live.snap.path)

    def _newest_usable(self, locked: bool = False) -> LiveGallery | None:
        """From this host's files or the one published in Redis, newest first. `locked`: the
        caller holds the host lock already."""
        files = self.shelf.local(self.gallery)
        published = self.shelf.published()
        if published is not None and published.gallery == self.gallery and \
                (not files or published.version > files[0].version):
            try:
                with contextlib.nullcontext() if locked else self.shelf.host_lock(self.gallery):
                    fresh = [f for f in self.shelf.local(self.gallery) if f.version >= published.version]
                    file = fresh[0] if fresh else self.shelf.download(published)
                live = self._opened(file, check=bool(fresh), source="local" if fresh else "redis")
                if live is not None:
                    return live
            except BadSnapshot as e:
                log.warning("gallery: the snapshot published in Redis cannot be used (%s); trying others", e)
                self.shelf.withdraw(published)
        for file in (f for f in files if f.path not in self._too_old):
            live = self._opened(file, check=True, source="local")
            if live is not None:
                return live
        return None

    def _full_read(self) -> LiveGallery:
        """Builds a snapshot from Redis, after waiting for a worker elsewhere that is at it
        (then its published snapshot is used instead), and publishes it."""
        lock = self.shelf.redis_lock(blocking_timeout=120)
        try:
            held = lock.acquire()
        except OutOfMemoryError:  # Redis is full: read alone, and publish nothing
            held = False
        try:
            with self.shelf.host_lock(self.gallery):
                live = self._newest_usable(locked=True)
                if live is not None:
                    return live
                file = self._built(lambda path: builder.from_redis(self.store, path, self.gallery, self.dim,
                                                                   self.candidates), "full read")
            live = self._opened(file, check=False, source="full read")
            if live is None:
                raise RuntimeError("the gallery changed faster than it could be read; try again")
            if held:
                try:
                    self.shelf.publish(file, self.gallery, live.snap.meta.last_id)
                except OutOfMemoryError:
                    log.warning("gallery: Redis is full; the snapshot was not published")
            return live
        finally:
            if held:
                with contextlib.suppress(LockError):
                    lock.release()

    def _opened(self, file: LocalFile, check: bool, source: str) -> LiveGallery | None:
        """The file with the log since applied, or None when it is damaged or too old."""
        try:
            snap = Snapshot(file.path, file.digest if check else None)
            if snap.meta.gallery != self.gallery or snap.meta.dim != self.dim:
                raise BadSnapshot(f"{file.path.name}: of gallery {snap.meta.gallery} (dim {snap.meta.dim})")
            live = LiveGallery(snap, self.candidates)
        except BadSnapshot as e:
            log.warning("gallery: removing a snapshot that cannot be used: %s", e)
            file.path.unlink(missing_ok=True)
            return None
        if self.changelog.catch_up(live, page=LOG_PAGE) is CatchUp.GAP:
            log.info("gallery: snapshot v%d is older than the log kept in Redis", snap.meta.version)
            self._too_old.add(file.path)
            return None
        if self.live is None or source != "local":
            self.loaded_from = source
        return live

    def _built(self, build: Callable[[Path], str], what: str) -> LocalFile:
        temp = self.shelf.temp_path(self.gallery)
        digest = build(temp)
        self.builds.append(f"{what} on {threading.current_thread().name}")
        return self.shelf.keep(temp, self.gallery, Snapshot(temp).meta.version, digest)

    def _install(self, live: LiveGallery) -> None:
        self.live = live
        self.problems = list(live.snap.meta.problems)
        metrics.GALLERY_UNREADABLE.set(len(self.problems))
        for problem in self.problems:
            log.error("gallery: skipped a stored face that cannot be read: %s", problem)

    def compaction_due(self) -> bool:
        live = self.live
        return live is not None and live.changes > max(self.compact_min, self.compact_fraction * live.size)

    def compact(self) -> bool:
        """Folds the changes into a new snapshot (one of this host's, if another worker just
        wrote a newer one) and swaps it in. Runs beside matching; the swap is one assignment."""
        with self._maintaining:
            with self.lock:
                if self.live is None:
                    return False
                frozen = self.live.copy()
            with self.shelf.host_lock(self.gallery):
                newer = [f for f in self.shelf.local(self.gallery) if f.version > frozen.snap.meta.version]
                file = newer[0] if newer else self._built(
                    lambda path: builder.from_live(frozen, path, self.gallery, self.candidates), "compaction")
            live = self._opened(file, check=bool(newer), source="local")
            if live is None:
                return False
            for _ in range(3):  # what came in meanwhile, outside the lock, so the swap below is short
                if self.changelog.catch_up(live, page=LOG_PAGE) is not CatchUp.UPDATED:
                    break
            with self.lock:
                if self.changelog.catch_up(live) is CatchUp.GAP:
                    return False
                self._install(live)
            self.shelf.prune(self.gallery, keep=file.path)
            return True

    def publish(self) -> bool:
        """Puts this worker's snapshot in Redis when none is, or the published one lags the log
        by over a quarter of what the log keeps (a new worker replays that) and is older than
        PUBLISH_EVERY_S: each is a copy of the gallery in Redis, so not one per compaction."""
        live = self.live
        if live is None:
            return False
        published = self.shelf.published()
        if published is not None and published.gallery == self.gallery and (
                published.version >= live.snap.meta.version
                or live.version - published.version <= self.store.log_maxlen // 4
                or time.time() - published.at < PUBLISH_EVERY_S):
            return False
        lock = self.shelf.redis_lock(blocking_timeout=0)
        if not lock.acquire(blocking=False):
            return False
        try:
            return self.shelf.publish(LocalFile.of(live.snap.path), self.gallery, live.snap.meta.last_id)
        finally:
            with contextlib.suppress(LockError):
                lock.release()

    def maintain(self) -> None:
        """One round of the background work (none while Redis is unreachable and not yet due a try)."""
        if self.outage is not None and not self.outage.usable(background=True):
            return
        self.sync()
        if self.compaction_due():
            self.compact()
        self.publish()

    def start_maintenance(self, every_s: float = 1.0) -> None:
        """The background thread (app/gallery/maintenance.py), made by the app factory."""
        self._thread = maintenance.start(self, self._stop, every_s)

    def stop_maintenance(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
