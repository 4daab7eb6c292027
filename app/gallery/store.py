"""The gallery: every enrolled person and embedding, in Redis, shared by every worker and
replica. Each change is one MULTI/EXEC that also bumps the version and appends to the log,
from which each worker's in-memory copy (app/gallery/replica.py) catches up.

Redis keys (under the prefix, default "fr:"):
    person:{pid}          hash  name, created_at, updated_at
    person:{pid}:faces    hash  face_id -> 128 x float32 little-endian (512 bytes)
    person:{pid}:thumbs   hash  face_id -> small JPEG of the enrolled face
    people                set   pids
    name_index            hash  name key (case folded, app/gallery/identity.py) -> pid: names are unique
    gallery:version       int   +1 per change, in the same MULTI/EXEC as the change
    gallery:log           stream, one entry per change: op (add|remove|remove_person|rename),
                          pid, fid, name, vec. Workers apply these deltas; a worker whose
                          deltas were trimmed away reloads everything.
"""
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import redis

from app.errors import FaceNotFound, NameTaken, PersonNotFound
from app.gallery.codec import DIM, BadVector, decode_vector, encode_vector
from app.gallery.identity import is_valid_id, name_key

log = logging.getLogger(__name__)


@dataclass
class NewFace:
    vector: np.ndarray
    thumbnail: bytes = b""
    face_id: str | None = None   # kept when importing a gallery, made up otherwise


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class GallerySnapshot:
    """Everything a replica needs: {pid: (name, {fid: vector})} at `version` / log entry `last_id`,
    and what could not be read (a stored vector that is not one)."""
    version: int
    last_id: str
    people: dict
    problems: list[str]


