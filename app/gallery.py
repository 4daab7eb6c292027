"""The enrolled gallery. Redis is the source of truth, shared by every worker and replica;
each worker matches against an in-memory copy that it brings up to date before matching.

Redis keys (under the prefix, default "fr:"):
    person:{pid}          hash  name, created_at, updated_at
    person:{pid}:faces    hash  face_id -> 128 x float32 little-endian (512 bytes)
    person:{pid}:thumbs   hash  face_id -> small JPEG of the enrolled face
    people                set   pids
    names                 hash  name -> pid (names are unique)
    gallery:version       int   +1 per change, in the same MULTI/EXEC as the change
    gallery:log           stream, one entry per change: op (add|remove|remove_person|rename),
                          pid, fid, name, vec. Workers apply these deltas; a worker whose
                          deltas were trimmed away reloads everything.
"""
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from app.candidates import CandidateIndex
from app.errors import FaceNotFound, NameTaken, PersonNotFound
from app.matching import rank_people

DIM = 128


@dataclass
class NewFace:
    vector: np.ndarray
    thumbnail: bytes = b""
    face_id: str | None = None   # kept when importing a gallery, made up otherwise


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def encode_vector(vector):
    return np.asarray(vector, "<f4").reshape(DIM).tobytes()


def decode_vector(data):
    return np.frombuffer(data, "<f4")


class GalleryStore:
    """Every gallery change, each one atomic and logged for the workers."""

    def __init__(self, client, prefix="fr:", log_maxlen=100_000):
        self.redis, self.prefix, self.log_maxlen = client, prefix, log_maxlen
        self.people_key, self.names_key = prefix + "people", prefix + "names"
        self.version_key, self.log_key = prefix + "gallery:version", prefix + "gallery:log"

    def person_key(self, pid):
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
        name = pipe.hget(self.person_key(pid), "name")
        if name is None:
            raise PersonNotFound.of(pid)
        return _text(name)

    def create_person(self, name, faces, pid=None, created_at=None):
        """New person `name` with faces [NewFace] -> (pid, face ids)."""
        pid = pid or uuid.uuid4().hex
        key = self.person_key(pid)

        def change(pipe):
            taken = pipe.hget(self.names_key, name)
            if taken is not None:
                raise NameTaken(f"a person named {name!r} exists (person_id {_text(taken)}); "
                                f"send person_id to add faces to them, or choose another name")
            if pipe.exists(key):
                raise NameTaken(f"person_id {pid} exists already")
            pipe.multi()
            now = _now()
            pipe.hset(key, mapping={"name": name, "created_at": created_at or now, "updated_at": now})
            pipe.sadd(self.people_key, pid)
            pipe.hset(self.names_key, name, pid)
            return pid, self._add_faces(pipe, pid, name, faces)
        return self._atomically(change, self.names_key, key)

    def add_faces(self, pid, faces):
        """Faces [NewFace] added to an existing person -> (name, face ids)."""
        def change(pipe):
            name = self._name_of(pipe, pid)
            pipe.multi()
            pipe.hset(self.person_key(pid), "updated_at", _now())
            return name, self._add_faces(pipe, pid, name, faces)
        return self._atomically(change, self.person_key(pid))

    def rename(self, pid, name):
        def change(pipe):
            old = self._name_of(pipe, pid)
            holder = pipe.hget(self.names_key, name)
            if holder is not None and _text(holder) != pid:
                raise NameTaken(f"a person named {name!r} exists (person_id {_text(holder)})")
            pipe.multi()
            pipe.hdel(self.names_key, old)
            pipe.hset(self.names_key, name, pid)
            pipe.hset(self.person_key(pid), mapping={"name": name, "updated_at": _now()})
            self._log(pipe, "rename", pid, name=name)
        self._atomically(change, self.person_key(pid), self.names_key)

    def delete_person(self, pid):
        key = self.person_key(pid)

        def change(pipe):
            name = self._name_of(pipe, pid)
            pipe.multi()
            pipe.delete(key, key + ":faces", key + ":thumbs")
            pipe.srem(self.people_key, pid)
            pipe.hdel(self.names_key, name)
            self._log(pipe, "remove_person", pid)
        self._atomically(change, key)

    def delete_face(self, pid, fid):
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
    def person(self, pid):
        key = self.person_key(pid)
        with self.redis.pipeline(transaction=True) as pipe:
            record, faces = pipe.hgetall(key).hkeys(key + ":faces").execute()
        if not record:
            raise PersonNotFound.of(pid)
        return {"person_id": pid, **{_text(k): _text(v) for k, v in record.items()},
                "faces": sorted(_text(f) for f in faces)}

    def people(self):
        pids = sorted(_text(p) for p in self.redis.smembers(self.people_key))
        with self.redis.pipeline(transaction=False) as pipe:
            for pid in pids:
                pipe.hgetall(self.person_key(pid))
                pipe.hlen(self.person_key(pid) + ":faces")
            replies = pipe.execute()
        listed = []
        for pid, record, count in zip(pids, replies[::2], replies[1::2]):
            if record:  # deleted between the two reads
                listed.append({"person_id": pid, **{_text(k): _text(v) for k, v in record.items()},
                               "face_count": count})
        return sorted(listed, key=lambda p: (p["name"].lower(), p["person_id"]))

    def dump(self):
        """Every person with their faces' vectors and thumbnails, for export."""
        people = []
        for summary in self.people():
            key = self.person_key(summary["person_id"])
            with self.redis.pipeline(transaction=True) as pipe:
                faces, thumbs = pipe.hgetall(key + ":faces").hgetall(key + ":thumbs").execute()
            people.append({**summary, "faces": [(_text(f), decode_vector(v), thumbs.get(f, b""))
                                                for f, v in sorted(faces.items())]})
        return people

    def vectors(self, pid):
        """[n,128] of the person's enrolled faces."""
        key = self.person_key(pid)
        with self.redis.pipeline(transaction=True) as pipe:
            exists, faces = pipe.exists(key).hvals(key + ":faces").execute()
        if not exists:
            raise PersonNotFound.of(pid)
        return np.array([decode_vector(v) for v in faces], np.float32).reshape(-1, DIM)

    def thumbnail(self, pid, fid):
        return self.redis.hget(self.person_key(pid) + ":thumbs", fid)

    def read_changes(self, after_id):
        """(version, log entries after `after_id`), read together in one MULTI/EXEC."""
        with self.redis.pipeline(transaction=True) as pipe:
            version, entries = pipe.get(self.version_key).xrange(self.log_key, min=f"({after_id}").execute()
        return int(version or 0), entries

    def read_all(self):
        """(version, last log id, {pid: (name, {fid: vector})}). The version and log position
        are read first: changes made while the data is read are applied again later, which
        is harmless because every logged change is idempotent."""
        with self.redis.pipeline(transaction=True) as pipe:
            version, last, pids = pipe.get(self.version_key).xrevrange(self.log_key, count=1) \
                .smembers(self.people_key).execute()
        pids = [_text(p) for p in pids]
        with self.redis.pipeline(transaction=False) as pipe:
            for pid in pids:
                pipe.hget(self.person_key(pid), "name")
                pipe.hgetall(self.person_key(pid) + ":faces")
            replies = pipe.execute()
        people = {pid: (_text(name), {_text(f): decode_vector(v) for f, v in faces.items()})
                  for pid, name, faces in zip(pids, replies[::2], replies[1::2]) if name is not None}
        return int(version or 0), (_text(last[0][0]) if last else "0-0"), people


