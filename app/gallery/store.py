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
"""
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import redis

from app.errors import FaceNotFound, NameTaken, PersonNotFound
from app.gallery.codec import encode_vector, text
from app.gallery.face_claims import claim, claimed_by
from app.gallery.identity import is_valid_id, name_key
from app.gallery.model_record import LEGACY_MODEL, GalleryModel, ModelRecord, mismatch, require_model
from app.gallery.store_reads import GalleryReads, GallerySnapshot

__all__ = ["GalleryStore", "GallerySnapshot", "NewFace", "text"]

log = logging.getLogger(__name__)


@dataclass
class NewFace:
    vector: np.ndarray
    thumbnail: bytes = b""
    face_id: str | None = None   # kept when importing a gallery, made up otherwise
    crop: bytes = b""            # app/pipeline/enrolled_crop.py, opaque here


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class GalleryStore(GalleryReads):
    """Every gallery change, each one atomic and logged for the workers (the reads are in
    app/gallery/store_reads.py)."""

    def __init__(self, client: redis.Redis, prefix: str = "fr:", log_maxlen: int = 100_000,
                 model: GalleryModel = LEGACY_MODEL):
        """model: what this worker's embedder makes (its vectors' dimension included)."""
        self.redis, self.prefix, self.log_maxlen, self.model = client, prefix, log_maxlen, model
        self.people_key, self.names_key = prefix + "people", prefix + "name_index"
        self.version_key, self.log_key = prefix + "gallery:version", prefix + "gallery:log"
        self.model_key = prefix + "gallery:model"
        self.owners_key = prefix + "face_owner"
        self._names_checked = False
        self._generation = None   # of the model record this store's reader last saw

    @property
    def dim(self) -> int:
        return self.model.dim

    def _log(self, pipe, op, pid, fid="", name="", vec=b""):
        pipe.incr(self.version_key)
        pipe.xadd(self.log_key, {"op": op, "pid": pid, "fid": fid, "name": name, "vec": vec},
                  maxlen=self.log_maxlen, approximate=True)

    def _add_faces(self, pipe, pid, name, faces, model):
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

    # --- the gallery's model ----------------------------------------------------------
    def _writable(self, pipe, model: GalleryModel):
        """Before pipe.multi(): refuse to write `model`'s vectors into a gallery of another model.
        Returns the record to write after pipe.multi() when an empty gallery adopts `model`."""
        fields, people = pipe.hgetall(self.model_key), pipe.scard(self.people_key)
        record = ModelRecord.parse(fields, people)
        require_model(record, people, model, writing=True)
        if record is None or record.model != model:
            return ModelRecord(model, generation=(record.generation + 1) if record else 1)
        return None

    def _write_record(self, pipe, record: ModelRecord) -> None:
        pipe.hset(self.model_key, mapping=record.fields())
        self._log(pipe, "model", "", name=record.model.id)

    def set_model_record(self, record: ModelRecord) -> ModelRecord:
        """Replace the record (re-embedding starts or ends): generation +1, logged, so every
        replica notices and reloads."""
        def change(pipe):
            old = ModelRecord.parse(pipe.hgetall(self.model_key), 1)
            assert old is not None   # parse gives a record whenever people > 0
            new = ModelRecord(record.model, record.state, record.previous, old.generation + 1)
            pipe.multi()
            self._write_record(pipe, new)
            return new
        return self._atomically(change, self.model_key)

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
            index: dict[str, str] = {}
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
                      created_at: str | None = None, model: GalleryModel | None = None) -> tuple[str, list[str]]:
        """New person `name` with faces [NewFace] -> (pid, face ids). `model`: what made the
        vectors (default this worker's; an import names the file's)."""
        pid, model = pid or uuid.uuid4().hex, model or self.model
        key = self.person_key(pid)
        self._index_names()

        def change(pipe):
            taken = pipe.hget(self.names_key, name_key(name))
            if taken is not None:
                raise NameTaken(f"a person named {name!r} exists (person_id {text(taken)}); "
                                f"send person_id to add faces to them, or choose another name")
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
        return self._atomically(change, self.names_key, key, self.model_key, self.people_key, self.owners_key)

    def add_faces(self, pid: str, faces: list[NewFace], model: GalleryModel | None = None) -> tuple[str, list[str]]:
        """Faces [NewFace] added to an existing person -> (name, face ids)."""
        model = model or self.model

        def change(pipe):
            name = self._name_of(pipe, pid)
            claim(pipe, self.owners_key, pid, [f.face_id for f in faces if f.face_id])
            adopted = self._writable(pipe, model)
            pipe.multi()
            if adopted:
                self._write_record(pipe, adopted)
            pipe.hset(self.person_key(pid), "updated_at", _now())
            return name, self._add_faces(pipe, pid, name, faces, model)
        return self._atomically(change, self.person_key(pid), self.model_key, self.people_key, self.owners_key)

    def rewrite_faces(self, pid: str, vectors: dict, crops: dict, removed: list[str], also=None) -> int:
        """Re-embedding: person `pid`'s faces {fid: vector} overwritten (same face ids, each
        logged as an "add" so replicas update), their crops {fid: bytes} stored, faces
        `removed` deleted; faces deleted meanwhile stay deleted. `also(pipe)` queues more
        writes into the same MULTI/EXEC (the re-embedding's progress). Refused unless the
        gallery is being re-embedded to this store's model. Returns the faces rewritten."""
        key = self.person_key(pid)

        def change(pipe):
            record = ModelRecord.parse(pipe.hgetall(self.model_key), 1)   # never None: people=1
            problem = mismatch(record, 1, self.model) if record is None or record.model != self.model else None
            if problem is not None:
                raise problem
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
        return self._atomically(change, key + ":faces", self.model_key, self.owners_key)

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
            released = claimed_by(pipe, self.owners_key, pid, [text(f) for f in pipe.hkeys(key + ":faces")])
            pipe.multi()
            if released:
                pipe.hdel(self.owners_key, *released)
            pipe.delete(key, key + ":faces", key + ":thumbs", key + ":crops")
            pipe.srem(self.people_key, pid)
            if holder is not None and text(holder) == pid:
                pipe.hdel(self.names_key, name_key(name))
            self._log(pipe, "remove_person", pid)
        self._atomically(change, key, key + ":faces", self.names_key, self.owners_key)

    def delete_face(self, pid: str, fid: str) -> None:
        key = self.person_key(pid)

        def change(pipe):
            self._name_of(pipe, pid)
            if not pipe.hexists(key + ":faces", fid):
                raise FaceNotFound(f"person {pid!r} has no face {fid!r}; GET /people/{pid} lists them")
            released = claimed_by(pipe, self.owners_key, pid, [fid])
            pipe.multi()
            if released:
                pipe.hdel(self.owners_key, *released)
            pipe.hdel(key + ":faces", fid)
            pipe.hdel(key + ":thumbs", fid)
            pipe.hdel(key + ":crops", fid)
            pipe.hset(key, "updated_at", _now())
            self._log(pipe, "remove", pid, fid)
        self._atomically(change, key, key + ":faces", self.owners_key)

    def trim_log(self, keep: int = 100) -> None:
        """Drop all but the newest `keep` log entries (to free memory); a replica whose next
        entries were dropped reloads the whole gallery."""
        self.redis.xtrim(self.log_key, maxlen=keep, approximate=False)
