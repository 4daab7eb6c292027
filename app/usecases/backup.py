"""Backup and migration of the whole gallery: every person out (with their embeddings and
thumbnails), and back in. An import refuses embeddings made by another model (network or
crop): distances between them and this server's would mean nothing."""
from dataclasses import dataclass, field

from app.errors import ModelMismatch, NameTaken, PersonNotFound
from app.gallery import NewFace
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
