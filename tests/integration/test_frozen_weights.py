"""Loading a SavedModel for serving takes its weights as frozen (TF_ONEDNN_ASSUME_FROZEN_WEIGHTS:
oneDNN reorders them once instead of on every call), and the answers stay what they were, batch
sizes mixed as batching mixes them: within rounding (on unit vectors FaceNet's equal bit for bit
on an AMX Xeon and within 2e-7 on a Zen 5, SFace's within ~2e-6 on both: some kernels then sum
in another order), each run repeatable."""
import os
import subprocess
import sys

import numpy as np

from app.model_clients.savedmodel import FROZEN_WEIGHTS
from scripts.pypi_assets import ROOT

# Loads the models named on the command line as the in-process backend does, feeds each the
# same batches in a mixed order, saves every answer to the .npz named first, and says whether
# loading set the flag.
SCRIPT = """
import os, sys
import numpy as np
from app.model_clients.local_model import LocalModel
out, model_dir, *names = sys.argv[1:]
answers = {}
for name in names:
    model = LocalModel(name, model_dir)
    rng = np.random.default_rng(0)
    for i, n in enumerate((1, 3, 2, 8, 1, 3)):
        inputs = {"facenet_sface": {"facenet_images": rng.integers(0, 256, (n, 160, 160, 3), dtype=np.uint8),
                                    "sface_images": rng.integers(0, 256, (n, 112, 112, 3), dtype=np.uint8)},
                  "facenet": {"images": rng.integers(0, 256, (n, 160, 160, 3), dtype=np.uint8)},
                  "sface": {"images": rng.integers(0, 256, (n, 112, 112, 3), dtype=np.uint8)}}[name]
        for key, value in model.predict(inputs).items():
            answers[f"{name}/{i}/{key}"] = value
np.savez(out, **answers)
print(os.environ.get("%s", "unset"))
""" % FROZEN_WEIGHTS


def answers(tmp_path, exported, env_value: str | None) -> tuple[str, dict]:
    env = {k: v for k, v in os.environ.items() if k != FROZEN_WEIGHTS}
    if env_value is not None:
        env[FROZEN_WEIGHTS] = env_value
    out = tmp_path / f"answers-{env_value}.npz"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(out), str(exported), "facenet", "sface", "facenet_sface"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1], dict(np.load(out))


def test_weights_are_taken_as_frozen_and_the_answers_do_not_change(tmp_path, exported):
    flag, frozen = answers(tmp_path, exported, None)
    assert flag == "1"   # loading set it
    kept, reordered = answers(tmp_path, exported, "0")
    assert kept == "0"   # an operator's own setting stays
    assert frozen.keys() == reordered.keys() and len(frozen) == 6 * 4
    for key in frozen:
        np.testing.assert_allclose(frozen[key], reordered[key], rtol=0, atol=1e-5, err_msg=key)
    assert answers(tmp_path, exported, "1")[1]["sface/3/embeddings"].tobytes() == frozen["sface/3/embeddings"].tobytes()
