"""Backup and migration of the whole gallery: every person out (with their embeddings,
thumbnails, face crops and the model that made the embeddings), and back in, streamed both
ways so memory stays flat at a million faces.

An import into a gallery of another model is refused (distances between the two would mean
nothing); an empty gallery adopts the file's model. When that is not this server's model,
the server says gallery_model_mismatch until `reembed` has re-embedded the faces from their
crops: that is how a gallery moves to a server with another EMBEDDER.

An import reads its source twice: first every record is checked (ids well formed, none
repeated in the file, no face id that is another person's, names valid) and nothing is
written unless all are sound; then the people are written, one transaction each. Repeats
are found from 8-byte hashes of the ids (8 bytes per id, not the ids themselves), and named
with one more read only when there are some."""
import hashlib
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from app.errors import (
    FaceIdTaken,
    GalleryModelMismatch,
    InvalidField,
    InvalidGallery,
    ModelMismatch,
    NameTaken,
    PersonNotFound,
)
from app.gallery import GalleryModel, NewFace
from app.gallery.identity import clean_name, is_valid_face_id, is_valid_id
from app.gallery.model_record import REEMBEDDING, ModelRecord, mismatch
from app.services import Services

MOST_REPORTED = 1000   # lines of each list of an import's report; beyond, "and more"


@dataclass
class PersonRecord:
    person_id: str
    name: str
    created_at: str | None
    faces: list[NewFace]


@dataclass
class ImportResult:
    people_created: int = 0
    faces_added: int = 0
    skipped: list[str] = field(default_factory=list)   # what was not imported, and why
    names_kept: list[str] = field(default_factory=list)   # people here under another name than the file's


class GallerySource(Protocol):
    """A gallery file being imported: its model id and vector size, and its people, readable
    more than once."""
    @property
    def model(self) -> str: ...

    @property
    def dim(self) -> int | None: ...

    def people(self) -> Iterator[PersonRecord]: ...


def export_people(s: Services) -> tuple[GalleryModel, Iterator[PersonRecord]]:
    """(the gallery's model, every person by id, read from Redis a few hundred at a time);
    409 while the gallery is being re-embedded (a mix of two models)."""
    record, count = s.store.model_record()
    if record is not None and record.state == REEMBEDDING and count:
        raise GalleryModelMismatch(f"the gallery is being re-embedded from {record.previous!r} to {record.model.id!r}; "
                                   f"export it when that is done (GET /gallery/reembed)", record.model.id,
                                   s.store.model.id)
    model = record.model if record else s.store.model

    def people() -> Iterator[PersonRecord]:
        for p in s.store.people_for_export(model.dim):
            faces = [NewFace(np.frombuffer(vec, "<f4"), thumb, fid, crop) for fid, vec, thumb, crop in p["faces"]]
            yield PersonRecord(p["person_id"], p["name"], p.get("created_at"), faces)
    return model, people()


def import_people(s: Services, source: GallerySource) -> ImportResult:
    """People kept by id; faces a person has already are skipped; a person here under another
    name keeps it (reported: a rename here is newer than the file); a person whose name is taken
    by someone else, or one of whose face ids another writer took after the check, is skipped and
    reported. An empty gallery adopts the file's model."""
    record, count = s.store.model_record()
    model = GalleryModel(source.model, source.dim or (record.model.dim if record else s.store.model.dim))
    if count and record is not None and record.model.id != model.id:
        raise ModelMismatch(f"the file's embeddings were made by {model.id!r}, the gallery's by {record.model.id!r}: "
                            f"they cannot be compared; import into an empty gallery (then reembed), "
                            f"or enroll these people from photos")
    _check(s, source)
    _check_dim(s, record if count else None, model)
    result = ImportResult()
    for person in source.people():
        person.name = clean_name(person.name, new=False)   # restored as it was stored
        try:
            here = s.store.person(person.person_id)
            existing: set[str] | None = set(here["faces"])
        except PersonNotFound:
            existing = None
        try:
            if existing is None:
                s.store.create_person(person.name, person.faces, person.person_id, person.created_at, model)
                result.people_created += 1
                result.faces_added += len(person.faces)
            else:
                new = [f for f in person.faces if f.face_id not in existing]
                if new:
                    s.store.add_faces(person.person_id, new, model)
                result.faces_added += len(new)
                if here["name"] != person.name:
                    _report(result.names_kept, f"{person.person_id} ({person.name} in the file): "
                                               f"named {here['name']} here, kept")
        except (NameTaken, FaceIdTaken) as e:
            # a name, or (taken since the check, by a writer racing the import) a face id, that is
            # someone else's: that person is skipped and reported, the rest still imported
            _report(result.skipped, f"{person.person_id} ({person.name}): {e.message}")
        except PersonNotFound:   # deleted by another client since it was read: as asked, not brought back
            _report(result.skipped, f"{person.person_id} ({person.name}): deleted here while the import ran")
    return result


