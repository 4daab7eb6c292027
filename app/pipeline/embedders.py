"""Face embedding, each network with its own pre-processing: `embed(rgb, boxes, landmarks)`
-> [N, dim] unit vectors for the faces detected in one frame.

    facenet         FaceNet on the detector's box widened by FACE_CROP, 160x160
    sface           SFace on the face aligned by its 5 landmarks, 112x112
    facenet+sface   both, one fused unit vector (256-d); both networks in one served graph
                    (facenet_sface: one Predict per frame), or with FUSED_GRAPH=false two
                    models called at once
    dlib+sface      dlib's ResNet (the face aligned to its 150x150 chip) and SFace, fused the
                    same way; one served graph (dlib_sface)

`inputs()` and `embed_inputs()` split that in two, so that faces of many images can be sent
to the networks in one batch (app/usecases/reembed.py). `model_id` names what the vectors
can be compared with: the network, its crop or alignment, and for the pair their weights.
"""
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

import numpy as np

from app.pipeline.alignment import DLIB_TEMPLATE_150, aligned_faces
from app.pipeline.imaging import crop_faces
from config import FaceCrop

if TYPE_CHECKING:
    from app.model_clients import Model

Inputs = dict[str, np.ndarray]   # network name -> uint8 [N,size,size,3]


class Embedder(Protocol):
    name: str
    model_id: str
    dim: int

    def inputs(self, rgb: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray) -> Inputs: ...

    def embed_inputs(self, inputs: Inputs) -> np.ndarray: ...

    def embed(self, rgb: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray) -> np.ndarray: ...

    def ready(self) -> bool: ...

    @property
    def networks(self) -> "tuple[Model | _Network, ...]": ...   # the served models it calls (readiness)


def joined(parts: list[Inputs]) -> Inputs:
    """The inputs of several images as one batch."""
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]} if parts else {}


