"""The stand-in's TensorFlow settings: its thread flags (tensorflow_model_server's
--tensorflow_intra_op_parallelism and --tensorflow_inter_op_parallelism) reach TensorFlow before
any model loads, oneDNN's CPU kernels are on unless TF_ENABLE_ONEDNN_OPTS says otherwise, and the
answers stay what the defaults give."""
import numpy as np

from app.model_clients.grpc_model import GrpcModel
from app.model_clients.savedmodel import ONEDNN
from samples.photos import three_face_frame
from scripts.serve_models import spawn


def served(tmp_path, exported, name: str, inputs: dict, **options) -> tuple[dict, str]:
    """(model `name`'s answer to `inputs` from a stand-in serving it alone, started with
    `options` (spawn's), that stand-in's log)."""
    config = tmp_path / "models.config"
    config.write_text('model_config_list { config { name: "%s" base_path: "%s" model_platform: "tensorflow" } }'
                      % (name, exported / name))
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        process, addr = spawn(config=config, log_file=out, **options)
        try:
            answer = GrpcModel(name, addr, timeout_s=30).predict(inputs)
        finally:
            process.terminate()
            process.wait(timeout=30)
    return answer, log.read_text()


def test_one_intra_op_thread_reaches_tensorflow_and_answers_as_the_default(exported, model_server, tmp_path):
    crops = {"images": np.random.default_rng(3).integers(0, 256, (3, 160, 160, 3), dtype=np.uint8)}
    default = GrpcModel("facenet", model_server).predict(crops)["embeddings"]
    one, log = served(tmp_path, exported, "facenet", crops, intra_op_threads=1)
    np.testing.assert_allclose(one["embeddings"], default, atol=1e-5)
    assert "intra-op threads 1, inter-op threads 0" in log


def test_onednn_is_on_unless_the_environment_turns_it_off(exported, tmp_path, monkeypatch):
    monkeypatch.delenv(ONEDNN, raising=False)
    frame = {"image": three_face_frame(), "score_threshold": np.float32(0.3), "nms_threshold": np.float32(0.3)}
    on, log = served(tmp_path, exported, "yunet", frame)
    assert "oneDNN on" in log
    off, log = served(tmp_path, exported, "yunet", frame, env={ONEDNN: "0"})
    assert "oneDNN off" in log
    assert on.keys() == off.keys() and len(on["boxes"]) == 3   # the three faces, found
    for key in on:
        atol = 1e-4 if key == "scores" else 0.05   # pixels: as test_serving_settings.py allows
        np.testing.assert_allclose(on[key], off[key], rtol=0, atol=atol, err_msg=key)
