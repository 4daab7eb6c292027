"""Who holds each face id that was given rather than made up (imports, corrections, named
visitors): the hash face_owner (face id -> person id) that the store's transactions read under
WATCH before adding or deleting such faces, so a face id belongs to one person, always, however
many writers race (made-up ids are uuid4: they never collide, and are not listed)."""
from app.errors import FaceIdTaken
from app.gallery.codec import text


def claim(pipe, owners_key: str, pid: str, face_ids: list[str]) -> None:
    """Before pipe.multi(), with `owners_key` watched: 409 face_id_taken when one of `face_ids`
    is another person's (an import's or a correction's own check may have raced a writer)."""
    held = pipe.hmget(owners_key, face_ids) if face_ids else []
    taken = [f"{fid} (of {text(owner)})" for fid, owner in zip(face_ids, held) if owner and text(owner) != pid]
    if taken:
        raise FaceIdTaken(f"face ids already used by other people: {', '.join(taken[:10])}")


def claimed_by(pipe, owners_key: str, pid: str, face_ids: list[str]) -> list[str]:
    """Before pipe.multi(): those of `face_ids` held by `pid` (released when their faces go)."""
    held = pipe.hmget(owners_key, face_ids) if face_ids else []
    return [fid for fid, owner in zip(face_ids, held) if owner and text(owner) == pid]
