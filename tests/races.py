"""Racing writers in tests: calls released together by one barrier, each on its own thread."""
import threading
from collections.abc import Callable


def raced(calls: list[Callable[[], object]], expected: tuple[type[BaseException], ...] = ()) -> list[object]:
    """Run every call at once -> what each returned, or raised when that is one of `expected`."""
    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(i, call):
        barrier.wait()
        try:
            results[i] = call()
        except expected as e:
            results[i] = e
    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results
