"""The gallery: enrolled people and their embeddings. `store` owns the Redis keys (the source
of truth, shared by every worker and replica); `replica` is one worker's in-memory copy that
matching reads; `candidates` keeps matching fast at a million faces; `codec` is how a vector
is stored; `matching` ranks people by distance and holds the one "same person" rule."""
from app.gallery.codec import DIM
from app.gallery.model_record import GalleryModel
from app.gallery.replica import GalleryReplica, Match
from app.gallery.search.matching import MatchRule
from app.gallery.store import GalleryStore, NewFace

__all__ = ["DIM", "GalleryModel", "GalleryReplica", "GalleryStore", "Match", "MatchRule", "NewFace"]