def _check_dim(s: Services, record: ModelRecord | None, model: GalleryModel) -> None:
    """422 for vectors whose size is not the one of their model id: the gallery's record's (a
    gallery that is not empty), or this server's when the file names this server's model."""
    known = [m for m in (record.model if record else None, s.store.model) if m is not None and m.id == model.id]
    if known and known[0].dim != model.dim:
        raise InvalidGallery(f"the file's embeddings have {model.dim} values, but model {model.id!r} makes "
                             f"{known[0].dim}; nothing was imported")


def _report(lines: list[str], line: str) -> None:
    """`line` added to an import's report `lines`, up to MOST_REPORTED of them; then one more
    that says there were more."""
    if len(lines) < MOST_REPORTED:
        lines.append(line)
    elif len(lines) == MOST_REPORTED:
        lines.append("and more")


def _check(s: Services, source: GallerySource) -> None:
    """An error naming every id that is malformed, repeated in the file, or already another
    person's face, or the first invalid name: nothing is written unless all are sound."""
    bad, taken, name_problem = [], [], None
    person_hashes, face_hashes = array("Q"), array("Q")
    owner_of = _face_owners(s)
    for p in source.people():
        fids = [f.face_id or "" for f in p.faces]   # a file's faces always carry their ids
        bad += [p.person_id] if not is_valid_id(p.person_id) else []
        bad += [fid for fid in fids if not is_valid_face_id(fid)]
        person_hashes.append(_hash(p.person_id))
        face_hashes.extend(_hash(fid) for fid in fids)
        taken += [f"{fid} (of {owner})" for fid in fids if (owner := owner_of(fid)) not in (None, p.person_id)]
        if name_problem is None:
            try:
                clean_name(p.name, new=False)
            except InvalidField as e:
                name_problem = InvalidField(f"person {p.person_id}: {e.message}")
    if bad:
        raise InvalidGallery(f"ids must be 1 to 64 of A-Z a-z 0-9 _ -, and a face id not a dashed UUID (the "
                             f"compatibility APIs show 32-hex face ids so: write such an id without its dashes); "
                             f"these are not: {_listed(bad)}")
    repeated = _repeated(person_hashes) | _repeated(face_hashes)
    repeated_ids = _named(source, repeated) if repeated else []  # none: two ids that share a hash
    if repeated_ids:
        raise InvalidGallery(f"ids repeated in the file: {_listed(repeated_ids)}")
    if taken:
        raise FaceIdTaken(f"face ids already used by other people: {_listed(taken)}; nothing was imported")
    if name_problem is not None:
        raise name_problem


def _face_owners(s: Services) -> Callable[[str], str | None]:
    """fid -> the person holding it: this worker's copy of the gallery, or, when the gallery is
    of another model (an import adopted it, this worker cannot load it), the store's."""
    if mismatch(*s.store.model_record(), s.store.model) is None:
        s.replica.sync()
        return s.replica.person_of_face
    return s.store.face_owners().get


def _hash(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "little")


def _repeated(hashes: "array[int]") -> set[int]:
    values = np.sort(np.frombuffer(hashes, np.uint64)) if len(hashes) else np.zeros(0, np.uint64)
    return {int(h) for h in values[1:][values[1:] == values[:-1]]}


def _named(source: GallerySource, repeated: set[int]) -> list[str]:
    """The ids behind the repeated hashes, each once (a third read, only when there are some)."""
    named: dict[tuple[str, str], int] = {}
    for p in source.people():
        for value, kind in [(p.person_id, "person")] + [(f.face_id or "", "face") for f in p.faces]:
            if _hash(value) in repeated:
                named.setdefault((kind, value), 0)
                named[(kind, value)] += 1
    return [value for (kind, value), count in named.items() if count > 1]


def _listed(items: list[str], most: int = 10) -> str:
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")
