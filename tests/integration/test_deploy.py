"""Deployment files: linted and schema-checked, one source of truth for the addresses, and
the network script run against a real container engine (podman's Docker API)."""
import ipaddress
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from scripts import setup_network
from scripts.export_models import MODELS, SERVING_GROUPS
from scripts.pypi_assets import ROOT

BIN = Path(sys.executable).parent
PLAN = yaml.safe_load((ROOT / "docker" / "network.yaml").read_text())
COMPOSE = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
DOCKERFILES = ["Dockerfile.flask-app", "Dockerfile.serving-gpu", "Dockerfile.mtcnn-serving-gpu", "Dockerfile.nginx"]
# serving container -> its Dockerfile and the models.config of the models it serves
SERVING_DOCKERFILE = {"facenet": "Dockerfile.serving-gpu", "mtcnn": "Dockerfile.mtcnn-serving-gpu"}
SERVING_CONFIG = {"facenet": "embedders", "mtcnn": "detectors"}


def run(*cmd, **kwargs):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=ROOT, **kwargs)


def test_dockerfiles_pass_hadolint():
    done = run(BIN / "hadolint", *DOCKERFILES)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_file_matches_the_compose_schema():
    done = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", "docker/compose.yaml",
               "docker/compose.cameras.yaml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_camera_nodes_use_the_plan():
    """Each camera node of docker/compose.cameras.yaml: the app's image, the front's address and
    port (the API as users get it), its own address in the plan's camera range."""
    cameras = yaml.safe_load((ROOT / "docker" / "compose.cameras.yaml").read_text())["services"]
    app, front, nodes = PLAN["services"]["app"], PLAN["services"]["front"], ipaddress.ip_network(PLAN["camera_nodes"])
    assert nodes.subnet_of(ipaddress.ip_network(PLAN["subnet"]))
    addresses = [spec["networks"]["facerec"]["ipv4_address"] for spec in cameras.values()]
    assert len(set(addresses)) == len(addresses) and all(ipaddress.ip_address(a) in nodes for a in addresses)
    for spec in cameras.values():
        assert spec["image"] == app["image"] and spec["command"][:5] == ["python", "-m", "app.cli", "--url",
                                                                          f"http://{front['ip']}:{front['port']}"]
        assert spec["command"][5] == "camera" and "--camera-id" in spec["command"]


@pytest.fixture(scope="module", params=["cpu", "gpu"])
def rendered(request, tmp_path_factory):
    done = run("kubectl", "kustomize", f"docker/k8s/overlays/{request.param}")
    assert done.returncode == 0, done.stderr
    path = tmp_path_factory.mktemp("k8s") / f"{request.param}.yaml"
    path.write_text(done.stdout)
    return request.param, path, list(yaml.safe_load_all(done.stdout))


def test_kubernetes_manifests_validate(rendered):
    _, path, _ = rendered
    done = run(BIN / "kubernetes-validate", "--strict", path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_kubernetes_layout(rendered):
    overlay, _, docs = rendered
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {("Deployment", "app"), ("Deployment", "facenet"), ("Deployment", "mtcnn"), ("StatefulSet", "redis"),
            ("HorizontalPodAutoscaler", "app"), ("NetworkPolicy", "backends-from-app-only")} <= kinds
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    app = deployments["app"]["spec"]["template"]["spec"]["containers"][0]
    assert app["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"name": "API_KEYS", "valueFrom": {"secretKeyRef": {"name": app["env"][-1]["valueFrom"]["secretKeyRef"][
        "name"], "key": "API_KEYS"}}} in app["env"]
    for model in SERVING_DOCKERFILE:
        serving = deployments[model]["spec"]["template"]["spec"]["containers"][0]
        gpus = serving["resources"].get("limits", {}).get("nvidia.com/gpu")
        assert gpus == (1 if overlay == "gpu" else None)
        assert serving["image"].endswith("-gpu") == (overlay == "gpu")
    redis = next(d for d in docs if d["kind"] == "StatefulSet")
    assert redis["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    # the front (nginx) is what the Service reaches; Gunicorn listens where the front sends
    pod = deployments["app"]["spec"]["template"]["spec"]["containers"]
    front = next(c for c in pod if c["name"] == "front")
    bind = next(e["value"] for e in app["env"] if e["name"] == "BIND")
    upstream = next(e["value"] for e in front["env"] if e["name"] == "FACEREC_UPSTREAM")
    assert upstream.rsplit(":", 1)[1] == bind.rsplit(":", 1)[1] == str(app["ports"][0]["containerPort"])
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "app")
    assert service["spec"]["ports"][0]["targetPort"] == front["ports"][0]["name"]
    assert ("NetworkPolicy", "app-through-front-only") in kinds


