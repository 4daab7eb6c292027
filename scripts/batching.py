"""Server-side request batching for the model server stand-in, as TF Serving's
--enable_batching does: concurrent Predict calls to one model are queued, joined along the
batch dimension (up to max_batch_size, waiting at most batch_timeout_micros for more), run
as one call, and each caller gets its own rows back. Settings come from batching.config."""
import re
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from queue import Empty, Queue

import numpy as np


def _field(name: str) -> str:
    """The pattern of one `name { value: N }` field of a batching parameters file."""
    return rf"{name}\s*{{\s*value:\s*(\d+)\s*}}"


def read_batching_config(path):
    """The fields of TF Serving's batching parameters file that the stand-in uses."""
    text = Path(path).read_text()

    def value(name, default):
        match = re.search(_field(name), text)
        return int(match.group(1)) if match else default
    return {"max_batch_size": value("max_batch_size", 32), "timeout_s": value("batch_timeout_micros", 1000) / 1e6,
            "threads": value("num_batch_threads", 1)}


def with_values(text: str, **values: int) -> str:
    """A batching parameters file's `text` with other values of some of its fields."""
    for name, value in values.items():
        text = re.sub(_field(name), f"{name} {{ value: {value} }}", text)
    return text


class Batcher:
    def __init__(self, run, max_batch_size=32, timeout_s=0.002, threads=1):
        self.run, self.max_batch_size, self.timeout_s = run, max_batch_size, timeout_s
        self.queue = Queue()
        for _ in range(threads):
            threading.Thread(target=self._loop, daemon=True).start()

    def submit(self, inputs, timeout_s=None):
        """inputs {name: array with the batch first} -> outputs {name: array} for those rows."""
        future = Future()
        self.queue.put((inputs, future))
        return future.result(timeout=timeout_s)

    def _loop(self):
        carried = None
        while True:
            first = carried or self.queue.get()
            carried, batch, rows = None, [first], _rows(first)
            deadline = time.monotonic() + self.timeout_s
            while rows < self.max_batch_size:
                remaining = deadline - time.monotonic()
                try:
                    # Past the deadline (at once with a timeout of 0) the batch still takes what is
                    # already queued, as TF Serving's open batch holds every task enqueued before a
                    # batch thread picks it up.
                    item = self.queue.get(timeout=remaining) if remaining > 0 else self.queue.get_nowait()
                except Empty:
                    break
                if rows + _rows(item) > self.max_batch_size:
                    carried = item  # starts the next batch
                    break
                batch.append(item)
                rows += _rows(item)
            self._run_batch(batch)

    def _run_batch(self, batch):
        sizes = [_rows(item) for item in batch]
        try:
            joined = {key: np.concatenate([inputs[key] for inputs, _ in batch]) for key in batch[0][0]}
            outputs = self.run(joined)
        except Exception as e:  # every caller of this batch gets the error
            for _, future in batch:
                future.set_exception(e)
            return
        start = 0
        for (_, future), size in zip(batch, sizes):
            future.set_result({key: value[start:start + size] for key, value in outputs.items()})
            start += size


def _rows(item):
    inputs, _ = item
    return len(next(iter(inputs.values())))
