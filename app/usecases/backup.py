"""Backup and migration of the whole gallery: every person out (with their embeddings,
thumbnails, face crops and the model that made the embeddings), and back in.

An import into a gallery of another model is refused (distances between the two would mean
nothing); an empty gallery adopts the file's model. When that is not this server's model,
the server says gallery_model_mismatch until `reembed` has re-embedded the faces from their
crops: that is how a gallery moves to a server with another EMBEDDER."""
from collections import Counter
from dataclasses import dataclass, field

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
from app.gallery.identity import clean_name, is_valid_id
from app.gallery.model_record import REEMBEDDING, mismatch
from app.services import Services


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


def export_people(s: Services) -> tuple[GalleryModel, list[PersonRecord]]:
    """(the gallery's model, every person); 409 while the gallery is being re-embedded (a mix)."""
    record, count = s.store.model_record()
    if record is not None and record.state == REEMBEDDING and count:
        raise GalleryModelMismatch(f"the gallery is being re-embedded from {record.previous!r} to {record.model.id!r}; "
                                   f"export it when that is done (GET /gallery/reembed)", record.model.id,
                                   s.store.model.id)
    model = record.model if record else s.store.model
    return model, [PersonRecord(p["person_id"], p["name"], p["created_at"],
                                [NewFace(vector, thumb, fid, crop) for fid, vector, thumb, crop in p["faces"]])
                   for p in s.store.dump(model.dim)]


def import_people(s: Services, model: GalleryModel, people: list[PersonRecord]) -> ImportResult:
    """People kept by id; faces a person has already are skipped; a person whose name is taken
    by someone else is skipped and reported. `model`: the file's."""
    record, count = s.store.model_record()
    if count and record.model.id != model.id:
        raise ModelMismatch(f"the file's embeddings were made by {model.id!r}, the gallery's by {record.model.id!r}: "
                            f"they cannot be compared; import into an empty gallery (then reembed), "
                            f"or enroll these people from photos")
    people = _checked(s, people)
    result = ImportResult()
    for person in people:
        try:
            existing = set(s.store.person(person.person_id)["faces"])
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
        except NameTaken as e:
            result.skipped.append(f"{person.person_id} ({person.name}): {e.message}")
    return result


def _checked(s: Services, people: list[PersonRecord]) -> list[PersonRecord]:
    """The records with clean names, or an error naming every id that is malformed, repeated
    in the file, or already another person's face: nothing is written unless all are sound."""
    bad = [p.person_id for p in people if not is_valid_id(p.person_id)]
    bad += [f.face_id for p in people for f in p.faces if not is_valid_id(f.face_id)]
    if bad:
        raise InvalidGallery(f"ids must be 1 to 64 of A-Z a-z 0-9 _ -; these are not: {_listed(bad)}")
    repeated = [i for i, n in Counter(p.person_id for p in people).items() if n > 1]
    repeated += [i for i, n in Counter(f.face_id for p in people for f in p.faces).items() if n > 1]
    if repeated:
        raise InvalidGallery(f"ids repeated in the file: {_listed(repeated)}")
    owner_of = _face_owners(s)
    taken = [f"{f.face_id} (of {owner})" for p in people for f in p.faces
             if (owner := owner_of(f.face_id)) not in (None, p.person_id)]
    if taken:
        raise FaceIdTaken(f"face ids already used by other people: {_listed(taken)}; nothing was imported")
    records = []
    for p in people:
        try:
            records.append(PersonRecord(p.person_id, clean_name(p.name), p.created_at, p.faces))
        except InvalidField as e:
            raise InvalidField(f"person {p.person_id}: {e.message}") from None
    return records


def _face_owners(s: Services):
    """fid -> the person holding it: this worker's copy of the gallery, or, when the gallery is
    of another model (an import adopted it, this worker cannot load it), the store's."""
    if mismatch(*s.store.model_record(), s.store.model) is None:
        s.replica.sync()
        return s.replica.person_of_face
    return s.store.face_owners().get


def _listed(items: list[str], most: int = 10) -> str:
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")
