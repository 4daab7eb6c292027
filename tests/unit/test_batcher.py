"""Server-side batching in the model server stand-in (scripts/batching.py), on a function in
place of a model: concurrent calls are joined, and each caller gets exactly its own rows;
without a timeout a lone call runs at once."""
import threading

import numpy as np
import pytest

from scripts.batching import Batcher


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


def test_without_a_timeout_a_lone_call_runs_at_once_and_calls_queued_meanwhile_join_one_batch():
    # TF Serving's batch_timeout_micros 0: no wait for company, but every task enqueued while
    # the batch thread is busy is in the batch it picks up next.
    calls, busy, release = [], threading.Event(), threading.Event()

    def run(inputs):
        calls.append(len(inputs["x"]))
        if len(calls) == 1:
            busy.set()
            release.wait(5)
        return {"x": inputs["x"]}
    batcher = Batcher(run, max_batch_size=8, timeout_s=0.0)
    first = threading.Thread(target=batcher.submit, args=({"x": np.zeros((1, 1))}, 5))
    first.start()
    assert busy.wait(5)  # the lone call ran without waiting for others
    rest = [threading.Thread(target=batcher.submit, args=({"x": np.zeros((1, 1))}, 5)) for _ in range(5)]
    for t in rest:
        t.start()
    while batcher.queue.qsize() < 5:
        threading.Event().wait(0.01)
    release.set()
    for t in [first, *rest]:
        t.join(5)
    assert calls == [1, 5]
