"""Local servers for the tests and benchmarks: a free loopback port, and a redis-server on it."""
import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(folder, port, persist=False):
    """redis-server on 127.0.0.1:port with its files in `folder`, returned once it answers PING.
    persist: an append-only file synced on every write (outage tests); else nothing on disk."""
    import redis
    disk = ["--appendonly", "yes", "--appendfsync", "always"] if persist else ["--appendonly", "no"]
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                                "--save", "", *disk], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"redis-server did not start on port {port}")
