"""Calling a served model: `predict(inputs) -> outputs` with NumPy arrays on both sides.

Two backends with the same two methods (predict, ready), so detectors and embedders never
know which: GrpcModel (TensorFlow Serving over gRPC) and LocalModel (the same SavedModel in
this process)."""
from typing import Protocol

import numpy as np

from app.model_clients.grpc_model import GrpcModel, ModelChannels
from config import Settings

__all__ = ["GrpcModel", "Model", "ModelChannels", "open_model"]


class Model(Protocol):
    """What detectors and embedders call, whichever backend serves the model."""
    name: str

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def ready(self) -> bool: ...


def open_model(settings: Settings, name: str, channels: ModelChannels | None = None) -> Model:
    """The backend the settings choose for model `name` ("mtcnn", "yunet", "facenet", "sface",
    "yunet_onet", "facenet_sface" or "dlib_sface")."""
    if settings.model_backend == "local":
        from app.model_clients.local_model import LocalModel
        return LocalModel(name, settings.model_dir)
    addr = {"mtcnn": settings.mtcnn_addr, "yunet": settings.yunet_addr, "facenet": settings.facenet_addr,
            "sface": settings.sface_addr, "yunet_onet": settings.yunet_onet_addr,
            "facenet_sface": settings.facenet_sface_addr, "dlib_sface": settings.dlib_sface_addr}[name]
    channels = channels or ModelChannels(settings.grpc_retries)
    return GrpcModel(name, addr, channels.for_address(addr), settings.grpc_timeout_s)
