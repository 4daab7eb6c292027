"""Reading the whole gallery with thumbnails and crops in batches, for the export: a few
hundred people per round trip, so memory stays flat at any gallery size (the snapshot builder
reads in batches too, through the store's names_and_faces). Uses the keys of
app/gallery/store.py; stored vectors are checked by the codec's rule (readable)."""
from collections.abc import Iterator

from app.gallery.codec import readable, text
from app.gallery.store import GalleryStore


def dump(store: GalleryStore, dim: int, batch: int = 200) -> Iterator[dict]:
    """Every person, by id: their record and faces [(face id, stored vector bytes, thumbnail,
    crop)] (vectors that are not embeddings left out: the replica reports them)."""
    pids = store.pids()
    for start in range(0, len(pids), batch):
        some = pids[start: start + batch]
        with store.redis.pipeline(transaction=False) as pipe:
            for pid in some:
                key = store.person_key(pid)
                pipe.hgetall(key).hgetall(key + ":faces").hgetall(key + ":thumbs").hgetall(key + ":crops")
            replies = pipe.execute()
        for pid, record, faces, thumbs, crops in zip(some, replies[::4], replies[1::4], replies[2::4], replies[3::4]):
            if not record:
                continue  # deleted meanwhile
            good = set(readable(faces, dim)[0])
            yield {"person_id": pid, **{text(k): text(v) for k, v in record.items()},
                   "faces": [(text(f), faces[f], thumbs.get(f, b""), crops.get(f, b"")) for f in sorted(good)]}
