"""Backup and migration of the whole gallery: every person out (with their embeddings and
thumbnails), and back in. An import refuses embeddings made by another model (network or
crop): distances between them and this server's would mean nothing."""
from collections import Counter
from dataclasses import dataclass, field

from app.errors import FaceIdTaken, InvalidField, InvalidGallery, ModelMismatch, NameTaken, PersonNotFound
from app.gallery import NewFace
from app.gallery.identity import clean_name, is_valid_id
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


def export_people(s: Services) -> list[PersonRecord]:
    return [PersonRecord(p["person_id"], p["name"], p["created_at"],
                         [NewFace(vector, thumb, fid) for fid, vector, thumb in p["faces"]]) for p in s.store.dump()]


def import_people(s: Services, model: str, people: list[PersonRecord]) -> ImportResult:
    """People kept by id; faces a person has already are skipped; a person whose name is taken
    by someone else is skipped and reported."""
    if model != s.pipeline.model_id:
        raise ModelMismatch(f"the file's embeddings were made by {model!r}, this server makes "
                            f"{s.pipeline.model_id!r}: they cannot be compared; enroll these people from photos")
    people = _checked(s, people)
    result = ImportResult()
    for person in people:
        try:
            existing = set(s.store.person(person.person_id)["faces"])
        except PersonNotFound:
            existing = None
        try:
            if existing is None:
                s.store.create_person(person.name, person.faces, person.person_id, person.created_at)
                result.people_created += 1
                result.faces_added += len(person.faces)
            else:
                new = [f for f in person.faces if f.face_id not in existing]
                if new:
                    s.store.add_faces(person.person_id, new)
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
    s.replica.sync()
    taken = [f"{f.face_id} (of {owner})" for p in people for f in p.faces
             if (owner := s.replica.person_of_face(f.face_id)) not in (None, p.person_id)]
    if taken:
        raise FaceIdTaken(f"face ids already used by other people: {_listed(taken)}; nothing was imported")
    records = []
    for p in people:
        try:
            records.append(PersonRecord(p.person_id, clean_name(p.name), p.created_at, p.faces))
        except InvalidField as e:
            raise InvalidField(f"person {p.person_id}: {e.message}") from None
    return records


def _listed(items: list[str], most: int = 10) -> str:
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")
