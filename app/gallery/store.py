"""The gallery: every enrolled person and embedding, in Redis, shared by every worker and
replica. Each change is one MULTI/EXEC that also bumps the version and appends to the log,
from which each worker's in-memory copy (app/gallery/replica.py) catches up.

Redis keys (under the prefix, default "fr:"):
    person:{pid}          hash  name, created_at, updated_at
    person:{pid}:faces    hash  face_id -> dim x float32 little-endian (dim: the gallery model's)
    person:{pid}:thumbs   hash  face_id -> small JPEG of the enrolled face (96x96, box+10%)
    person:{pid}:crops    hash  face_id -> the face with a wide margin and its box and landmarks
                                (app/pipeline/enrolled_crop.py), to embed it again with another model
    people                set   pids
    name_index            hash  name key (case folded, app/gallery/identity.py) -> pid: names are unique
    face_owner            hash  face id -> pid, for every face whose id was given rather than made up
                                (imports, corrections, named visitors): checked under WATCH in the
                                same transaction that adds the face, so a face id belongs to one
                                person, always (made-up ids are uuid4: they never collide)
    gallery:model         hash  id, dim, state (ready|reembedding), previous, generation: the model
                                of the embeddings (app/gallery/model_record.py). Absent: empty, or
                                a gallery from before it existed (FaceNet, box+10%)
    gallery:version       int   +1 per change, in the same MULTI/EXEC as the change
    gallery:log           stream, one entry per change: op (add|remove|remove_person|rename|model),
                          pid, fid, name, vec. Workers apply these deltas; a worker whose
                          deltas were trimmed away, or whose gallery changed model, reloads.

A store is made for one worker's model (GalleryModel): reads that feed matching raise 409
gallery_model_mismatch when the gallery's model is another, and writes refuse to mix models.
Every read that feeds matching checks the gallery's model at the same moment, so a worker of
another model never loads vectors it cannot compare with its own. No read is a MULTI: Redis
refuses every command queued in a MULTI when it is full (maxmemory), and recognition must go
on then; reads that must see one moment are read-only Lua scripts (app/gallery/changelog.py).
"""
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast

import numpy as np
import redis

from app.errors import FaceNotFound, NameTaken, PersonNotFound
from app.gallery.changelog import ChangeLog, Position
from app.gallery.codec import decoded_faces, encode_vector, readable, text
from app.gallery.face_claims import claim, claimed_by
from app.gallery.identity import is_valid_id, name_key
from app.gallery.model_record import LEGACY_MODEL, GalleryModel, ModelRecord, require_model
from app.gallery.redis_calls import Pipe, atomically

__all__ = ["GalleryStore", "GallerySnapshot", "NewFace"]

log = logging.getLogger(__name__)


@dataclass
class NewFace:
    vector: np.ndarray
    thumbnail: bytes = b""
    face_id: str | None = None   # kept when importing a gallery, made up otherwise
    crop: bytes = b""            # app/pipeline/enrolled_crop.py, opaque here


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class GallerySnapshot:
    """Everything a replica needs: {pid: (name, {fid: vector})} at `version` / log entry `last_id`,
    and what could not be read (a stored vector that is not one)."""
    version: int
    last_id: str
    people: dict[str, tuple[str, dict[str, np.ndarray]]]
    problems: list[str]