class GalleryStore:
    """Every gallery change, each one atomic and logged for the workers."""

    def __init__(self, client: redis.Redis, prefix: str = "fr:", log_maxlen: int = 100_000):
        self.redis, self.prefix, self.log_maxlen = client, prefix, log_maxlen
        self.people_key, self.names_key = prefix + "people", prefix + "name_index"
        self.version_key, self.log_key = prefix + "gallery:version", prefix + "gallery:log"
        self._names_checked = False

    def person_key(self, pid: str) -> str:
        return f"{self.prefix}person:{pid}"

    def _log(self, pipe, op, pid, fid="", name="", vec=b""):
        pipe.incr(self.version_key)
        pipe.xadd(self.log_key, {"op": op, "pid": pid, "fid": fid, "name": name, "vec": vec},
                  maxlen=self.log_maxlen, approximate=True)

    def _add_faces(self, pipe, pid, name, faces):
        ids = []
        for face in faces:
            fid = face.face_id or uuid.uuid4().hex
            vec = encode_vector(face.vector)
            pipe.hset(self.person_key(pid) + ":faces", fid, vec)
            if face.thumbnail:
                pipe.hset(self.person_key(pid) + ":thumbs", fid, face.thumbnail)
            self._log(pipe, "add", pid, fid, name, vec)
            ids.append(fid)
        return ids

    def _atomically(self, change, *watched):
        """change(pipe) reads under WATCH of `watched`, then queues its writes after pipe.multi();
        redis-py runs it again when a watched key changed before EXEC."""
        return self.redis.transaction(change, *watched, value_from_callable=True)

    def _name_of(self, pipe, pid):
        name = pipe.hget(self.person_key(pid), "name") if is_valid_id(pid) else None
        if name is None:
            raise PersonNotFound.of(pid)
        return text(name)

    def _index_names(self):
        """Before the first change: galleries written before names were case-insensitive kept
        an exact-name hash ("names"); index every name by its key once, in one transaction."""
        if self._names_checked:
            return
        legacy = self.prefix + "names"

        def change(pipe):
            if pipe.exists(self.names_key) or not pipe.exists(legacy):
                return
            index = {}
            for pid in (text(p) for p in pipe.smembers(self.people_key)):
                name = pipe.hget(self.person_key(pid), "name")
                if name is not None and index.setdefault(name_key(text(name)), pid) != pid:
                    log.warning("gallery: %r and another person have the same name but for case", text(name))
            pipe.multi()
            if index:
                pipe.hset(self.names_key, mapping=index)
            pipe.delete(legacy)
        self._atomically(change, self.names_key, legacy, self.people_key)
        self._names_checked = True

    def create_person(self, name: str, faces: list[NewFace], pid: str | None = None,
                      created_at: str | None = None) -> tuple[str, list[str]]:
        """New person `name` with faces [NewFace] -> (pid, face ids)."""
        pid = pid or uuid.uuid4().hex
        key = self.person_key(pid)
        self._index_names()

        def change(pipe):
            taken = pipe.hget(self.names_key, name_key(name))
            if taken is not None:
                raise NameTaken(f"a person named {name!r} exists (person_id {text(taken)}); "
                                f"send person_id to add faces to them, or choose another name")
            if pipe.exists(key):
                raise NameTaken(f"person_id {pid} exists already")
            pipe.multi()
            now = _now()
            pipe.hset(key, mapping={"name": name, "created_at": created_at or now, "updated_at": now})
            pipe.sadd(self.people_key, pid)
            pipe.hset(self.names_key, name_key(name), pid)
            return pid, self._add_faces(pipe, pid, name, faces)
        return self._atomically(change, self.names_key, key)

    def add_faces(self, pid: str, faces: list[NewFace]) -> tuple[str, list[str]]:
        """Faces [NewFace] added to an existing person -> (name, face ids)."""
        def change(pipe):
            name = self._name_of(pipe, pid)
            pipe.multi()
            pipe.hset(self.person_key(pid), "updated_at", _now())
            return name, self._add_faces(pipe, pid, name, faces)
        return self._atomically(change, self.person_key(pid))

    def rename(self, pid: str, name: str) -> None:
        self._index_names()

        def change(pipe):
            old = self._name_of(pipe, pid)
            holder = pipe.hget(self.names_key, name_key(name))
            if holder is not None and text(holder) != pid:
                raise NameTaken(f"a person named {name!r} exists (person_id {text(holder)})")
            old_holder = pipe.hget(self.names_key, name_key(old))
            pipe.multi()
            if old_holder is not None and text(old_holder) == pid:
                pipe.hdel(self.names_key, name_key(old))
            pipe.hset(self.names_key, name_key(name), pid)
            pipe.hset(self.person_key(pid), mapping={"name": name, "updated_at": _now()})
            self._log(pipe, "rename", pid, name=name)
        self._atomically(change, self.person_key(pid), self.names_key)

    def delete_person(self, pid: str) -> None:
        key = self.person_key(pid)

        def change(pipe):
            name = self._name_of(pipe, pid)
            holder = pipe.hget(self.names_key, name_key(name))
            pipe.multi()
            pipe.delete(key, key + ":faces", key + ":thumbs")
            pipe.srem(self.people_key, pid)
            if holder is not None and text(holder) == pid:
                pipe.hdel(self.names_key, name_key(name))
            self._log(pipe, "remove_person", pid)
        self._atomically(change, key, self.names_key)

    def delete_face(self, pid: str, fid: str) -> None:
        key = self.person_key(pid)

        def change(pipe):
            self._name_of(pipe, pid)
            if not pipe.hexists(key + ":faces", fid):
                raise FaceNotFound(f"person {pid!r} has no face {fid!r}; GET /people/{pid} lists them")
            pipe.multi()
            pipe.hdel(key + ":faces", fid)
            pipe.hdel(key + ":thumbs", fid)
            pipe.hset(key, "updated_at", _now())
            self._log(pipe, "remove", pid, fid)
        self._atomically(change, key, key + ":faces")

    # --- reading ---------------------------------------------------------------------
    def person(self, pid: str) -> dict:
        if not is_valid_id(pid):
            raise PersonNotFound.of(pid)
        key = self.person_key(pid)
        with self.redis.pipeline(transaction=True) as pipe:
            record, faces = pipe.hgetall(key).hkeys(key + ":faces").execute()
        if not record:
            raise PersonNotFound.of(pid)
        return {"person_id": pid, **{text(k): text(v) for k, v in record.items()},
                "faces": sorted(text(f) for f in faces)}

    def people(self) -> list[dict]:
        pids = sorted(text(p) for p in self.redis.smembers(self.people_key))
        with self.redis.pipeline(transaction=False) as pipe:
            for pid in pids:
                pipe.hgetall(self.person_key(pid))
                pipe.hlen(self.person_key(pid) + ":faces")
            replies = pipe.execute()
        listed = []
        for pid, record, count in zip(pids, replies[::2], replies[1::2]):
            if record:  # deleted between the two reads
                listed.append({"person_id": pid, **{text(k): text(v) for k, v in record.items()},
                               "face_count": count})
        return sorted(listed, key=lambda p: (p["name"].lower(), p["person_id"]))

    def dump(self) -> list[dict]:
        """Every person with their faces' (face id, vector, thumbnail), for export; a stored
        vector that is not one is left out (read_all reports it)."""
        people = []
        for summary in self.people():
            key = self.person_key(summary["person_id"])
            with self.redis.pipeline(transaction=True) as pipe:
                faces, thumbs = pipe.hgetall(key + ":faces").hgetall(key + ":thumbs").execute()
            readable = []
            for fid, data in sorted(faces.items()):
                try:
                    readable.append((text(fid), decode_vector(data), thumbs.get(fid, b"")))
                except BadVector:
                    continue
            people.append({**summary, "faces": readable})
        return people

    def vectors(self, pid: str) -> np.ndarray:
        """[n,128] of the person's enrolled faces."""
        if not is_valid_id(pid):
            raise PersonNotFound.of(pid)
        key = self.person_key(pid)
        with self.redis.pipeline(transaction=True) as pipe:
            exists, faces = pipe.exists(key).hvals(key + ":faces").execute()
        if not exists:
            raise PersonNotFound.of(pid)
        readable = []
        for data in faces:
            try:
                readable.append(decode_vector(data))
            except BadVector:  # reported by read_all
                continue
        return np.array(readable, np.float32).reshape(-1, DIM)

    def thumbnail(self, pid: str, fid: str) -> bytes | None:
        if not is_valid_id(pid):
            return None
        return self.redis.hget(self.person_key(pid) + ":thumbs", fid)

    def read_changes(self, after_id: str) -> tuple[int, list]:
        """(version, log entries after `after_id`), read together in one MULTI/EXEC."""
        with self.redis.pipeline(transaction=True) as pipe:
            version, entries = pipe.get(self.version_key).xrange(self.log_key, min=f"({after_id}").execute()
        return int(version or 0), entries

    def read_all(self) -> GallerySnapshot:
        """The whole gallery. The version and log position are read first: changes made while
        the data is read are applied again later, which is harmless because every logged
        change is idempotent. A stored vector that is not one is skipped and reported."""
        with self.redis.pipeline(transaction=True) as pipe:
            version, last, pids = pipe.get(self.version_key).xrevrange(self.log_key, count=1) \
                .smembers(self.people_key).execute()
        pids = [text(p) for p in pids]
        with self.redis.pipeline(transaction=False) as pipe:
            for pid in pids:
                pipe.hget(self.person_key(pid), "name")
                pipe.hgetall(self.person_key(pid) + ":faces")
            replies = pipe.execute()
        people, problems = {}, []
        for pid, name, faces in zip(pids, replies[::2], replies[1::2]):
            if name is None:
                continue
            vectors = {}
            for fid, data in faces.items():
                try:
                    vectors[text(fid)] = decode_vector(data)
                except BadVector as e:
                    problems.append(f"face {text(fid)} of person {pid}: {e}")
            people[pid] = (text(name), vectors)
        return GallerySnapshot(int(version or 0), text(last[0][0]) if last else "0-0", people, problems)
