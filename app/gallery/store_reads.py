"""The gallery store's reads (GalleryStore, app/gallery/store.py, inherits them; the keys are
described there): people and faces for the API and export, a person's vectors for verify,
the faces to re-embed, and what a replica loads and catches up with. Every read that feeds
matching checks the gallery's model in the same MULTI/EXEC, so a worker of another model
never loads vectors it cannot compare with its own."""
from dataclasses import dataclass

import numpy as np

from app.errors import PersonNotFound
from app.gallery.codec import BadVector, decode_vector
from app.gallery.identity import is_valid_id
from app.gallery.model_record import ModelRecord, mismatch


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


class GalleryReads:
    # set by GalleryStore.__init__
    redis = prefix = model = people_key = version_key = log_key = model_key = None
    _generation: int | None = None

    def person_key(self, pid: str) -> str:
        return f"{self.prefix}person:{pid}"

    # --- the gallery's model ----------------------------------------------------------
    def model_record(self) -> tuple[ModelRecord | None, int]:
        """(the gallery's model record, how many people it has)."""
        with self.redis.pipeline(transaction=True) as pipe:
            fields, people = pipe.hgetall(self.model_key).scard(self.people_key).execute()
        return ModelRecord.parse(fields, people), people

    def check_model(self, writing: bool = False) -> None:
        """409 gallery_model_mismatch unless this worker may match against (writing: enroll
        into) the gallery."""
        problem = mismatch(*self.model_record(), self.model, writing)
        if problem:
            raise problem

    def _readable(self, fields, people) -> bool:
        """For a replica's reads: raise when this worker may not match against the gallery;
        False when the record changed since this store's last read (the replica reloads)."""
        record = ModelRecord.parse(fields, people)
        problem = mismatch(record, people, self.model)
        if problem:
            raise problem
        generation = record.generation if record else 0
        seen, self._generation = self._generation, generation
        return seen is None or seen == generation

    # --- people and faces -------------------------------------------------------------
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

    def dump(self, dim: int) -> list[dict]:
        """Every person with their faces' (face id, vector, thumbnail, crop), for export;
        `dim`: the gallery's model's. A stored vector that is not one is left out."""
        people = []
        for summary in self.people():
            key = self.person_key(summary["person_id"])
            with self.redis.pipeline(transaction=True) as pipe:
                faces, thumbs, crops = pipe.hgetall(key + ":faces").hgetall(key + ":thumbs") \
                    .hgetall(key + ":crops").execute()
            readable = []
            for fid, data in sorted(faces.items()):
                try:
                    readable.append((text(fid), decode_vector(data, dim), thumbs.get(fid, b""), crops.get(fid, b"")))
                except BadVector:
                    continue
            people.append({**summary, "faces": readable})
        return people

    def vectors(self, pid: str) -> np.ndarray:
        """[n,dim] of the person's enrolled faces; 409 when the gallery's model is not this worker's."""
        if not is_valid_id(pid):
            raise PersonNotFound.of(pid)
        key = self.person_key(pid)
        with self.redis.pipeline(transaction=True) as pipe:
            exists, faces, fields, people = pipe.exists(key).hvals(key + ":faces").hgetall(self.model_key) \
                .scard(self.people_key).execute()
        problem = mismatch(ModelRecord.parse(fields, people), people, self.model)
        if problem:
            raise problem
        if not exists:
            raise PersonNotFound.of(pid)
        readable = []
        for data in faces:
            try:
                readable.append(decode_vector(data, self.model.dim))
            except BadVector:  # reported by read_all
                continue
        return np.array(readable, np.float32).reshape(-1, self.model.dim)

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
        with self.redis.pipeline(transaction=True) as pipe:
            fids, thumbs, crops = pipe.hkeys(key + ":faces").hgetall(key + ":thumbs").hgetall(key + ":crops").execute()
        return {text(f): (crops.get(f, b""), thumbs.get(f, b"")) for f in fids}

    # --- what replicas read -------------------------------------------------------------
    def read_changes(self, after_id: str) -> tuple[int, list]:
        """(version, log entries after `after_id`), read together in one MULTI/EXEC with the
        gallery's model: 409 when this worker may not match against it; no entries (as if
        the log had been trimmed: the replica reloads) when the model changed since."""
        with self.redis.pipeline(transaction=True) as pipe:
            version, entries, fields, people = pipe.get(self.version_key).xrange(self.log_key, min=f"({after_id}") \
                .hgetall(self.model_key).scard(self.people_key).execute()
        return int(version or 0), (entries if self._readable(fields, people) else [])

    def read_all(self) -> GallerySnapshot:
        """The whole gallery. The version and log position are read first: changes made while
        the data is read are applied again later, which is harmless because every logged
        change is idempotent. A stored vector that is not one is skipped and reported."""
        with self.redis.pipeline(transaction=True) as pipe:
            version, last, pids, fields = pipe.get(self.version_key).xrevrange(self.log_key, count=1) \
                .smembers(self.people_key).hgetall(self.model_key).execute()
        self._readable(fields, len(pids))
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
                    vectors[text(fid)] = decode_vector(data, self.model.dim)
                except BadVector as e:
                    problems.append(f"face {text(fid)} of person {pid}: {e}")
            people[pid] = (text(name), vectors)
        return GallerySnapshot(int(version or 0), text(last[0][0]) if last else "0-0", people, problems)
