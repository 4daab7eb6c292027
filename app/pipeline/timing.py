"""Milliseconds per stage of one request: every stage is timed by the same helper, and the
total is computed once, when the request's work is done."""
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Stopwatch:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = round(self.ms.get(name, 0.0) + (time.perf_counter() - start) * 1000.0, 2)

    def finish(self) -> dict[str, float]:
        """The stages and their `total`."""
        self.ms["total"] = round(sum(v for k, v in self.ms.items() if k != "total"), 2)
        return self.ms