def test_one_source_of_truth_for_addresses(rendered):
    _, _, docs = rendered
    network = COMPOSE["networks"]["facerec"]
    assert network["name"] == PLAN["network"]
    assert network["ipam"]["config"][0] == {"subnet": PLAN["subnet"], "gateway": PLAN["gateway"]}
    for name, spec in PLAN["services"].items():
        assert COMPOSE["services"][name]["networks"]["facerec"]["ipv4_address"] == spec["ip"], name
    plan_env = PLAN["services"]["app"]["env"]
    compose_env = COMPOSE["services"]["app"]["environment"]
    assert {k: compose_env[k] for k in plan_env} == plan_env
    # only the front is published, and it forwards to the app's address
    front, app = PLAN["services"]["front"], PLAN["services"]["app"]
    assert front["env"]["FACEREC_UPSTREAM"] == COMPOSE["services"]["front"]["environment"]["FACEREC_UPSTREAM"] \
        == f"{app['ip']}:{app['port']}"
    published = [re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", p) for p in COMPOSE["services"]["front"]["ports"]]
    assert published == [f"{k}:{v}" for k, v in front["publish"].items()]  # the host port's default
    assert "ports" not in COMPOSE["services"]["app"] and "publish" not in app
    assert f"FACEREC_UPSTREAM={app['ip']}:{app['port']}" in (ROOT / "Dockerfile.nginx").read_text()
    dockerfile = (ROOT / "Dockerfile.flask-app").read_text()
    for key in [k for k in plan_env if k.endswith("_ADDR")] + ["REDIS_URL"]:   # every model's address
        assert f"{key}={plan_env[key]}" in dockerfile, key
    serving = {model: container for container in SERVING_DOCKERFILE for model in PLAN["services"][container]["models"]}
    assert sorted(serving) == sorted(MODELS)   # every model has a container, one each
    for model, container in serving.items():   # and the app calls each model where it is served
        spec = PLAN["services"][container]
        assert plan_env[f"{model.upper()}_ADDR"] == f"{spec['ip']}:{spec['port']}"
    # Kubernetes reaches the same ports through Service names
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    app_env = {e["name"]: e.get("value") for e in next(d for d in docs if d["kind"] == "Deployment" and d[
        "metadata"]["name"] == "app")["spec"]["template"]["spec"]["containers"][0]["env"]}
    for container in SERVING_DOCKERFILE:
        port = PLAN["services"][container]["port"]
        for model in PLAN["services"][container]["models"]:
            assert app_env[f"{model.upper()}_ADDR"] == f"{container}:{port}"
        assert services[container]["spec"]["ports"][0]["port"] == port
        serving = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == container)
        args = serving["spec"]["template"]["spec"]["containers"][0]["args"]
        assert f"--model_config_file=/models/{SERVING_CONFIG[container]}.config" in args
    assert services["redis"]["spec"]["ports"][0]["port"] == PLAN["services"]["redis"]["port"]
    assert app_env["REDIS_URL"] == f"redis://redis:{PLAN['services']['redis']['port']}/0"


