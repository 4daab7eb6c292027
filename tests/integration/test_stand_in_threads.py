"""The stand-in's thread flags (tensorflow_model_server's --tensorflow_intra_op_parallelism and
--tensorflow_inter_op_parallelism): they reach TensorFlow before any model loads, and the
answers stay what the default threads give."""
import numpy as np

from app.model_clients.grpc_model import GrpcModel
from scripts.serve_models import spawn


def test_one_intra_op_thread_reaches_tensorflow_and_answers_as_the_default(exported, model_server, tmp_path):
    config = tmp_path / "models.config"
    config.write_text('model_config_list { config { name: "facenet" base_path: "%s" model_platform: "tensorflow" } }'
                      % (exported / "facenet"))
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        process, addr = spawn(config=config, intra_op_threads=1, log_file=out)
        try:
            crops = np.random.default_rng(3).integers(0, 256, (3, 160, 160, 3), dtype=np.uint8)
            default = GrpcModel("facenet", model_server).predict({"images": crops})["embeddings"]
            one = GrpcModel("facenet", addr, timeout_s=30).predict({"images": crops})["embeddings"]
        finally:
            process.terminate()
            process.wait(timeout=30)
    np.testing.assert_allclose(one, default, atol=1e-5)
    assert "intra-op threads 1, inter-op threads 0" in log.read_text()