class GalleryIndex:
    """This worker's copy of the gallery as one matrix, kept in step with Redis by applying
    the logged changes since its last look (one round trip when nothing changed)."""

    def __init__(self, store, candidates=None):
        self.store = store
        self.candidates = candidates or CandidateIndex()
        self.lock = threading.Lock()
        self.version, self.last_id = -1, None
        self.vectors = np.zeros((1024, DIM), np.float32)
        self.count = 0
        self.pids, self.fids = [], []
        self.row = {}           # fid -> row in vectors
        self.faces_of = {}      # pid -> set of fids
        self.names = {}         # pid -> name

    @property
    def size(self):
        return self.count

    def sync(self):
        with self.lock:
            if self.last_id is None:
                return self._reload()
            version, entries = self.store.read_changes(self.last_id)
            if version == self.version:
                return "current"
            if len(entries) != version - self.version:  # some deltas were trimmed away
                return self._reload()
            for entry_id, fields in entries:
                self._apply({_text(k): v for k, v in fields.items()})
                self.last_id = _text(entry_id)
            self.version = version
            return "updated"

    def match(self, embedding, k):
        """[(pid, name, distance)] of the k nearest people."""
        with self.lock:
            matrix = self.vectors[: self.count]
            rows = self.candidates.rows_for(embedding, self.vectors, self.count, k)
            ranked = rank_people(embedding, matrix, self.pids, k, rows)
            if rows is not None and ranked and ranked[0][1] > self.candidates.sure_distance:
                rows = self.candidates.rows_for(embedding, self.vectors, self.count, k, wide=True)
                ranked = rank_people(embedding, matrix, self.pids, k, rows)
            return [(pid, self.names.get(pid, ""), d) for pid, d in ranked]

    def _reload(self):
        version, last_id, people = self.store.read_all()
        self.count = 0
        self.candidates.reset()
        self.pids, self.fids, self.row, self.faces_of, self.names = [], [], {}, {}, {}
        for pid, (name, faces) in people.items():
            self.names[pid] = name
            for fid, vector in faces.items():
                self._add(pid, fid, vector)
        self.version, self.last_id = version, last_id
        return "reloaded"

    def _apply(self, entry):
        op, pid, fid = _text(entry["op"]), _text(entry["pid"]), _text(entry.get("fid", b""))
        if op == "add":
            self.names[pid] = _text(entry["name"])
            self._add(pid, fid, decode_vector(entry["vec"]))
        elif op == "remove":
            self._remove(fid)
        elif op == "remove_person":
            for face in list(self.faces_of.get(pid, ())):
                self._remove(face)
            self.names.pop(pid, None)
        elif op == "rename":
            self.names[pid] = _text(entry["name"])

    def _add(self, pid, fid, vector):
        if fid in self.row:
            self.vectors[self.row[fid]] = vector
            self.candidates.mark(self.row[fid])
            return
        if self.count == len(self.vectors):
            self.vectors = np.concatenate([self.vectors, np.zeros_like(self.vectors)])
        self.vectors[self.count] = vector
        self.candidates.mark(self.count)
        self.row[fid] = self.count
        self.pids.append(pid)
        self.fids.append(fid)
        self.faces_of.setdefault(pid, set()).add(fid)
        self.count += 1

    def _remove(self, fid):
        """Swap the last row into the removed one: O(1)."""
        i = self.row.pop(fid, None)
        if i is None:
            return
        pid = self.pids[i]
        self.faces_of[pid].discard(fid)
        if not self.faces_of[pid]:
            del self.faces_of[pid]
        last = self.count - 1
        if i != last:
            self.vectors[i] = self.vectors[last]
            self.pids[i], self.fids[i] = self.pids[last], self.fids[last]
            self.row[self.fids[i]] = i
            self.candidates.mark(i)
        self.pids.pop()
        self.fids.pop()
        self.count -= 1
