"""The enrolled gallery: people and their embeddings.

`store` owns the Redis keys (the source of truth, shared by every worker and replica) and writes
every change into its `changelog`, which each worker's in-memory copy follows; `replica` is that
copy (its background work in `maintenance`), and matching reads only it; `search` finds the
nearest people in it (the live overlay, the candidate index, exact distances and the one "same
person" rule); `snapshots` are the files a copy starts from; `model_record` says which model made
the embeddings, `codec` how one is stored, `identity` what ids and names may be."""
from app.gallery.model_record import GalleryModel
from app.gallery.replica import GalleryReplica, Match
from app.gallery.search.matching import MatchRule
from app.gallery.store import GalleryStore, NewFace

__all__ = ["GalleryModel", "GalleryReplica", "GalleryStore", "Match", "MatchRule", "NewFace"]
