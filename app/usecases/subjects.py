"""The gallery addressed by name, the way the compatibility APIs address it (DeepStack's
`userid`, CompreFace's `subject` and `image_id`): every name goes through clean_name, and a
name finds its person whatever its case (the gallery's name index), as CompreFace's subject
lookup does. Adding examples to a name creates the person on first use.

    added = add_examples(services, "Ada", [jpeg])     # Ada created, or her faces added to
    page = faces_page(services, page=0, size=20)      # every face with its person's name
"""
from dataclasses import dataclass

import numpy as np

from app.errors import FaceNotFound, NameTaken, NoFace, PersonNotFound
from app.gallery.identity import clean_name, is_valid_id
from app.services import Services
from app.usecases.recognition import faces_to_enroll


@dataclass
class Examples:
    person_id: str
    name: str                 # as stored (a name found whatever its case keeps its stored case)
    created: bool
    face_ids: list[str]       # one per image with a face
    skipped: list[str]        # images without a face, and why


@dataclass
class FacesPage:
    faces: list[tuple[str, str]]   # (face id, name)
    total: int


@dataclass
class StoredFace:
    person_id: str
    name: str
    face_id: str
    vector: np.ndarray
    thumbnail: bytes


def subject_names(s: Services) -> list[str]:
    """Every person's name, sorted (case-insensitively)."""
    return [p["name"] for p in s.store.people()]


def add_examples(s: Services, name: str, images: list[bytes], one_face: bool = False,
                 field: str = "name") -> Examples:
    """The largest face of each image added to the person `name` (made if absent). Images
    without a face are skipped; NoFace when none has one. one_face: an image with several faces
    is refused (SeveralFaces) rather than reduced to its largest."""
    name = clean_name(name, field)
    s.store.check_model(writing=True)  # fail fast, before the models, when Redis is down or the model differs
    found = faces_to_enroll(s, images, skip_faceless=True, one_face=one_face)
    entries, skipped = found.stored, found.skipped
    if not entries:
        raise NoFace(f"no face found in {'any of the images' if len(images) > 1 else 'the image'}; "
                     f"send a photo in which the face is clearly visible")
    for _ in range(3):  # the person may be created or deleted by another request meanwhile
        pid = s.store.find_person(name)
        try:
            if pid is None:
                pid, ids = s.store.create_person(name, entries)
                return Examples(pid, name, True, ids, skipped)
            stored, ids = s.store.add_faces(pid, entries)
            return Examples(pid, stored, False, ids, skipped)
        except (NameTaken, PersonNotFound):
            continue
    raise NameTaken(f"{name!r} kept changing while its faces were added; try again")


def create_subject(s: Services, name: str) -> str:
    """A person without faces yet; NameTaken when the name is in use."""
    name = clean_name(name, "subject")
    s.store.create_person(name, [])
    return name


def _person_named(s: Services, name: str) -> str:
    pid = s.store.find_person(clean_name(name, "subject", new=False))
    if pid is None:
        raise PersonNotFound(f"Subject {name} not found")
    return pid


def rename_subject(s: Services, old: str, new: str) -> bool:
    """Rename `old` to `new`; when `new` is another person's name, `old`'s faces move to them
    (CompreFace merges). False when nothing changed."""
    new = clean_name(new, "subject")
    for _ in range(3):   # the subject named `new` may be renamed or deleted meanwhile
        pid, target = _person_named(s, old), s.store.find_person(new)
        if target is None or target == pid:
            if s.store.person(pid)["name"] == new:
                return False
            s.store.rename(pid, new)
            return True
        try:
            # one transaction: a face enrolled meanwhile moves too, a second merge is 404, and only
            # into the subject `new` still names
            s.store.merge_person(pid, target, into_name=new)
            return True
        except PersonNotFound:
            continue   # either was renamed or deleted: looked up again (`old` gone: its 404)
    raise NameTaken(f"{new!r} kept changing while {old!r} was renamed to it; try again")


def delete_subject(s: Services, name: str, field: str = "subject") -> int | None:
    """Delete the person `name` (sent as `field`, which a refusal names) and their faces -> how
    many faces; None when there is no such person."""
    pid = s.store.find_person(clean_name(name, field, new=False))
    if pid is None:
        return None
    try:
        count = len(s.store.person(pid)["faces"])
        s.store.delete_person(pid)
    except PersonNotFound:  # deleted meanwhile
        return None
    return count


def delete_every_subject(s: Services) -> int:
    """Delete every person -> how many."""
    deleted = 0
    for person in s.store.people():
        try:
            s.store.delete_person(person["person_id"])
            deleted += 1
        except PersonNotFound:
            continue
    return deleted


def delete_every_face(s: Services) -> int:
    """Delete every enrolled face, keeping the people (CompreFace's DELETE /faces without a subject)."""
    deleted = 0
    for person in s.store.people():
        pid = person["person_id"]
        for fid, *_ in s.store.faces(pid):
            try:
                s.store.delete_face(pid, fid)
                deleted += 1
            except (PersonNotFound, FaceNotFound):  # deleted meanwhile
                continue
    return deleted


def faces_page(s: Services, page: int, size: int, subject: str | None = None) -> FacesPage:
    """Faces `page * size` to `page * size + size - 1`, ordered by name then face id."""
    if subject is not None:  # one person, read whole: their face ids come with them
        pid = s.store.find_person(clean_name(subject, "subject", new=False))
        try:
            people = [] if pid is None else [s.store.person(pid)]
        except PersonNotFound:   # deleted since the name was looked up
            people = []
        counts = [(p["person_id"], p["name"], len(p["faces"]), p["faces"]) for p in people]
    else:
        counts = [(p["person_id"], p["name"], p["face_count"], None) for p in s.store.people()]
    start, end, seen, faces = page * size, page * size + size, 0, []
    for pid, name, count, ids in counts:
        if seen + count > start and seen < end:  # only the people on this page are read
            if ids is None:
                try:
                    ids = s.store.person(pid)["faces"] if count else []
                except PersonNotFound:   # deleted since the list was read: not on the page (still counted
                    ids = []             # in `seen`, so the pages after it keep their places)
            faces += [(fid, name) for fid in ids[max(0, start - seen):end - seen]]
        seen += count
    return FacesPage(faces, seen)


def stored_face(s: Services, face_id: str) -> StoredFace | None:
    """An enrolled face by its id alone (this worker's copy of the gallery says whose it is)."""
    if not is_valid_id(face_id):
        return None
    s.replica.sync()
    pid = s.replica.person_of_face(face_id)
    if pid is None:
        return None
    for fid, vector, thumbnail, _ in s.store.faces(pid):
        if fid == face_id:
            try:
                return StoredFace(pid, s.store.person(pid)["name"], fid, vector, thumbnail)
            except PersonNotFound:  # deleted meanwhile
                return None
    return None


def delete_face(s: Services, face_id: str) -> StoredFace | None:
    """Delete an enrolled face by its id -> what it was; None when there is no such face."""
    face = stored_face(s, face_id)
    if face is None:
        return None
    try:
        s.store.delete_face(face.person_id, face.face_id)
    except (PersonNotFound, FaceNotFound):  # deleted meanwhile
        return None
    return face
