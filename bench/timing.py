"""The one way the benchmarks time a call: the median of repeated calls, in milliseconds."""
import statistics
import time
from collections.abc import Callable


def times_ms(call: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds of each of `repeat` calls of `call` (no warm-up: the caller does that)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def median_ms(call: Callable[[], object], repeat: int) -> float:
    """Median milliseconds of `repeat` calls of `call` (no warm-up: the caller does that)."""
    return statistics.median(times_ms(call, repeat))
