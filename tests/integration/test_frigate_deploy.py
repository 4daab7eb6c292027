"""The Frigate bridge's deployment files (docker/compose.yaml `frigate-bridge`, docker/k8s/frigate):
on the plan's address, talking to the front, valid for Kubernetes, and a settings file the
bridge itself accepts."""
import subprocess
import sys
from pathlib import Path

import yaml

from app.frigate.config import config_from
from scripts.pypi_assets import ROOT

BIN = Path(sys.executable).parent
PLAN = yaml.safe_load((ROOT / "docker" / "network.yaml").read_text())


def test_the_compose_service():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    bridge, front = compose["services"]["frigate-bridge"], PLAN["services"]["front"]
    assert bridge["profiles"] == ["frigate"]   # not started unless asked for: it needs a Frigate
    assert bridge["image"] == PLAN["services"]["app"]["image"]
    assert bridge["command"] == ["python", "-m", "app.cli", "--url", f"http://{front['ip']}:{front['port']}", "frigate"]
    assert bridge["networks"]["facerec"]["ipv4_address"] == PLAN["frigate_bridge"]
    mosquitto = PLAN["services"]["mosquitto"]
    assert f"mqtt://{mosquitto['ip']}:{mosquitto['port']}" in bridge["environment"]["FRIGATE_MQTT_URL"]
    assert "ports" not in bridge
    addresses = [s["networks"]["facerec"]["ipv4_address"] for s in compose["services"].values()]
    assert len(set(addresses)) == len(addresses)


def test_the_kubernetes_deployment(tmp_path):
    done = subprocess.run(["kubectl", "kustomize", "docker/k8s/frigate"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "frigate.yaml"
    path.write_text(done.stdout)
    checked = subprocess.run([str(BIN / "kubernetes-validate"), "--strict", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    docs = {d["kind"]: d for d in yaml.safe_load_all(done.stdout)}
    deployment = docs["Deployment"]["spec"]
    assert deployment["replicas"] == 1 and deployment["strategy"]["type"] == "Recreate"
    container = deployment["template"]["spec"]["containers"][0]
    assert container["command"][:5] == ["python", "-m", "app.cli", "--url", "http://app:5000"]
    mount = container["volumeMounts"][0]["mountPath"]
    assert container["command"][-1] == f"{mount}/bridge.yaml"
    settings = tmp_path / "bridge.yaml"
    settings.write_text(docs["ConfigMap"]["data"]["bridge.yaml"])
    assert config_from(settings).double_take   # the shipped settings are valid
