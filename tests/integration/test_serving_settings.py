"""Loading a SavedModel for serving makes TensorFlow's settings first, each unless the
environment says otherwise: oneDNN's CPU kernels on (TF_ENABLE_ONEDNN_OPTS: TensorFlow turns
them on by itself only on CPUs with AVX512-VNNI, AVX-VNNI, AVX512-BF16 or AMX) and served weights
taken as frozen (TF_ONEDNN_ASSUME_FROZEN_WEIGHTS: oneDNN reorders them once instead of on every
call). The answers stay what they were without either, batch sizes mixed as batching mixes
them: within rounding (FaceNet's bit for bit on an AMX Xeon with the frozen weights and within
2e-7 on a Zen 5, SFace's within ~2e-6: some kernels sum in another order; the Eigen kernels
within 1e-5 of oneDNN's), each run repeatable."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from app.model_clients.savedmodel import FROZEN_WEIGHTS, ONEDNN
from samples.photos import bench_frames
from scripts.pypi_assets import ROOT

# Loads the models named on the command line as the in-process backend does, feeds each the
# same inputs in a mixed order, saves every answer to the .npz named first, and prints the two
# settings as the process ended up with them and whether TensorFlow runs oneDNN's kernels.
SCRIPT = """
import json, os, sys
import cv2
import numpy as np
from app.model_clients.local_model import LocalModel
from app.model_clients.savedmodel import FROZEN_WEIGHTS, ONEDNN, onednn_enabled
out, model_dir, frame, *names = sys.argv[1:]
image = cv2.cvtColor(cv2.imread(frame), cv2.COLOR_BGR2RGB)
answers = {}
for name in names:
    model = LocalModel(name, model_dir)
    rng = np.random.default_rng(0)
    for i, n in enumerate((1, 3, 2, 8, 1, 3)):
        inputs = {"facenet_sface": {"facenet_images": rng.integers(0, 256, (n, 160, 160, 3), dtype=np.uint8),
                                    "sface_images": rng.integers(0, 256, (n, 112, 112, 3), dtype=np.uint8)},
                  "facenet": {"images": rng.integers(0, 256, (n, 160, 160, 3), dtype=np.uint8)},
                  "sface": {"images": rng.integers(0, 256, (n, 112, 112, 3), dtype=np.uint8)},
                  "dlib_sface": {"dlib_images": rng.integers(0, 256, (n, 150, 150, 3), dtype=np.uint8),
                                 "sface_images": rng.integers(0, 256, (n, 112, 112, 3), dtype=np.uint8)},
                  "yunet_onet": {"image": image, "score_threshold": np.float32(0.3),
                                 "nms_threshold": np.float32(0.3)}}[name]
        for key, value in model.predict(inputs).items():
            answers[f"{name}/{i}/{key}"] = value
np.savez(out, **answers)
print(json.dumps({"frozen": os.environ.get(FROZEN_WEIGHTS, "unset"), "onednn": os.environ.get(ONEDNN, "unset"),
                  "onednn_enabled": onednn_enabled()}))
"""
# dlib_sface repeats convolutions of one shape: cached reordered weights must not be shared
MODELS = ("facenet", "sface", "facenet_sface", "dlib_sface", "yunet_onet")


def answers(folder, exported, **settings: str) -> tuple[dict, dict]:
    """(the settings the process ended with, its answers), run with the environment's
    TF_ENABLE_ONEDNN_OPTS and TF_ONEDNN_ASSUME_FROZEN_WEIGHTS removed, then `settings` set."""
    env = {k: v for k, v in os.environ.items() if k not in (FROZEN_WEIGHTS, ONEDNN)}
    env.update({FROZEN_WEIGHTS: settings["frozen"]} if "frozen" in settings else {})
    env.update({ONEDNN: settings["onednn"]} if "onednn" in settings else {})
    frame = folder / "frame.jpg"
    frame.write_bytes(bench_frames()["3 faces"])
    out = folder / f"answers-{'-'.join(f'{k}{v}' for k, v in settings.items())}.npz"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(out), str(exported), str(frame), *MODELS],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), dict(np.load(out))


def assert_close(a: dict, b: dict) -> None:
    """Embeddings within 1e-5, boxes and landmarks within 0.05 px, scores within 1e-4."""
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=tolerance(key), err_msg=key)


def tolerance(key: str) -> float:
    return 0.05 if key.endswith(("boxes", "landmarks")) else 1e-4 if key.endswith("scores") else 1e-5


@pytest.fixture(scope="module")
def default(tmp_path_factory, exported) -> tuple[dict, dict]:
    """(settings, answers) of a process that loaded the models with neither variable set."""
    return answers(tmp_path_factory.mktemp("default"), exported)


def test_loading_for_serving_turns_onednn_on_and_takes_weights_as_frozen(default, tmp_path, exported):
    settings, found = default
    assert settings == {"frozen": "1", "onednn": "1", "onednn_enabled": True}   # loading set both, in time
    assert len(found) == 6 * (1 + 1 + 2 + 2 + 3)   # facenet, sface, facenet_sface (2), dlib_sface (2), yunet_onet (3)
    assert found["yunet_onet/0/boxes"].shape[0] == 3   # the frame's three faces, found
    assert answers(tmp_path, exported, frozen="1", onednn="1")[1]["sface/3/embeddings"].tobytes() == \
        found["sface/3/embeddings"].tobytes()   # repeatable


def test_an_operators_settings_stay_and_the_answers_are_the_same_with_each_off(default, tmp_path, exported):
    default = default[1]
    settings, reordered = answers(tmp_path, exported, frozen="0")
    assert settings["frozen"] == "0" and settings["onednn"] == "1"
    assert_close(default, reordered)
    settings, eigen = answers(tmp_path, exported, onednn="0")
    assert settings == {"frozen": "1", "onednn": "0", "onednn_enabled": False}
    assert_close(default, eigen)
