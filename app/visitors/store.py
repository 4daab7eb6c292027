"""Unknown visitors in Redis: every unknown face worth keeping (a sighting: embedding, small
thumbnail, camera, time) belongs to one visitor, a stranger with a persistent id. Bounded by
count and age (the oldest sightings are dropped; a visitor without sightings is gone). Every
change is one Lua script (visitors.lua), atomic, and logged for the workers' indexes
(app/visitors/index.py), as the gallery's changes are.

Redis keys (under the prefix):
    visitors:vec, :thumb, :meta, :of   hashes  sighting id -> vector (4 x dim bytes), JPEG, JSON
                                       {camera, time, score, size, quality, weight}, visitor id
    visitors:seen                      zset    sighting id -> time (the caps read it)
    visitors                           zset    visitor id -> time of its last sighting
    visitor:{vid}                      zset    its sighting ids -> time
    visitors:version, visitors:log     +1 and one entry (op add|update|move|remove, sid, vid, vec) per
                                       change (update: a visit's sighting refined, app/usecases/visitors.py)
"""
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import redis

from app.gallery.changelog import ChangeLog
from app.gallery.codec import BadVector, decode_vector, encode_vector, text
from app.gallery.identity import is_valid_id
from app.gallery.model_record import LEGACY_MODEL, GalleryModel, model_namespace

SCRIPT = Path(__file__).with_name("visitors.lua")
THUMBNAILS_LISTED = 3
# A face joins a visitor only when it is within VISITOR_DISTANCE of most (more than half) of the
# visitor's newest JOIN_CHECKED sightings, checked in Redis as it joins (visitors.lua)
JOIN_CHECKED = 32


@dataclass
class Sighting:
    sighting_id: str
    camera_id: str
    time: float
    score: float        # detection score
    size: float         # shorter side of the face box, pixels
    quality: float      # how good a face to enroll: score x size (capped at FaceNet's 160 px)
    weight: float = 0.0   # the visit's faces behind the vector (the sum of their face quality)


@dataclass
class Visitor:
    visitor_id: str
    sightings: int
    first_seen: float
    last_seen: float
    cameras: list[str]
    best: list[Sighting]             # by quality, best first
    recent: list[Sighting]           # newest first


@dataclass
class VisitorSnapshot:
    version: int
    last_id: str
    sightings: list[str]
    visitors: list[str]
    vectors: np.ndarray


def new_id() -> str:
    return uuid.uuid4().hex


def _meta(sighting: Sighting) -> str:
    return json.dumps({"camera": sighting.camera_id, "time": sighting.time, "score": sighting.score,
                       "size": sighting.size, "quality": sighting.quality, "weight": sighting.weight})


def quality_of(score: float, size: float) -> float:
    return round(score * min(size, 160.0), 3)


