"""Starting the local servers that the tests, the benchmarks and scripts/run.sh need (Redis,
the model server, Gunicorn): a free loopback port, and one way to start a process and wait
until it answers."""
import socket
import subprocess
import time
from collections.abc import Callable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(answers: Callable[[], bool], timeout_s: float, what: str,
               process: subprocess.Popen | None = None, every_s: float = 0.1) -> None:
    """Return once answers() is true; RuntimeError naming `what` when `process` exits first or
    timeout_s passes (the process is then killed). answers() may raise: that counts as not yet."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if answers():
                return
        except Exception:  # noqa: BLE001 - a server that is still starting fails in its own ways
            pass
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before it answered")
        if time.monotonic() > deadline:
            if process is not None:
                process.kill()
            raise RuntimeError(f"{what} did not answer within {timeout_s:.0f} s")
        time.sleep(every_s)


def start_process(cmd: list[str], answers: Callable[[], bool], timeout_s: float, what: str,
                  **popen_kwargs) -> subprocess.Popen:
    """Popen(cmd), returned once answers() is true (see wait_until)."""
    process = subprocess.Popen(cmd, **popen_kwargs)
    wait_until(answers, timeout_s, what, process)
    return process


def redis_answers(url: str) -> bool:
    import redis
    with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1) as client:
        return bool(client.ping())


def start_redis(folder, port: int, persist: bool = False) -> subprocess.Popen:
    """redis-server on 127.0.0.1:port with its files in `folder`, returned once it answers PING.
    persist: an append-only file synced on every write (outage tests); else nothing on disk."""
    disk = ["--appendonly", "yes", "--appendfsync", "always"] if persist else ["--appendonly", "no"]
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "", *disk]
    return start_process(cmd, lambda: redis_answers(f"redis://127.0.0.1:{port}/0"), 10, f"redis-server on port {port}",
                         stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def http_answers(url: str) -> bool:
    import requests
    return requests.get(url, timeout=2).status_code == 200
