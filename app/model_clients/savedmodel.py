"""What the in-process backend and the TF Serving stand-in (scripts/serve_models.py) both need
to know about an exported SavedModel: how to load it, its version folders, its serving
signature's inputs and its TF Serving warm-up requests. TensorFlow is imported where used:
the gRPC client takes SERVING_SIGNATURE from here and must not load it."""
from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

# The signature every exported model serves (the one TF Serving calls when a request names none).
SERVING_SIGNATURE = "serving_default"
# oneDNN reorders a convolution's weights into its own layout on every call when they come from
# a variable; with this set it does so once and keeps the result, as it does for constants.
# Served weights never change once loaded, and the answers stay what they were (within 2e-6:
# some kernels sum in another order; tests/integration/test_serving_settings.py). Read when a model's
# kernels are built, so setting it before loading is enough; the TF Serving Dockerfiles set it.
FROZEN_WEIGHTS = "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS"
# On Linux TensorFlow runs its CPU kernels through oneDNN by default only where the CPU has
# AVX512-VNNI, AVX512-BF16, AVX-VNNI or AMX (DefaultOneDnnPolicy in tensorflow/core/util/port.cc);
# elsewhere (AVX2 alone: AMD before Zen 4, older Intel) it uses its Eigen kernels, and there
# YuNet took 30 ms a frame instead of 10.5, MTCNN 47.5 instead of 36 (docs/frame-cost.md (s)).
# Read once, as TensorFlow is imported: serving_tensorflow() sets it before that; the TF Serving
# Dockerfiles set it.
ONEDNN = "TF_ENABLE_ONEDNN_OPTS"

log = logging.getLogger(__name__)


def serving_tensorflow() -> ModuleType:
    """TensorFlow, imported for serving models: with oneDNN's kernels (ONEDNN) and served weights
    taken as frozen (FROZEN_WEIGHTS), each unless the environment says otherwise. oneDNN's choice
    is TensorFlow's own where something imported TensorFlow before: said in the log."""
    imported = "tensorflow" in sys.modules
    os.environ.setdefault(ONEDNN, "1")
    os.environ.setdefault(FROZEN_WEIGHTS, "1")
    import tensorflow as tf
    if imported and onednn_enabled() is False and os.environ[ONEDNN] == "1":
        _warn_onednn_too_late()
    return cast(ModuleType, tf)


@functools.cache
def _warn_onednn_too_late() -> None:
    log.warning("TensorFlow was imported before %s=1 could take effect: its CPU kernels are its "
                "Eigen ones in this process", ONEDNN)


def onednn_enabled() -> bool | None:
    """Whether this process's TensorFlow runs oneDNN's CPU kernels; None if it cannot tell or
    TensorFlow is not imported yet (asking would import it, and fix its choice)."""
    if "tensorflow" not in sys.modules:
        return None
    try:   # TensorFlow's own tests ask this (test_util.IsMklEnabled); no public API says it
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def load_savedmodel(path: Path | str) -> Any:
    """The SavedModel at `path` (a version folder), loaded for serving (serving_tensorflow)."""
    return serving_tensorflow().saved_model.load(str(path))


def latest_version(base: Path | str) -> int:
    """The highest numbered version folder under `base` (TF Serving's layout)."""
    versions = [int(p.name) for p in Path(base).iterdir() if p.is_dir() and p.name.isdigit()]
    if not versions:
        raise FileNotFoundError(f"{base} holds no numbered version folder")
    return max(versions)


def signature_mismatch(specs: Mapping[str, tf.TensorSpec], inputs: Mapping[str, np.ndarray]) -> str | None:
    """Why `inputs` do not fit the signature's input specs, or None. Both the in-process
    backend and the stand-in check this, so they refuse exactly the same tensors."""
    import tensorflow as tf

    if set(inputs) != set(specs):
        return f"expected inputs {sorted(specs)}, got {sorted(inputs)}"
    for key, spec in specs.items():
        value = inputs[key]
        if tf.as_dtype(value.dtype) != spec.dtype or not spec.shape.is_compatible_with(value.shape):
            return (f"input '{key}' is {value.dtype.name}{list(value.shape)}, the signature "
                    f"expects {spec.dtype.name}{spec.shape.as_list()}")
    return None


def warmup_requests(version_dir: Path | str) -> Iterator[Any]:
    """The PredictRequests TF Serving replays at load (assets.extra/tf_serving_warmup_requests)."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    records = Path(version_dir) / "assets.extra" / "tf_serving_warmup_requests"
    if records.exists():
        for raw in tf.data.TFRecordDataset(str(records)):
            yield prediction_log_pb2.PredictionLog.FromString(raw.numpy()).predict_log.request
