"""MODEL_BACKEND=local: the exported SavedModel run in this process, behind the same two
methods as the gRPC client (predict, ready) and refusing the same tensors. TensorFlow is
imported by the first model loaded (serving_tensorflow: its settings must come first)."""
from pathlib import Path

import numpy as np

from app.errors import ModelBadInput, ModelNotFound
from app.model_clients.savedmodel import (
    SERVING_SIGNATURE,
    latest_version,
    load_savedmodel,
    serving_tensorflow,
    signature_mismatch,
    warmup_requests,
)


class LocalModel:
    """The SavedModel under model_dir/name/<latest version>."""

    def __init__(self, name: str, model_dir: Path | str):
        self.name = name
        base = Path(model_dir) / name
        try:
            self.version = latest_version(base)
        except FileNotFoundError as e:
            raise ModelNotFound(name, f"model '{name}' is not exported ({e}): "
                                      f"run python -m scripts.export_models") from None
        self._loaded = load_savedmodel(base / str(self.version))   # imports TensorFlow, settings first
        self._tf = serving_tensorflow()   # the module itself, imported by now
        self._fn = self._loaded.signatures[SERVING_SIGNATURE]
        for request in warmup_requests(base / str(self.version)):  # trace the graph now, not on a request
            self.predict({key: self._tf.make_ndarray(value) for key, value in request.inputs.items()})

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        inputs = {key: np.asarray(value) for key, value in inputs.items()}
        problem = signature_mismatch(self._fn.structured_input_signature[1], inputs)
        if problem:
            raise ModelBadInput(self.name, f"model '{self.name}' refused its input: {problem}")
        tf = self._tf
        try:
            outputs = self._fn(**{key: tf.constant(value) for key, value in inputs.items()})
        except tf.errors.InvalidArgumentError as e:
            raise ModelBadInput(self.name, f"model '{self.name}' refused its input: {e}") from None
        return {key: value.numpy() for key, value in outputs.items()}

    def ready(self) -> bool:
        return True
