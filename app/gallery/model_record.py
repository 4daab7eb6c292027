"""Which model made a gallery's embeddings, and whether a worker may use them.

Embeddings of different networks, crops or alignments cannot be compared, so the gallery
records its model (key `gallery:model`, app/gallery/store.py) and a worker whose model
differs neither matches against it nor writes into it: 409 gallery_model_mismatch, naming
both ids, until `reembed` (app/usecases/reembed.py) has re-embedded every face. While that
runs, the record names the new model with state "reembedding": writers of the new model may
enroll (their vectors are already right), nobody matches (the gallery is a mix).

An empty gallery adopts the model of the first worker that writes into it. A gallery without
a record is one from before records existed, when the only model was FaceNet on the box+10%
crop (the default FACE_CROP then): it is taken to be that one.
"""
import hashlib
from dataclasses import dataclass

from app.errors import GalleryModelMismatch
from app.gallery.codec import text

LEGACY_MODEL_ID = "facenet-inception-resnet-v1-20170512-110547/box+10%"
LEGACY_DIM = 128
READY, REEMBEDDING = "ready", "reembedding"
HOW_TO_REEMBED = "python -m app.cli reembed (POST /gallery/reembed)"


@dataclass(frozen=True)
class GalleryModel:
    """What made a set of embeddings (app.pipeline.embedders: model_id, dim)."""
    id: str
    dim: int


LEGACY_MODEL = GalleryModel(LEGACY_MODEL_ID, LEGACY_DIM)


def model_namespace(prefix: str, model: GalleryModel) -> str:
    """A key prefix of this model's own, for what keeps embeddings without crops to re-embed
    them (unknown visitors' sightings, corrections' negative examples): a worker of another
    model starts them afresh instead of comparing embeddings it cannot compare."""
    return f"{prefix}m{hashlib.sha1(model.id.encode()).hexdigest()[:8]}:"


@dataclass(frozen=True)
class ModelRecord:
    model: GalleryModel
    state: str = READY
    previous: str = ""        # while re-embedding: the model the gallery is re-embedded from
    generation: int = 0       # +1 at every change of the record
    implicit: bool = False    # no record in Redis: a gallery from before records existed

    @classmethod
    def parse(cls, fields: dict, people: int) -> "ModelRecord | None":
        """The record from the hash's fields; None for an empty gallery without one."""
        if not fields:
            return cls(LEGACY_MODEL, implicit=True) if people else None
        fields = {text(k): text(v) for k, v in fields.items()}
        return cls(GalleryModel(fields["id"], int(fields["dim"])), fields.get("state", READY),
                   fields.get("previous", ""), int(fields.get("generation", 0)))

    def fields(self) -> dict:
        return {"id": self.model.id, "dim": self.model.dim, "state": self.state, "previous": self.previous,
                "generation": self.generation}

    def describe(self) -> dict:
        """For /readyz and GET /gallery/reembed."""
        return {"model": self.model.id, "dim": self.model.dim, "state": self.state,
                **({"previous": self.previous} if self.previous else {}),
                **({"recorded": False} if self.implicit else {})}


def mismatch(record: ModelRecord | None, people: int, worker: GalleryModel,
             writing: bool = False) -> GalleryModelMismatch | None:
    """Why `worker` may not match against (writing: write into) the gallery, or None. An empty
    gallery never refuses: a writer adopts it."""
    if record is None or people == 0:
        return None
    gallery = record.model.id
    if record.state == REEMBEDDING and gallery == worker.id:
        if writing:
            return None
        return GalleryModelMismatch(
            f"the gallery is being re-embedded from model {record.previous!r} to this server's {gallery!r}; "
            f"recognition resumes when that is done (GET /gallery/reembed shows the progress, "
            f"{HOW_TO_REEMBED} resumes it if it stopped)", gallery, worker.id)
    if gallery == worker.id and record.model.dim != worker.dim:   # never mix vector sizes under one id
        return GalleryModelMismatch(
            f"the gallery's embeddings of model {gallery!r} have {record.model.dim} values, these have "
            f"{worker.dim}: they cannot be compared", gallery, worker.id)
    if gallery != worker.id:
        doing = " (being re-embedded to it)" if record.state == REEMBEDDING else ""
        return GalleryModelMismatch(
            f"the gallery's embeddings are of model {gallery!r}{doing}, this server makes {worker.id!r}: they "
            f"cannot be compared. Re-embed the gallery with this server's model: {HOW_TO_REEMBED}; "
            f"or run this server with the gallery's model (EMBEDDER, FACE_CROP)", gallery, worker.id)
    return None


def require_model(record: ModelRecord | None, people: int, worker: GalleryModel, writing: bool = False) -> None:
    """409 gallery_model_mismatch unless `worker` may match against (writing: write into) the
    gallery (see mismatch)."""
    problem = mismatch(record, people, worker, writing)
    if problem:
        raise problem
