"""Face embedding behind one small interface: `embed(crops) -> [N,128] unit vectors`."""
from typing import Protocol

import numpy as np

EMBEDDING_SIZE = 128


class Embedder(Protocol):
    name: str
    image_size: int
    model_id: str

    def embed(self, crops: np.ndarray) -> np.ndarray: ...

    def ready(self) -> bool: ...


class FacenetEmbedder:
    """FaceNet (Inception-ResNet-v1): uint8 RGB crops [N,160,160,3] -> L2-normalised [N,128].
    Prewhitening and normalisation happen inside the served graph."""
    name = "facenet"
    image_size = 160
    # Embeddings from another network (or checkpoint) cannot be compared with these.
    model_id = "facenet-inception-resnet-v1-20170512-110547"

    def __init__(self, model):
        self.model = model

    def embed(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, EMBEDDING_SIZE), np.float32)
        return self.model.predict({"images": np.ascontiguousarray(crops, np.uint8)})["embeddings"]

    def ready(self) -> bool:
        return self.model.ready()