class VisitorStore:
    def __init__(self, client: redis.Redis, prefix: str = "fr:", max_sightings: int = 5000,
                 max_age_s: float = 30 * 24 * 3600, log_maxlen: int = 100_000, model: GalleryModel = LEGACY_MODEL):
        """model: what made the sightings' embeddings; its keys are its own (model_namespace)."""
        prefix = model_namespace(prefix, model)
        self.redis, self.prefix, self.dim = client, prefix, model.dim
        self.max_sightings, self.max_age_s, self.log_maxlen = max_sightings, max_age_s, log_maxlen
        self.log_key, self.version_key = prefix + "visitors:log", prefix + "visitors:version"
        self.clustered_key = prefix + "visitors:clustered_version"   # the version last re-clustered
        self.changelog = ChangeLog(client, self.version_key, self.log_key)   # what the workers' indexes follow
        self._script = client.register_script(SCRIPT.read_text())

    def key(self, name: str) -> str:
        return self.prefix + name

    def _run(self, command: str, *args: str | bytes | float) -> int:
        return int(self._script(args=[self.prefix, self.log_maxlen, command, *args]))

    def _cutoff(self, now: float) -> str:
        return f"{now - self.max_age_s:.3f}"

    # --- changes ---------------------------------------------------------------------
    def add(self, sighting: Sighting, visitor_id: str, new: bool, vector: np.ndarray, thumbnail: bytes,
            within: float = 0.0) -> bool:
        """Store a sighting in visitor `visitor_id` (a new one when `new`); False when that
        visitor was merged or forgotten meanwhile, or (`within` > 0) when `vector` is not within
        `within` of most of the visitor's newest JOIN_CHECKED sightings: nothing stored. Trims
        to the caps."""
        done = self._run("add", sighting.sighting_id, visitor_id, "1" if new else "0",
                         encode_vector(vector, self.dim), thumbnail, _meta(sighting), f"{sighting.time:.3f}",
                         self._cutoff(sighting.time), self.max_sightings, f"{within:.6f}", JOIN_CHECKED)
        return done >= 0

    def refine(self, sighting: Sighting, visitor_id: str, new: bool, vector: np.ndarray, thumbnail: bytes,
               within: float) -> int | None:
        """A visit's sighting given the visit's vector so far (the mean of `sighting.weight` of its
        faces) and moved to visitor `visitor_id` (a new one when `new`); the thumbnail kept when
        `sighting` is no better a face than the stored one. 1: done; 0: a mean over more faces
        is stored already (nothing changed); None: the sighting is gone (named, forgotten or
        trimmed); -1/-2 as `add` refuses a visitor (merged or forgotten meanwhile, or `vector`
        not within `within` of most of its other sightings)."""
        done = self._run("refine", sighting.sighting_id, visitor_id, "1" if new else "0",
                         encode_vector(vector, self.dim), thumbnail, _meta(sighting), f"{sighting.time:.3f}",
                         f"{sighting.weight:.6f}", f"{within:.6f}", JOIN_CHECKED)
        return None if done == -3 else done

    def visitor_of(self, sighting_id: str) -> str | None:
        owner = self.redis.hget(self.key("visitors:of"), sighting_id)
        return None if owner is None else text(owner)

    def move(self, visitor_id: str, sighting_ids: list[str], new: bool = False) -> int:
        """Sightings moved to `visitor_id` (those that still exist), a new visitor when `new`;
        visitors left empty are gone. -1: nothing moved, because `visitor_id` was named or
        forgotten meanwhile (or, `new`, exists)."""
        return self._run("move", visitor_id, "1" if new else "0", *sighting_ids) if sighting_ids else 0

    def forget(self, visitor_id: str, also: list[str] | None = None) -> int:
        """Every sighting of the visitor removed, and the sightings `also` wherever they are now
        -> how many (0: no such visitor)."""
        return self._run("forget", visitor_id, *(also or [])) if is_valid_id(visitor_id) else 0

    def clustering_due(self) -> tuple[bool, bytes | None]:
        """(whether the visitors changed since the last re-clustering, their version now): the
        housekeeping re-clusters only then, and says so with mark_clustered(version)."""
        version, done = self.redis.mget(self.version_key, self.clustered_key)
        return version != done, version

    def mark_clustered(self, version: bytes | None) -> None:
        self.redis.set(self.clustered_key, version or 0)

    def trim(self, now: float | None = None) -> int:
        """Sightings beyond the age and count caps removed (at most 64 a call) -> how many."""
        return self._run("trim", self._cutoff(now or time.time()), self.max_sightings)

    # --- for the workers' indexes ----------------------------------------------------
    def read_all(self) -> VisitorSnapshot:
        """Every sighting's vector and visitor. The version and log position are read first:
        changes made while the rest is read are applied again later (they are idempotent)."""
        position = self.changelog.position()
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.key("visitors:vec"))
            pipe.hgetall(self.key("visitors:of"))
            vectors, owners = pipe.execute()
        sids, vids, rows = [], [], []
        for sid, data in vectors.items():
            vid = owners.get(sid)
            try:
                vector = decode_vector(data, self.dim)
            except BadVector:
                continue
            if vid is not None:
                sids.append(text(sid))
                vids.append(text(vid))
                rows.append(vector)
        matrix = np.array(rows, np.float32).reshape(-1, self.dim)
        return VisitorSnapshot(position.version, position.last_id, sids, vids, matrix)

    # --- reading ---------------------------------------------------------------------
    def count(self) -> int:
        return int(self.redis.zcard(self.key("visitors")))

    def page(self, offset: int, count: int) -> tuple[int, list[Visitor]]:
        """(how many visitors, those at offset.. offset+count, the most recently seen first)."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(self.key("visitors"))
            pipe.zrevrange(self.key("visitors"), offset, offset + count - 1)
            total, vids = pipe.execute()
        return total, [v for v in self._visitors([text(v) for v in vids]) if v is not None]

    def visitor(self, visitor_id: str, recent: int = 100) -> Visitor | None:
        if not is_valid_id(visitor_id):
            return None
        return self._visitors([visitor_id], recent)[0]

    def _visitors(self, vids: list[str], recent: int = 0) -> list[Visitor | None]:
        with self.redis.pipeline(transaction=False) as pipe:
            for vid in vids:
                pipe.zrange(self.key("visitor:" + vid), 0, -1, withscores=True)
            members = pipe.execute()
        sids = [text(sid) for found in members for sid, _ in found]
        metas = dict(zip(sids, self.redis.hmget(self.key("visitors:meta"), sids))) if sids else {}
        visitors: list[Visitor | None] = []
        for vid, found in zip(vids, members):
            read = [self._sighting(text(sid), metas.get(text(sid))) for sid, _ in found]
            sightings = [s for s in read if s is not None]
            if not sightings:
                visitors.append(None)
                continue
            best = sorted(sightings, key=lambda s: (-s.quality, -s.time))
            visitors.append(Visitor(vid, len(sightings), sightings[0].time, sightings[-1].time,
                                    sorted({s.camera_id for s in sightings}), best[:max(THUMBNAILS_LISTED, recent)],
                                    sightings[::-1][:recent]))
        return visitors

    @staticmethod
    def _sighting(sid: str, meta: bytes | str | None) -> Sighting | None:
        if meta is None:  # removed between the two reads
            return None
        m = json.loads(meta)
        return Sighting(sid, m["camera"], m["time"], m["score"], m["size"], m["quality"])

    def faces(self, sighting_ids: list[str]) -> list[tuple[str, np.ndarray, bytes]]:
        """(sighting id, vector, thumbnail) of each sighting that still exists."""
        if not sighting_ids:
            return []
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self.key("visitors:vec"), sighting_ids)
            pipe.hmget(self.key("visitors:thumb"), sighting_ids)
            vectors, thumbs = pipe.execute()
        faces = []
        for sid, vector, thumb in zip(sighting_ids, vectors, thumbs):
            try:
                faces.append((sid, decode_vector(vector, self.dim), thumb or b""))
            except (BadVector, TypeError):  # gone meanwhile (None), or not a vector: not enrolled
                continue
        return faces

    def thumbnail(self, visitor_id: str, sighting_id: str) -> bytes | None:
        if not (is_valid_id(visitor_id) and is_valid_id(sighting_id)):
            return None
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self.key("visitors:of"), sighting_id)
            pipe.hget(self.key("visitors:thumb"), sighting_id)
            owner, jpeg = pipe.execute()
        return jpeg if owner is not None and text(owner) == visitor_id else None
