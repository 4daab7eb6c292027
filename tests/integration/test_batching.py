"""Server-side batching in the model server stand-in: concurrent calls are joined, and each
caller gets exactly the rows it would have got alone."""
import threading

import numpy as np

from scripts.batching import read_batching_config


def test_batching_config_is_read(exported):
    params = read_batching_config(exported / "batching.config")
    assert params == {"max_batch_size": 32, "timeout_s": 0.0, "threads": 4}


def test_batched_stand_in_answers_like_the_plain_one(exported, model_server):
    from app.model_clients.grpc_model import GrpcModel
    from scripts.serve_models import spawn
    process, addr = spawn(batching=True)
    try:
        crops = np.random.default_rng(0).integers(0, 256, (12, 160, 160, 3), dtype=np.uint8)
        plain = GrpcModel("facenet", model_server).predict({"images": crops})["embeddings"]
        out = {}

        def call(i):
            out[i] = GrpcModel("facenet", addr, timeout_s=30).predict({"images": crops[i * 3:(i + 1) * 3]})
        threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        joined = np.concatenate([out[i]["embeddings"] for i in range(4)])
        np.testing.assert_allclose(joined, plain, atol=1e-5)
    finally:
        process.terminate()
        process.wait(timeout=30)
