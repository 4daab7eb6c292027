"""The servers the tests start themselves (redis-server, mosquitto): each a real process on a
free loopback port with its data in its own folder; stop() and start() let outage tests take
one away and bring it back with its data."""
import subprocess

from scripts.processes import free_port, start_mosquitto, start_redis


class LocalServer:
    def __init__(self, folder):
        self.folder, self.port, self.process = folder, free_port(), None

    def launch(self) -> subprocess.Popen:
        raise NotImplementedError

    def start(self):
        self.process = self.launch()
        return self

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


class RedisServer(LocalServer):
    """redis-server with AOF (fsync always): what was acknowledged survives a stop."""

    def __init__(self, folder):
        super().__init__(folder)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def launch(self) -> subprocess.Popen:
        return start_redis(self.folder, self.port, persist=True)


class Broker(LocalServer):
    """mosquitto, with password users and TLS (ca, cert, key) when given."""

    def __init__(self, folder, users: dict[str, str] | None = None, tls: tuple | None = None):
        super().__init__(folder)
        self.users, self.tls = users, tls
        self.url = f"{'mqtts' if tls else 'mqtt'}://127.0.0.1:{self.port}"

    def launch(self) -> subprocess.Popen:
        return start_mosquitto(self.folder, self.port, self.users, self.tls)
