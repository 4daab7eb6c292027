"""The gallery store's reads (GalleryStore, app/gallery/store.py, inherits them; the keys are
described there): people and faces for the API and export, a person's vectors for verify,
the faces to re-embed, and what a replica loads and catches up with.

Every read that feeds matching checks the gallery's model at the same moment, so a worker of
another model never loads vectors it cannot compare with its own. None of them is a MULTI:
Redis refuses every command queued in a MULTI when it is full (maxmemory), and recognition
must go on then; reads that must see one moment are read-only Lua scripts (log_reads)."""
from dataclasses import dataclass

import numpy as np
import redis

from app.errors import PersonNotFound
from app.gallery.codec import decoded_faces, text
from app.gallery.identity import is_valid_id, name_key
from app.gallery.log_reads import version_and_changes, version_and_position
from app.gallery.model_record import GalleryModel, ModelRecord, require_model


@dataclass
class GallerySnapshot:
    """Everything a replica needs: {pid: (name, {fid: vector})} at `version` / log entry `last_id`,
    and what could not be read (a stored vector that is not one)."""
    version: int
    last_id: str
    people: dict
    problems: list[str]


class GalleryReads:
    # set by GalleryStore.__init__
    redis: redis.Redis
    model: GalleryModel
    prefix: str
    people_key: str
    names_key: str
    version_key: str
    log_key: str
    model_key: str
    _generation: int | None = None

    def _index_names(self) -> None:
        raise NotImplementedError   # GalleryStore's

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

    def accept_model(self, fields: dict, people: int) -> bool:
        """For a replica's reads: raise when this worker may not match against the gallery;
        False when the record changed since this store's last read (the replica reloads)."""
        record = ModelRecord.parse(fields, people)
        require_model(record, people, self.model)
        generation = record.generation if record else 0
        seen, self._generation = self._generation, generation
        return seen is None or seen == generation

    # --- people and faces -------------------------------------------------------------
    def person(self, pid: str) -> dict:
        key = self._key_of(pid)
        with self.redis.pipeline(transaction=False) as pipe:
            record, faces = pipe.hgetall(key).hkeys(key + ":faces").execute()
        if not record:
            raise PersonNotFound.of(pid)
        return {"person_id": pid, **{text(k): text(v) for k, v in record.items()},
                "faces": sorted(text(f) for f in faces)}

    def people(self) -> list[dict]:
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
        vectors = decoded_faces(pid, faces, dim=self.model.dim)
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
        return decoded_faces(pid, faces, dim=self.model.dim)

    def vectors(self, pid: str) -> np.ndarray:
        """[n,dim] of the person's enrolled faces; 409 when the gallery's model is not this worker's."""
        return np.array(list(self.face_vectors(pid).values()), np.float32).reshape(-1, self.model.dim)

    def thumbnail(self, pid: str, fid: str) -> bytes | None:
        if not is_valid_id(pid):
            return None
        return self.redis.hget(self.person_key(pid) + ":thumbs", fid)

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

    # --- what replicas read -------------------------------------------------------------
    def read_changes(self, after_id: str) -> tuple[int, list]:
        """(version, log entries after `after_id`), read together with the gallery's model: 409
        when this worker may not match against it; no entries (as if the log had been trimmed:
        the replica reloads) when the model changed since."""
        version, entries, fields, people = version_and_changes(self.redis, self.version_key, self.log_key, after_id,
                                                               self.model_key, self.people_key)
        return version, (entries if self.accept_model(fields, people) else [])

    def position(self) -> tuple[int, str]:
        """(version, id of the last log entry), read together with the gallery's model: 409 when
        this worker may not load it. A whole read starts here: changes made while the data is
        read are in the log after this position and applied again later, which is harmless
        because every logged change is idempotent."""
        version, last_id, fields, people = version_and_position(self.redis, self.version_key, self.log_key,
                                                                self.model_key, self.people_key)
        self.accept_model(fields, people)
        return version, last_id

    def names_and_faces(self, pids: list[str]) -> list[tuple[str, str | None, dict]]:
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
        version, last_id = self.position()
        vectors: dict[str, tuple[str, dict[str, np.ndarray]]] = {}
        problems: list[str] = []
        for pid, name, faces in self.names_and_faces(self.pids()):
            if name is not None:
                vectors[pid] = (name, decoded_faces(pid, faces, problems, self.model.dim))
        return GallerySnapshot(version, last_id, vectors, problems)