class _OneModel:
    """An embedder whose networks are one served model: its inputs, then one call."""
    model: "Model"

    if TYPE_CHECKING:   # each subclass's own (declared only, so that a second base's are found)
        def inputs(self, rgb: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray) -> Inputs: ...

        def embed_inputs(self, inputs: Inputs) -> np.ndarray: ...

    def embed(self, rgb: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return self.embed_inputs(self.inputs(rgb, boxes, landmarks))

    def ready(self) -> bool:
        return bool(self.model.ready())


class _Network(_OneModel):
    """One served embedding network: uint8 images in, L2-normalised [N,128] out (the
    normalisation, and FaceNet's prewhitening, are inside the served graphs)."""
    dim = 128
    name: str
    model_id: str

    def __init__(self, model: "Model"):
        self.model = model

    def embed_inputs(self, inputs: Inputs) -> np.ndarray:
        images = inputs[self.name]
        if len(images) == 0:
            return np.zeros((0, self.dim), np.float32)
        embeddings: np.ndarray = self.model.predict({"images": np.ascontiguousarray(images, np.uint8)})["embeddings"]
        return embeddings

    @property
    def networks(self) -> "tuple[Model | _Network, ...]":
        return (self,)


class FacenetEmbedder(_Network):
    """FaceNet (Inception-ResNet-v1, 20170512-110547 weights) on the box crop."""
    name = "facenet"
    image_size = 160

    def __init__(self, model: "Model", crop: FaceCrop = FaceCrop(0.10)):
        super().__init__(model)
        self.crop = crop
        # The id galleries enrolled before EMBEDDER existed carry: network and crop.
        self.model_id = f"facenet-inception-resnet-v1-20170512-110547/{crop}"

    def inputs(self, rgb: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray) -> Inputs:
        return {self.name: crop_faces(rgb, np.asarray(boxes).reshape(-1, 4), self.crop, self.image_size)}


class SfaceEmbedder(_Network):
    """SFace (OpenCV Zoo 2021dec) on the face aligned to ArcFace's 112x112 template."""
    name = "sface"
    image_size = 112
    model_id = "sface-2021dec/aligned-5pt-112"

    def inputs(self, rgb: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray) -> Inputs:
        return {self.name: aligned_faces(rgb, np.asarray(landmarks).reshape(-1, 5, 2), self.image_size)}


# The pair's fusion, measured on the 5-celebrity set (docs/models.md, Accuracy): each network's squared
# distance divided by its spread (std of the squared distance between different people's
# train photos), then FACENET_WEIGHT * facenet + (1 - FACENET_WEIGHT) * sface. The weight
# was chosen on train pairs only (fewest false rejects at zero false accepts); 0.5 to 0.8 are
# about as good.
FACENET_WEIGHT = 0.7
SPREADS = {"facenet": 0.236, "sface": 0.151}


def fused_vectors(vectors: dict[str, np.ndarray], scales: dict[str, np.float32]) -> np.ndarray:
    """[N, 128 * networks] float32: each network's [N,128] unit vectors times its scale,
    concatenated in the order given (unit vectors again when the scales are fusion_scales')."""
    return np.concatenate([v * scales[name] for name, v in vectors.items()], axis=1).astype(np.float32)


def fusion_scales(weights: dict[str, float], spreads: dict[str, float]) -> dict[str, np.float32]:
    """{network: the factor its unit vectors are scaled by}: sqrt(weight / spread), the lot
    divided by its norm so that the concatenation is a unit vector."""
    scales = {name: np.sqrt(weight / spreads[name]) for name, weight in weights.items()}
    norm = np.sqrt(sum(v ** 2 for v in scales.values()))
    return {name: np.float32(v / norm) for name, v in scales.items()}


class FusedEmbedder:
    """FaceNet and SFace on every face, both networks called at once (two Predict calls, one
    of them on a thread: each waits on its model server, not on this process), fused into one
    unit vector: each network's unit vector scaled by sqrt(weight / spread), concatenated and
    renormalised. Squared Euclidean distances between these are the weighted sum of the two
    scaled squared distances, divided by a constant, so matching needs no change."""
    name = "facenet+sface"

    def __init__(self, facenet: FacenetEmbedder, sface: SfaceEmbedder, weight: float = FACENET_WEIGHT,
                 spreads: dict[str, float] = SPREADS):
        self.facenet, self.sface = facenet, sface
        self.dim = facenet.dim + sface.dim
        self.scales = fusion_scales({"facenet": weight, "sface": 1.0 - weight}, spreads)
        self.model_id = (f"{facenet.model_id}+{sface.model_id}"
                         f"/w{weight:g},s{spreads['facenet']:g},{spreads['sface']:g}")
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sface")

    def inputs(self, rgb: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray) -> Inputs:
        return {**self.facenet.inputs(rgb, boxes, landmarks), **self.sface.inputs(rgb, boxes, landmarks)}

    def embed_inputs(self, inputs: Inputs) -> np.ndarray:
        other = self._pool.submit(self.sface.embed_inputs, inputs)
        a = self.facenet.embed_inputs(inputs)
        return self.fused(a, other.result())

    def fused(self, facenet: np.ndarray, sface: np.ndarray) -> np.ndarray:
        """The fused [N,256] unit vectors of each network's [N,128] unit vectors."""
        return fused_vectors({"facenet": facenet, "sface": sface}, self.scales)

    def embed(self, rgb: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return self.embed_inputs(self.inputs(rgb, boxes, landmarks))

    def ready(self) -> bool:
        return self.facenet.ready() and self.sface.ready()

    @property
    def networks(self) -> "tuple[Model | _Network, ...]":
        return (self.facenet, self.sface)


class _OneGraph(_OneModel):
    """Two networks in one served graph, fused: inputs {name: faces} for each of `pair`, one
    Predict call with `<name>_images`, each network's unit vectors (outputs `<name>`) scaled
    by `scales` and concatenated."""
    dim = 256
    pair: tuple[str, str]
    scales: dict[str, np.float32]

    def embed_inputs(self, inputs: Inputs) -> np.ndarray:
        if len(inputs[self.pair[0]]) == 0:
            return np.zeros((0, self.dim), np.float32)
        out = self.model.predict({f"{name}_images": np.ascontiguousarray(inputs[name], np.uint8) for name in self.pair})
        return fused_vectors({name: out[name] for name in self.pair}, self.scales)

    @property
    def networks(self) -> "tuple[Model | _Network, ...]":
        return (self.model,)


class FusedGraphEmbedder(_OneGraph, FusedEmbedder):
    """The same fused vectors from the one served graph that holds both networks
    (serving_models/facenet_sface.py): one Predict call per frame, one batch for every face.
    Its model id is FusedEmbedder's: same networks, weights, crops and fusion, and its vectors
    are within cosine 0.9995 of theirs even where the graph was exported in bfloat16
    (docs/frame-cost.md, "Precision"), so galleries stay comparable without re-embedding."""
    pair = ("facenet", "sface")

    def __init__(self, model: "Model", crop: FaceCrop = FaceCrop(0.10), weight: float = FACENET_WEIGHT,
                 spreads: dict[str, float] = SPREADS):
        # The two embedders make the inputs (crop, alignment) and the model id; the graph embeds.
        FusedEmbedder.__init__(self, FacenetEmbedder(model, crop), SfaceEmbedder(model), weight, spreads)
        self.model = model


# dlib+sface's fusion, fitted as the pair's on the 5-celebrity train photos with YuNet + O-Net's
# landmarks (`python -m scripts.fit_dlib_sface`; docs/frame-cost.md (t)): the spreads of the
# squared distances between different people (dlib's vectors centred, as the graph gives them),
# and the weight with the lowest EER on train pairs (0.65 to 0.75 tie; 0.65 has the fewest
# false rejects at zero false accepts among them).
DLIB_WEIGHT = 0.65
DLIB_SPREADS = {"dlib": 0.414, "sface": 0.151}
# The centre the dlib_sface graph subtracts (serving_models/dlib_centre.json), named by its hash
# (serving_models/dlib_sface.py, centre_id): another fit gives other vectors, hence another id.
DLIB_CENTRE_ID = "3860c134"
DLIB_MODEL_ID = f"dlib-resnet-v1/aligned-5pt-150/c{DLIB_CENTRE_ID}"


class DlibSfaceEmbedder(_OneGraph):
    """dlib's face recognition ResNet and SFace, one served graph (serving_models/dlib_sface.py):
    dlib's network on the face aligned to its 150x150 chip (DLIB_TEMPLATE_150), its vectors centred,
    SFace on the face aligned to ArcFace's template, one Predict call per frame; fused
    into one 256-d unit vector as FusedEmbedder fuses FaceNet and SFace. About half of
    facenet+sface's embedding time, and more accurate on the evaluation with YuNet + O-Net's landmarks
    (docs/frame-cost.md)."""
    name = "dlib+sface"
    pair = ("dlib", "sface")
    image_size = 150

    def __init__(self, model: "Model", weight: float = DLIB_WEIGHT, spreads: dict[str, float] = DLIB_SPREADS):
        self.model = model
        self.scales = fusion_scales({"dlib": weight, "sface": 1.0 - weight}, spreads)
        self.model_id = (f"{DLIB_MODEL_ID}+{SfaceEmbedder.model_id}"
                         f"/w{weight:g},s{spreads['dlib']:g},{spreads['sface']:g}")

    def inputs(self, rgb: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray) -> Inputs:
        points = np.asarray(landmarks).reshape(-1, 5, 2)
        return {"dlib": aligned_faces(rgb, points, self.image_size, DLIB_TEMPLATE_150),
                "sface": aligned_faces(rgb, points, SfaceEmbedder.image_size)}