class GalleryStore:
    """Every gallery change, each one atomic and logged for the workers, and every read of it."""

    def __init__(self, client: redis.Redis, prefix: str = "fr:", log_maxlen: int = 100_000,
                 model: GalleryModel = LEGACY_MODEL):
        """model: what this worker's embedder makes (its vectors' dimension included)."""
        self.redis, self.prefix, self.log_maxlen, self.model = client, prefix, log_maxlen, model
        self.people_key, self.names_key = prefix + "people", prefix + "name_index"
        self.version_key, self.log_key = prefix + "gallery:version", prefix + "gallery:log"
        self.model_key = prefix + "gallery:model"
        self.owners_key = prefix + "face_owner"
        # what replicas follow: every read of it checks the gallery's model at the same moment
        self.changelog = ChangeLog(client, self.version_key, self.log_key, (self.model_key, self.people_key),
                                   self.accept_model)
        self._names_checked = False
        self._generation: int | None = None   # of the model record this store's reads last accepted

    @property
    def dim(self) -> int:
        return self.model.dim

    def person_key(self, pid: str) -> str:
        return f"{self.prefix}person:{pid}"

    def _key_of(self, pid: str) -> str:
        """The person's key; PersonNotFound for an id no person can have."""
        if not is_valid_id(pid):
            raise PersonNotFound.of(pid)
        return self.person_key(pid)

    # --- the gallery's model ----------------------------------------------------------
    def model_record(self) -> tuple[ModelRecord | None, int]:
        """(the gallery's model record, how many people it has)."""
        with self.redis.pipeline(transaction=False) as pipe:
            fields, people = pipe.hgetall(self.model_key).scard(self.people_key).execute()
        return ModelRecord.parse(fields, people), people

    def check_model(self, writing: bool = False) -> None:
        """409 gallery_model_mismatch unless this worker may match against (writing: enroll
        into) the gallery."""
        require_model(*self.model_record(), self.model, writing)

    @property
    def model_generation(self) -> int:
        """The generation of the model record this store's reads last accepted (0: none)."""
        return self._generation or 0

    def accept_model(self, fields: Mapping[Any, Any], people: int) -> bool:
        """For the reads of the change log: raise when this worker may not match against the gallery;
        False when the record changed since this store's last read (the replica reloads)."""
        record = ModelRecord.parse(fields, people)
        require_model(record, people, self.model)
        generation = record.generation if record else 0
        seen, self._generation = self._generation, generation
        return seen is None or seen == generation

    def _writable(self, pipe: Pipe, model: GalleryModel) -> ModelRecord | None:
        """Before pipe.multi(): refuse to write `model`'s vectors into a gallery of another model.
        Returns the record to write after pipe.multi() when an empty gallery adopts `model`."""
        fields, people = pipe.hgetall(self.model_key), pipe.scard(self.people_key)
        record = ModelRecord.parse(fields, people)
        require_model(record, people, model, writing=True)
        if record is None or record.model != model:
            return ModelRecord(model, generation=(record.generation + 1) if record else 1)
        return None

    def _write_record(self, pipe: Pipe, record: ModelRecord) -> None:
        pipe.hset(self.model_key, mapping=record.fields())
        self._log(pipe, "model", "", name=record.model.id)

    def set_model_record(self, record: ModelRecord) -> ModelRecord:
        """Replace the record (re-embedding starts or ends): generation +1, logged, so every
        replica notices and reloads."""
        def change(pipe: Pipe) -> ModelRecord:
            old = ModelRecord.parse(pipe.hgetall(self.model_key), 1)
            new = ModelRecord(record.model, record.state, record.previous, (old.generation if old else 0) + 1)
            pipe.multi()
            self._write_record(pipe, new)
            return new
        return atomically(self.redis, change, self.model_key)

    # --- people and faces -------------------------------------------------------------
    def person(self, pid: str) -> dict[str, Any]:
        key = self._key_of(pid)
        with self.redis.pipeline(transaction=False) as pipe:
            record, faces = pipe.hgetall(key).hkeys(key + ":faces").execute()
        if not record:
            raise PersonNotFound.of(pid)
        return {"person_id": pid, **{text(k): text(v) for k, v in record.items()},
                "faces": sorted(text(f) for f in faces)}

    def people(self) -> list[dict[str, Any]]:
        """Every person: id, name, created_at, updated_at, face_count, sorted by name. An id
        that is not one (a damaged gallery) is left out."""
        pids = [pid for pid in self.pids() if is_valid_id(pid)]
        with self.redis.pipeline(transaction=False) as pipe:
            for pid in pids:
                pipe.hgetall(self.person_key(pid))
                pipe.hlen(self.person_key(pid) + ":faces")
            replies = pipe.execute()
        listed = []
        for pid, record, count in zip(pids, replies[::2], replies[1::2]):
            record = {text(k): text(v) for k, v in record.items()}
            if "name" in record:  # else deleted between the two reads
                listed.append({"person_id": pid, "name": record["name"], "created_at": record.get("created_at", ""),
                               "updated_at": record.get("updated_at", ""), "face_count": count})
        return sorted(listed, key=lambda p: (p["name"].lower(), p["person_id"]))

    def find_person(self, name: str) -> str | None:
        """The pid of the person called `name`, whatever its case (the name index), or None."""
        self._index_names()
        pid = self.redis.hget(self.names_key, name_key(name))
        return None if pid is None else text(pid)

    def faces(self, pid: str) -> list[tuple[str, np.ndarray, bytes, bytes]]:
        """(face id, vector, thumbnail, crop) of the person's faces, by face id ([] for no such
        person). A stored vector that is not one of this worker's model is left out (read_all
        reports it)."""
        if not is_valid_id(pid):
            return []
        key = self.person_key(pid)
        with self.redis.pipeline(transaction=False) as pipe:
            faces, thumbs, crops = pipe.hgetall(key + ":faces").hgetall(key + ":thumbs") \
                .hgetall(key + ":crops").execute()
        vectors = decoded_faces(pid, faces, self.model.dim)
        return [(fid, vector, thumbs.get(fid.encode(), b""), crops.get(fid.encode(), b""))
                for fid, vector in sorted(vectors.items())]

    def face_vectors(self, pid: str) -> dict[str, np.ndarray]:
        """{face id: vector} of the person's readable faces; 409 when the gallery's model is not
        this worker's."""
        key = self._key_of(pid)
        with self.redis.pipeline(transaction=False) as pipe:
            exists, faces, fields, people = pipe.exists(key).hgetall(key + ":faces").hgetall(self.model_key) \
                .scard(self.people_key).execute()
        require_model(ModelRecord.parse(fields, people), people, self.model)
        if not exists:
            raise PersonNotFound.of(pid)
        return decoded_faces(pid, faces, self.model.dim)

    def vectors(self, pid: str) -> np.ndarray:
        """[n,dim] of the person's enrolled faces; 409 when the gallery's model is not this worker's."""
        return np.array(list(self.face_vectors(pid).values()), np.float32).reshape(-1, self.model.dim)

    def thumbnail(self, pid: str, fid: str) -> bytes | None:
        if not is_valid_id(pid):
            return None
        return cast(bytes | None, self.redis.hget(self.person_key(pid) + ":thumbs", fid))

    def pids(self) -> list[str]:
        return sorted(text(p) for p in self.redis.smembers(self.people_key))

    def face_owners(self) -> dict[str, str]:
        """{face id: person id} of the whole gallery, read from Redis (the replica has it in
        memory; this is for a worker that cannot load the gallery)."""
        pids = self.pids()
        with self.redis.pipeline(transaction=False) as pipe:
            for pid in pids:
                pipe.hkeys(self.person_key(pid) + ":faces")
            replies = pipe.execute()
        return {text(fid): pid for pid, fids in zip(pids, replies) for fid in fids}

    def faces_to_reembed(self, pid: str) -> dict[str, tuple[bytes, bytes]]:
        """{face id: (crop or b"", thumbnail or b"")} of the person's faces ({} when gone)."""
        key = self.person_key(pid)
        with self.redis.pipeline(transaction=False) as pipe:
            fids, thumbs, crops = pipe.hkeys(key + ":faces").hgetall(key + ":thumbs").hgetall(key + ":crops").execute()
        return {text(f): (crops.get(f, b""), thumbs.get(f, b"")) for f in fids}

    def people_for_export(self, dim: int, batch_size: int = 200) -> Iterator[dict[str, Any]]:
        """Every person, by id, with thumbnails and crops, read a few hundred people per round
        trip so memory stays flat at any gallery size: their record and faces [(face id, stored
        vector bytes, thumbnail, crop)] (vectors that are not embeddings of `dim` left out: the
        replica reports them)."""
        pids = self.pids()
        for start in range(0, len(pids), batch_size):
            some = pids[start: start + batch_size]
            with self.redis.pipeline(transaction=False) as pipe:
                for pid in some:
                    key = self.person_key(pid)
                    pipe.hgetall(key).hgetall(key + ":faces").hgetall(key + ":thumbs").hgetall(key + ":crops")
                replies = pipe.execute()
            for pid, record, faces, thumbs, crops in zip(some, replies[::4], replies[1::4], replies[2::4],
                                                         replies[3::4]):
                if not record:
                    continue  # deleted meanwhile
                good = set(readable(faces, dim)[0])
                yield {"person_id": pid, **{text(k): text(v) for k, v in record.items()},
                       "faces": [(text(f), faces[f], thumbs.get(f, b""), crops.get(f, b"")) for f in sorted(good)]}

    # --- what replicas read -------------------------------------------------------------
    def position(self) -> Position:
        """The log's position (see ChangeLog.position), read together with the gallery's model:
        409 when this worker may not load it."""
        return self.changelog.position()

    def names_and_faces(self, pids: list[str]) -> list[tuple[str, str | None, dict[bytes, bytes]]]:
        """(pid, name or None when gone, {face id bytes: stored vector bytes}) of each person, in
        one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            for pid in pids:
                pipe.hget(self.person_key(pid), "name")
                pipe.hgetall(self.person_key(pid) + ":faces")
            replies = pipe.execute()
        return [(pid, None if name is None else text(name), faces)
                for pid, name, faces in zip(pids, replies[::2], replies[1::2])]

    def read_all(self) -> GallerySnapshot:
        """The whole gallery (from its position: see position()). A stored vector that is not one
        is skipped and reported."""
        position = self.position()
        vectors: dict[str, tuple[str, dict[str, np.ndarray]]] = {}
        problems: list[str] = []
        for pid, name, faces in self.names_and_faces(self.pids()):
            if name is not None:
                vectors[pid] = (name, decoded_faces(pid, faces, self.model.dim, problems))
        return GallerySnapshot(position.version, position.last_id, vectors, problems)

    # --- changes ------------------------------------------------------------------------

    def _log(self, pipe: Pipe, op: str, pid: str, fid: str = "", name: str = "", vec: bytes = b"") -> None:
        pipe.incr(self.version_key)
        pipe.xadd(self.log_key, {"op": op, "pid": pid, "fid": fid, "name": name, "vec": vec},
                  maxlen=self.log_maxlen, approximate=True)

    def _add_faces(self, pipe: Pipe, pid: str, name: str, faces: list[NewFace], model: GalleryModel) -> list[str]:
        ids = []
        for face in faces:
            fid = face.face_id or uuid.uuid4().hex
            vec = encode_vector(face.vector, model.dim)
            pipe.hset(self.person_key(pid) + ":faces", fid, vec)
            if face.thumbnail:
                pipe.hset(self.person_key(pid) + ":thumbs", fid, face.thumbnail)
            if face.crop:
                pipe.hset(self.person_key(pid) + ":crops", fid, face.crop)
            if face.face_id:
                pipe.hset(self.owners_key, fid, pid)
            self._log(pipe, "add", pid, fid, name, vec)
            ids.append(fid)
        return ids

    def _name_of(self, pipe: Pipe, pid: str) -> str:
        name = pipe.hget(self.person_key(pid), "name") if is_valid_id(pid) else None
        if name is None:
            raise PersonNotFound.of(pid)
        return text(name)

    def _stored_name(self, pipe: Pipe, pid: str, asked: str) -> str:
        """The name person `pid` has (a name taken differs from the one asked for in case:
        "SS" is taken by "ß"), or `asked` when it cannot be read."""
        stored = pipe.hget(self.person_key(pid), "name") if is_valid_id(pid) else None
        return asked if stored is None else text(stored)

    def _index_names(self) -> None:
        """Before the first change: galleries written before names were case-insensitive kept
        an exact-name hash ("names"); index every name by its key once, in one transaction."""
        if self._names_checked:
            return
        legacy = self.prefix + "names"

        def change(pipe: Pipe) -> None:
            if pipe.exists(self.names_key) or not pipe.exists(legacy):
                return
            index: dict[str, str] = {}
            for pid in (text(p) for p in pipe.smembers(self.people_key)):
                name = pipe.hget(self.person_key(pid), "name")
                if name is not None and index.setdefault(name_key(text(name)), pid) != pid:
                    log.warning("gallery: %r and another person have the same name but for case", text(name))
            pipe.multi()
            if index:
                pipe.hset(self.names_key, mapping=index)
            pipe.delete(legacy)
        atomically(self.redis, change, self.names_key, legacy, self.people_key)
        self._names_checked = True

    def create_person(self, name: str, faces: list[NewFace], pid: str | None = None,
                      created_at: str | None = None, model: GalleryModel | None = None) -> tuple[str, list[str]]:
        """New person `name` with faces [NewFace] -> (pid, face ids). `model`: what made the
        vectors (default this worker's; an import names the file's)."""
        pid, model = pid or uuid.uuid4().hex, model or self.model
        key = self.person_key(pid)
        self._index_names()

        def change(pipe: Pipe) -> tuple[str, list[str]]:
            taken = pipe.hget(self.names_key, name_key(name))
            if taken is not None:
                raise NameTaken(f"a person named {self._stored_name(pipe, text(taken), name)!r} exists (person_id "
                                f"{text(taken)}); send person_id to add faces to them, or choose another name")
            if pipe.exists(key):
                raise NameTaken(f"person_id {pid} exists already")
            claim(pipe, self.owners_key, pid, [f.face_id for f in faces if f.face_id])
            adopted = self._writable(pipe, model)
            pipe.multi()
            if adopted:
                self._write_record(pipe, adopted)
            now = _now()
            pipe.hset(key, mapping={"name": name, "created_at": created_at or now, "updated_at": now})
            pipe.sadd(self.people_key, pid)
            pipe.hset(self.names_key, name_key(name), pid)
            return pid, self._add_faces(pipe, pid, name, faces, model)
        return atomically(self.redis, change, self.names_key, key, self.model_key, self.people_key, self.owners_key)

    def add_faces(self, pid: str, faces: list[NewFace], model: GalleryModel | None = None,
                  also: Callable[[Pipe], None] | None = None) -> tuple[str, list[str]]:
        """Faces [NewFace] added to an existing person -> (name, face ids). `also(pipe)` queues
        more writes into the same MULTI/EXEC (a correction withdrawing a negative example)."""
        model = model or self.model

        def change(pipe: Pipe) -> tuple[str, list[str]]:
            name = self._name_of(pipe, pid)
            claim(pipe, self.owners_key, pid, [f.face_id for f in faces if f.face_id])
            adopted = self._writable(pipe, model)
            pipe.multi()
            if adopted:
                self._write_record(pipe, adopted)
            pipe.hset(self.person_key(pid), "updated_at", _now())
            ids = self._add_faces(pipe, pid, name, faces, model)
            if also:
                also(pipe)
            return name, ids
        return atomically(self.redis, change, self.person_key(pid), self.model_key, self.people_key, self.owners_key)

    def merge_person(self, pid: str, into: str, into_name: str | None = None) -> tuple[str, list[str]]:
        """Every face of person `pid` (vector, thumbnail, crop and face id) moved to person
        `into`, and `pid` deleted, in one transaction -> (the name of `into`, the face ids
        moved). PersonNotFound when either is gone (a second merge of `pid` finds it gone), or
        when `into_name` is given and no longer names `into` (renamed since it was looked up);
        409 while the gallery is being re-embedded (the two people's faces may be of two models
        then)."""
        key, target = self._key_of(pid), self._key_of(into)
        if pid == into:
            raise ValueError("a person cannot be merged into themselves")

        def change(pipe: Pipe) -> tuple[str, list[str]]:
            old_name, name = self._name_of(pipe, pid), self._name_of(pipe, into)
            if into_name is not None and pipe.hget(self.names_key, name_key(into_name)) != into.encode():
                raise PersonNotFound(f"{into_name!r} no longer names person {into}")
            require_model(ModelRecord.parse(pipe.hgetall(self.model_key), 1), 1, self.model)
            faces, thumbs, crops = pipe.hgetall(key + ":faces"), pipe.hgetall(key + ":thumbs"), \
                pipe.hgetall(key + ":crops")
            fids = sorted(text(f) for f in faces)
            claimed = claimed_by(pipe, self.owners_key, pid, fids)
            holder = pipe.hget(self.names_key, name_key(old_name))
            pipe.multi()
            self._queue_person_removal(pipe, pid, old_name if holder is not None and text(holder) == pid else None)
            for fid in fids:
                raw = fid.encode()
                pipe.hset(target + ":faces", fid, faces[raw])
                if thumbs.get(raw):
                    pipe.hset(target + ":thumbs", fid, thumbs[raw])
                if crops.get(raw):
                    pipe.hset(target + ":crops", fid, crops[raw])
                if fid in claimed:
                    pipe.hset(self.owners_key, fid, into)
                self._log(pipe, "add", into, fid, name, faces[raw])
            pipe.hset(target, "updated_at", _now())
            return name, fids
        return atomically(self.redis, change, key, key + ":faces", key + ":thumbs", key + ":crops", target,
                          self.names_key, self.owners_key, self.model_key)

    def rewrite_faces(self, pid: str, vectors: Mapping[str, np.ndarray], crops: Mapping[str, bytes], removed: list[str],
                      also: Callable[[Pipe], None] | None = None) -> int:
        """Re-embedding: person `pid`'s faces {fid: vector} overwritten (same face ids, each
        logged as an "add" so replicas update), their crops {fid: bytes} stored, faces
        `removed` deleted; faces deleted meanwhile stay deleted. `also(pipe)` queues more
        writes into the same MULTI/EXEC (the re-embedding's progress). Refused unless the
        gallery is being re-embedded to this store's model. Returns the faces rewritten."""
        key = self.person_key(pid)

        def change(pipe: Pipe) -> int:
            record = ModelRecord.parse(pipe.hgetall(self.model_key), 1)
            if record is None or record.model != self.model:
                require_model(record, 1, self.model)
            name, existing = pipe.hget(key, "name"), {text(f) for f in pipe.hkeys(key + ":faces")}
            released = claimed_by(pipe, self.owners_key, pid, [f for f in removed if f in existing])
            pipe.multi()
            if released:
                pipe.hdel(self.owners_key, *released)
            written = [fid for fid in vectors if fid in existing]
            for fid in written:
                vec = encode_vector(vectors[fid], self.dim)
                pipe.hset(key + ":faces", fid, vec)
                if crops.get(fid):
                    pipe.hset(key + ":crops", fid, crops[fid])
                self._log(pipe, "add", pid, fid, text(name or b""), vec)
            for fid in (f for f in removed if f in existing):
                pipe.hdel(key + ":faces", fid)
                pipe.hdel(key + ":thumbs", fid)
                pipe.hdel(key + ":crops", fid)
                self._log(pipe, "remove", pid, fid)
            if also:
                also(pipe)
            return len(written)
        # the record too: the name logged with each face must be the one a rename left
        return atomically(self.redis, change, key, key + ":faces", self.model_key, self.owners_key)

    def rename(self, pid: str, name: str) -> None:
        self._index_names()

        def change(pipe: Pipe) -> None:
            old = self._name_of(pipe, pid)
            holder = pipe.hget(self.names_key, name_key(name))
            if holder is not None and text(holder) != pid:
                raise NameTaken(f"a person named {self._stored_name(pipe, text(holder), name)!r} exists (person_id "
                                f"{text(holder)})")
            old_holder = pipe.hget(self.names_key, name_key(old))
            pipe.multi()
            if old_holder is not None and text(old_holder) == pid:
                pipe.hdel(self.names_key, name_key(old))
            pipe.hset(self.names_key, name_key(name), pid)
            pipe.hset(self.person_key(pid), mapping={"name": name, "updated_at": _now()})
            self._log(pipe, "rename", pid, name=name)
        atomically(self.redis, change, self.person_key(pid), self.names_key)

    def delete_person(self, pid: str) -> None:
        key = self.person_key(pid)

        def change(pipe: Pipe) -> None:
            name = self._name_of(pipe, pid)
            holder = pipe.hget(self.names_key, name_key(name))
            released = claimed_by(pipe, self.owners_key, pid, [text(f) for f in pipe.hkeys(key + ":faces")])
            pipe.multi()
            if released:
                pipe.hdel(self.owners_key, *released)
            self._queue_person_removal(pipe, pid, name if holder is not None and text(holder) == pid else None)
        atomically(self.redis, change, key, key + ":faces", self.names_key, self.owners_key)

    def _queue_person_removal(self, pipe: Pipe, pid: str, indexed_name: str | None) -> None:
        """After pipe.multi(): person `pid` and their faces deleted, their name (when the index
        holds it for them) freed, logged."""
        key = self.person_key(pid)
        pipe.delete(key, key + ":faces", key + ":thumbs", key + ":crops")
        pipe.srem(self.people_key, pid)
        if indexed_name is not None:
            pipe.hdel(self.names_key, name_key(indexed_name))
        self._log(pipe, "remove_person", pid)

    def delete_face(self, pid: str, fid: str) -> None:
        key = self.person_key(pid)

        def change(pipe: Pipe) -> None:
            self._name_of(pipe, pid)
            if not pipe.hexists(key + ":faces", fid):
                raise FaceNotFound(f"person {pid!r} has no face {fid!r}; GET /people/{pid} lists them")
            released = claimed_by(pipe, self.owners_key, pid, [fid])
            pipe.multi()
            self._queue_face_removal(pipe, pid, fid, released)
        atomically(self.redis, change, key, key + ":faces", self.owners_key)

    def take_back_face(self, pid: str, fid: str, also: Callable[[Pipe], None]) -> tuple[str, bool]:
        """Face `fid` deleted from person `pid` if they have it, and `also(pipe)` queued into the
        same MULTI/EXEC, while `pid` exists (PersonNotFound otherwise) -> (their name, whether
        the face was theirs). A correction "this face is not X": the face leaves X and becomes
        X's negative example at one moment, whatever "this face is X" races it."""
        key = self._key_of(pid)

        def change(pipe: Pipe) -> tuple[str, bool]:
            name = self._name_of(pipe, pid)
            held = bool(pipe.hexists(key + ":faces", fid))
            released = claimed_by(pipe, self.owners_key, pid, [fid]) if held else []
            pipe.multi()
            if held:
                self._queue_face_removal(pipe, pid, fid, released)
            also(pipe)
            return name, held
        return atomically(self.redis, change, key, key + ":faces", self.owners_key)

    def _queue_face_removal(self, pipe: Pipe, pid: str, fid: str, released: list[str]) -> None:
        """After pipe.multi(): face `fid` of `pid` deleted (its id released when `released`
        holds it), logged."""
        key = self.person_key(pid)
        if released:
            pipe.hdel(self.owners_key, *released)
        pipe.hdel(key + ":faces", fid)
        pipe.hdel(key + ":thumbs", fid)
        pipe.hdel(key + ":crops", fid)
        pipe.hset(key, "updated_at", _now())
        self._log(pipe, "remove", pid, fid)

    def trim_log(self, keep: int = 100) -> None:
        """Drop all but the newest `keep` log entries (to free memory); a replica whose next
        entries were dropped reloads the whole gallery."""
        self.redis.xtrim(self.log_key, maxlen=keep, approximate=False)
