"""The stack users start, for real: our images built with podman (scripts/build_images.sh --test)
and docker/compose.yaml + compose.cpu.yaml brought up with podman-compose on its fixed-IP bridge
network, the model servers replaced by the TF Serving stand-in (docker/compose.test.yaml, test
only). Everything is reached from the host through the front's published port on loopback.

The test's network lives in a config folder of its own (PODMAN_NETWORK_DIR), not in
/etc/containers/networks; containers, network and volumes are removed at the end."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from api_client import Api
from mqtt_subscriber import Subscriber

from samples.photos import photo_bytes
from scripts.processes import free_port, wait_until
from scripts.pypi_assets import ROOT

PROJECT = "facerec-test"
FILES = ["docker/compose.yaml", "docker/compose.cpu.yaml", "docker/compose.test.yaml"]
PROFILES = ["--profile", "frigate"]   # the Frigate bridge runs beside the app too
PODMAN = str(ROOT / "scripts" / "podman.sh")
COMPOSE = str(Path(sys.executable).parent / "podman-compose")  # PyPI's 1.6.0 (requirements-dev.txt)


class Stack:
    def __init__(self, env: dict[str, str], port: int, mqtt_port: int):
        self.env, self.url, self.mqtt_port = env, f"http://127.0.0.1:{port}", mqtt_port
        self.api = Api(self.url, timeout_s=60)   # the native API through the front

    def compose(self, *args: str, timeout: float = 600) -> str:
        files = [a for f in FILES for a in ("-f", str(ROOT / f))]
        done = subprocess.run([COMPOSE, "--podman-path", PODMAN, "-p", PROJECT, *PROFILES, *files, *args], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([PODMAN, *args], env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 or not check, done.stderr[-2000:]
        return done

    def container(self, service: str) -> str:
        names = self.podman("ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}", "--filter",
                            f"label=com.docker.compose.service={service}", "--format", "{{.Names}}").stdout.split()
        assert len(names) == 1, (service, names)
        return names[0]

    def inspect(self, service: str) -> dict:
        return json.loads(self.podman("inspect", self.container(service)).stdout)[0]

    def ready(self, timeout: float = 300) -> None:
        def answers() -> bool:
            try:
                return requests.get(f"{self.url}/readyz", timeout=5).status_code == 200
            except requests.RequestException:
                return False
        wait_until(answers, timeout, "the stack's /readyz through the front")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("compose")
    (work / "networks").mkdir()
    env = {**os.environ, "PODMAN_NETWORK_DIR": str(work / "networks")}
    built = subprocess.run(["bash", "scripts/build_images.sh", "--test"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=3600)
    assert built.returncode == 0, built.stderr[-4000:]
    port, mqtt_port = free_port(), free_port()
    env |= {"FACEREC_PORT": str(port), "MQTT_PORT": str(mqtt_port)}
    stack = Stack(env, port, mqtt_port)
    try:
        stack.compose("up", "-d", "--no-build")
        stack.ready()
        yield stack
    finally:
        subprocess.run([COMPOSE, "--podman-path", PODMAN, "-p", PROJECT, *PROFILES,
                        *[a for f in FILES for a in ("-f", str(ROOT / f))], "down", "-v", "-t", "5"],
                       cwd=ROOT, env=env, capture_output=True, timeout=300)


def test_the_frigate_bridge_runs_in_the_stack_and_announces_itself(stack):
    """The bridge's service (profile frigate) runs from the app image beside the app: with no
    Frigate to reach it stays up (retrying) and says it is available on the compose broker, as
    Double Take did (retained double-take/available "online")."""
    assert stack.inspect("frigate-bridge")["State"]["Running"]
    subscriber = Subscriber(stack.mqtt_port, "double-take/available")
    try:
        assert subscriber.wait("double-take/available", timeout=60)[-1][1:] == ("online", True)
    finally:
        subscriber.client.loop_stop()
        subscriber.client.disconnect()


def planned_addresses() -> dict[str, str]:
    services = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())["services"]
    return {name: s["networks"]["facerec"]["ipv4_address"] for name, s in services.items()}


def recognized(api: Api, image: bytes, camera: str = "door") -> str | None:
    """The name the first face of `image` is recognized as (None: unknown)."""
    match = api.recognize(image, camera_id=camera).expect(200)["faces"][0]["match"]
    return match["name"] if match else None


def test_every_service_runs_at_its_planned_address_and_passes_its_healthcheck(stack):
    checked = set()
    for service, address in planned_addresses().items():
        state = stack.inspect(service)
        assert state["State"]["Running"], service
        assert [n["IPAddress"] for n in state["NetworkSettings"]["Networks"].values()] == [address], service
        check = state["Config"].get("Healthcheck") or {}
        if check.get("Test") not in (None, [], ["NONE"]):  # no systemd to schedule it: run it as the scheduler would
            done = stack.podman("healthcheck", "run", stack.container(service), check=False)
            assert done.returncode == 0, (service, done.stdout, done.stderr)
            checked.add(service)
    assert checked >= {"app", "redis", "facenet", "mtcnn", "front"}


def test_health_readiness_enroll_recognize_and_mqtt_through_the_front(stack):
    assert requests.get(f"{stack.url}/healthz", timeout=5).status_code == 200
    ready = requests.get(f"{stack.url}/readyz", timeout=5)
    assert ready.status_code == 200
    assert set(ready.json()["checks"]) >= {"mtcnn", "facenet_sface"}   # FUSED_GRAPH: one embedder graph
    assert not {"facenet", "sface"} & set(ready.json()["checks"])
    subscriber = Subscriber(stack.mqtt_port, "facerec/#")
    try:
        assert stack.api.enroll("Elton John", photo_bytes("elton_john", 0, "train")).status_code in (200, 201)
        assert recognized(stack.api, photo_bytes("elton_john", 0)) == "Elton John"
        match = json.loads(subscriber.wait("facerec/matches/elton_john", timeout=30)[-1][1])
        assert match["name"] == "Elton John" and match["camera_id"] == "door"
    finally:
        subscriber.client.loop_stop()
        subscriber.client.disconnect()


def test_pausing_the_embedders_gives_json_errors_and_unpausing_recovers(stack):
    facenet = stack.container("facenet")
    stack.podman("pause", facenet)
    try:
        response = requests.post(f"{stack.url}/recognize", data=photo_bytes("elton_john", 0),
                                 headers={"Content-Type": "image/jpeg"}, timeout=60)
        assert response.status_code in (503, 504), response.text
        assert response.json()["error"]["code"] in ("model_timeout", "model_unavailable")
        assert requests.get(f"{stack.url}/readyz", timeout=30).status_code == 503
    finally:
        stack.podman("unpause", facenet)
    stack.ready(60)
    assert recognized(stack.api, photo_bytes("elton_john", 0)) == "Elton John"


def test_a_killed_app_container_comes_back_by_its_restart_policy(stack):
    before = stack.inspect("app")
    assert before["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    os.kill(before["State"]["Pid"], signal.SIGKILL)  # the worker's container dies as if the kernel killed it
    wait_until(lambda: stack.inspect("app")["RestartCount"] > before.get("RestartCount", 0)
               and stack.inspect("app")["State"]["Running"], 120, "the app container's restart")
    stack.ready(120)
    assert recognized(stack.api, photo_bytes("elton_john", 0)) == "Elton John"


def test_compose_down_and_up_keeps_the_gallery(stack):
    stack.compose("down", "-t", "5")
    assert stack.podman("volume", "exists", f"{PROJECT}_facerec-redis", check=False).returncode == 0
    stack.compose("up", "-d", "--no-build")
    stack.ready()
    time.sleep(1)
    assert recognized(stack.api, photo_bytes("elton_john", 0)) == "Elton John"


def test_the_deploy_files_name_the_images_the_build_script_builds():
    """Kubernetes (docker/k8s) and compose name only images of ours that scripts/build_images.sh tags."""
    script = (ROOT / "scripts" / "build_images.sh").read_text()
    lines = [line.split() for line in script.splitlines() if line.strip().startswith("build ")]
    built = {words[1].strip('"').replace("$tag", tag) for words in lines for tag in ("2.21.0", "2.21.0-gpu")}
    named = set()
    for path in [*(ROOT / "docker").glob("compose*.yaml"), *(ROOT / "docker" / "k8s").rglob("*.yaml")]:
        for doc in yaml.load_all(path.read_text().replace("!reset", "").replace("!override", ""), yaml.SafeLoader):
            named |= {value for value in images(doc) if value.startswith("facerec/")}
    assert named and named <= built, sorted(named - built)


def images(node) -> list[str]:
    """Every `image:` value anywhere in a parsed YAML document."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "image" and isinstance(v, str)] + \
            [i for v in node.values() for i in images(v)]
    if isinstance(node, list):
        return [i for v in node for i in images(v)]
    return []