def test_models_config_names_the_exported_models_and_the_dockerfiles_copy_them(exported):
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse((exported / "models.config").read_text(), config)
    assert sorted(c.name for c in config.model_config_list.config) == sorted(MODELS)
    for container, dockerfile_name in SERVING_DOCKERFILE.items():
        group = SERVING_CONFIG[container]
        assert sorted(SERVING_GROUPS[group]) == sorted(PLAN["services"][container]["models"])
        served = model_server_config_pb2.ModelServerConfig()
        text_format.Parse((exported / f"{group}.config").read_text(), served)
        dockerfile = (ROOT / dockerfile_name).read_text()
        assert f"COPY --from=export /build/serving_models/{group}.config /models/{group}.config" in dockerfile
        assert f'"--model_config_file=/models/{group}.config"' in dockerfile and "--model_name" not in dockerfile
        for entry in served.model_config_list.config:
            assert f"COPY --from=export /build/serving_models/{entry.name} {entry.base_path}" in dockerfile
            assert "/v1/models/$m" in dockerfile and entry.name in dockerfile.split("HEALTHCHECK")[1]
            assert (exported / entry.name / "1" / "saved_model.pb").exists()
    assert "--batching_parameters_file=/models/batching.config" in (ROOT / "Dockerfile.serving-gpu").read_text()
    assert "COPY --from=export /build/serving_models/batching.config" in (ROOT / "Dockerfile.serving-gpu").read_text()
    for entry in ("Dockerfile.serving-gpu", "Dockerfile.mtcnn-serving-gpu"):
        text = (ROOT / entry).read_text()
        assert re.search(r"ARG SERVING_TAG=2\.21\.0-gpu\n", text) and "FROM tensorflow/serving:${SERVING_TAG}" in text


# --- the network script against a real engine ---------------------------------------------
def host_networks():
    """The networks routed from this host (from /proc/net/route)."""
    nets = []
    for line in Path("/proc/net/route").read_text().splitlines()[1:]:
        fields = line.split()
        dest, mask = (socket.inet_ntoa(struct.pack("<I", int(v, 16))) for v in (fields[1], fields[7]))
        nets.append(ipaddress.ip_network(f"{dest}/{mask}", strict=False))
    return nets


