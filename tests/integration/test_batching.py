"""Server-side batching in the model server stand-in: concurrent calls are joined, and each
caller gets exactly the rows it would have got alone."""
import threading

import numpy as np
import pytest

from scripts.batching import Batcher, read_batching_config


def test_concurrent_calls_are_joined_and_answered_row_for_row():
    calls = []

    def run(inputs):
        calls.append(len(inputs["x"]))
        return {"double": inputs["x"] * 2}
    batcher = Batcher(run, max_batch_size=8, timeout_s=0.05)
    results, barrier = {}, threading.Barrier(6)

    def client(i):
        barrier.wait()
        results[i] = batcher.submit({"x": np.full((i % 3 + 1, 2), i)}, timeout_s=5)
    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(6):
        np.testing.assert_array_equal(results[i]["double"], np.full((i % 3 + 1, 2), 2 * i))
    assert sum(calls) == 12 and len(calls) < 6  # fewer model calls than requests
    assert max(calls) <= 8


def test_an_error_reaches_every_caller_of_the_batch():
    def run(inputs):
        raise ValueError("model failed")
    with pytest.raises(ValueError, match="model failed"):
        Batcher(run, timeout_s=0.001).submit({"x": np.zeros((1, 1))}, timeout_s=5)


def test_batching_config_is_read(exported):
    params = read_batching_config(exported / "batching.config")
    assert params == {"max_batch_size": 32, "timeout_s": 0.002, "threads": 4}


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