def free_test_subnet():
    for third in range(200, 250):
        candidate = ipaddress.ip_network(f"10.{third}.77.0/24")
        if not any(candidate.overlaps(n) for n in host_networks() if n.prefixlen > 0):
            return candidate
    raise RuntimeError("no free 10.x.77.0/24 subnet for the test network")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """podman serving the Docker Engine API on a unix socket, with its own storage and
    network configuration in a temporary folder, and a busybox image made locally."""
    import docker
    folder = tmp_path_factory.mktemp("podman")
    (folder / "networks").mkdir()
    conf = folder / "containers.conf"
    conf.write_text(f'[containers]\ndefault_ulimits = []\n[network]\nnetwork_config_dir = "{folder}/networks"\n')
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    podman = ["podman", "--root", folder / "root", "--runroot", folder / "run", "--runtime", "runc",
              "--cgroup-manager", "cgroupfs"]
    image_dir = folder / "image"
    (image_dir / "bin").mkdir(parents=True)
    shutil.copy(shutil.which("busybox"), image_dir / "bin" / "busybox")
    image = "localhost/facerec-test/busybox:1"
    tar = subprocess.run(["tar", "-C", str(image_dir), "-c", "."], capture_output=True, check=True).stdout
    subprocess.run([str(p) for p in podman] + ["import", "-", image], input=tar, env=env, check=True,
                   capture_output=True)
    sock = folder / "podman.sock"
    service = subprocess.Popen([str(p) for p in podman] + ["system", "service", "--time=0", f"unix://{sock}"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            client = docker.DockerClient(base_url=f"unix://{sock}", timeout=60)  # asks the engine's API version
            break
        except docker.errors.DockerException:
            time.sleep(0.1)
    else:
        raise RuntimeError("podman's API service did not start")
    yield {"client": client, "host": f"unix://{sock}", "image": image, "folder": folder}
    service.terminate()
    service.wait(timeout=30)
    # exec sessions leave their conmon monitors behind, and their exit starts podman cleanup
    # processes: end whatever runs from the folder until nothing does
    for _ in range(50):
        if subprocess.run(["pkill", "-f", str(folder)], check=False).returncode == 1:  # none left
            break
        time.sleep(0.2)
    # podman mounts its overlay store on itself; unmount it so the folder can be deleted
    for mount in sorted((line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                         if line.split()[1].startswith(str(folder))), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)


def write_plan(folder, name, subnet, image):
    hosts = list(subnet.hosts())
    plan = {"network": name, "subnet": str(subnet), "gateway": str(hosts[0]), "prefix": f"{name}-", "services": {
        service: {"ip": str(hosts[i + 1]), "image": image, "command": ["/bin/busybox", "sleep", "600"]}
        for i, service in enumerate(["app", "facenet", "mtcnn", "redis"])}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path, plan


def test_network_script_against_a_container_engine(engine, monkeypatch, capsys):
    client = engine["client"]
    monkeypatch.setenv("DOCKER_HOST", engine["host"])
    subnet = free_test_subnet()
    plan_path, plan = write_plan(engine["folder"], "facerec-test", subnet, engine["image"])
    try:
        planned = setup_network.main(["up", "--plan", str(plan_path), "--dry-run"])
        assert planned[0].startswith(f"create network facerec-test {subnet}") and len(planned) == 5
        assert "facerec-test" not in {n.name for n in client.networks.list()}  # dry run changed nothing

        done = setup_network.main(["up", "--plan", str(plan_path)])
        assert done == [d for d in planned]
        network = client.networks.get("facerec-test")
        assert network.attrs["IPAM"]["Config"][0]["Subnet"] == str(subnet)
        for service, spec in plan["services"].items():
            container = client.containers.get(f"facerec-test-{service}")
            assert container.status == "running"
            settings = container.attrs["NetworkSettings"]["Networks"]["facerec-test"]
            assert settings["IPAddress"] == spec["ip"]
            inside = container.exec_run(["/bin/busybox", "ip", "-4", "addr"]).output.decode()
            assert f"inet {spec['ip']}/24" in inside  # the address the container really has

        before = {c.name: (c.id, c.attrs["State"]["StartedAt"]) for c in client.containers.list(all=True)}
        assert setup_network.main(["up", "--plan", str(plan_path)]) == []  # a second run changes nothing
        assert "facerec-test: nothing to change" in capsys.readouterr().out
        assert {c.name: (c.id, c.attrs["State"]["StartedAt"]) for c in client.containers.list(all=True)} == before

        client.containers.get("facerec-test-redis").stop(timeout=1)  # a stopped container is started again
        assert setup_network.main(["up", "--plan", str(plan_path)]) == ["start facerec-test-redis"]

        clash_path, _ = write_plan(engine["folder"], "facerec-clash", ipaddress.ip_network(
            f"{subnet.network_address}/25"), engine["image"])
        with pytest.raises(SystemExit, match=r"collides with network 'facerec-test'"):
            setup_network.main(["up", "--plan", str(clash_path)])
        assert "facerec-clash" not in {n.name for n in client.networks.list()}
    finally:
        setup_network.main(["down", "--plan", str(plan_path)])
    assert "facerec-test" not in {n.name for n in client.networks.list()}
    assert not [c for c in client.containers.list(all=True) if c.name.startswith("facerec-test-")]


def test_network_script_names_an_unreachable_engine(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(SystemExit, match="cannot reach the Docker engine"):
        setup_network.main(["up", "--dry-run"])
