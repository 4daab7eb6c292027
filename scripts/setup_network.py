"""Create the fixed-IP bridge network and put each container on it, with the Docker SDK.

    python -m scripts.setup_network [up] [--plan docker/network.yaml] [--dry-run]
    python -m scripts.setup_network down [--plan ...] [--dry-run]

`up` creates the network if it is missing, then for each service of the plan starts its
container (or starts a stopped one, or connects a running one) with its fixed address.
Idempotent: a second run finds nothing to change. `--dry-run` prints the plan and changes
nothing. `down` removes the plan's containers and the network. The Docker engine is
DOCKER_HOST (or the default socket). The plan (docker/network.yaml) is the one source of
truth for the addresses; docker/compose.yaml agrees with it (tested).
"""
import argparse
import ipaddress
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PLAN = ROOT / "docker" / "network.yaml"


class NetworkError(RuntimeError):
    pass


@dataclass
class Service:
    name: str
    ip: str
    image: str
    port: int = 0
    env: dict = field(default_factory=dict)
    command: list | None = None
    publish: dict = field(default_factory=dict)
    volumes: dict = field(default_factory=dict)
    gpus: int = 0
    models: list = field(default_factory=list)   # what a model server serves (its image's config loads them)


@dataclass
class Plan:
    network: str
    subnet: str
    gateway: str
    services: list
    prefix: str = ""   # container names: <prefix><service>

    def container(self, service):
        return f"{self.prefix}{service.name}"


def load_plan(path):
    data = yaml.safe_load(Path(path).read_text())
    subnet = ipaddress.ip_network(data["subnet"])
    services = [Service(name=name, **spec) for name, spec in data["services"].items()]
    for s in services:
        if ipaddress.ip_address(s.ip) not in subnet:
            raise NetworkError(f"{s.name}: {s.ip} is outside the subnet {subnet}")
    return Plan(data["network"], str(subnet), data["gateway"], services, data.get("prefix", ""))


def connect_engine():
    import docker
    try:
        client = docker.from_env(timeout=30)
        client.ping()
        return client
    except docker.errors.DockerException as e:
        raise NetworkError(f"cannot reach the Docker engine ({e}); is it running, and is DOCKER_HOST "
                           f"(or /var/run/docker.sock) the right address?") from None


def _subnets(network):
    return [c.get("Subnet") for c in (network.attrs.get("IPAM") or {}).get("Config") or [] if c.get("Subnet")]


def _address(container, network_name):
    networks = container.attrs["NetworkSettings"]["Networks"] or {}
    settings = networks.get(network_name)
    if settings is None:
        return None
    return settings.get("IPAddress") or (settings.get("IPAMConfig") or {}).get("IPv4Address") or ""


def plan_actions(client, plan):
    """[(description, function)] that bring the engine to the plan; empty when it is there."""
    import docker
    actions = []
    wanted = ipaddress.ip_network(plan.subnet)
    existing = {n.name: n for n in client.networks.list()}
    network = existing.get(plan.network)
    if network is not None:
        if plan.subnet not in _subnets(network):
            raise NetworkError(f"network {plan.network!r} exists with subnet(s) {_subnets(network)}, not "
                               f"{plan.subnet}; remove it (down) or change the plan")
    else:
        for other in existing.values():
            for subnet in _subnets(other):
                if ipaddress.ip_network(subnet, strict=False).overlaps(wanted):
                    raise NetworkError(f"subnet {plan.subnet} collides with network {other.name!r} ({subnet}); "
                                       f"choose another subnet in {DEFAULT_PLAN.name}")
        actions.append((f"create network {plan.network} {plan.subnet} gateway {plan.gateway}",
                        lambda: client.networks.create(plan.network, driver="bridge", ipam=docker.types.IPAMConfig(
                            pool_configs=[docker.types.IPAMPool(subnet=plan.subnet, gateway=plan.gateway)]))))

    for service in plan.services:
        name = plan.container(service)
        try:
            container = client.containers.get(name)
        except docker.errors.NotFound:
            actions.append((f"run {name} ({service.image}) at {service.ip}",
                            lambda s=service: _run(client, plan, s)))
            continue
        address = _address(container, plan.network)  # "" while stopped: podman's API hides it then
        if address not in (None, "", service.ip):
            raise NetworkError(f"container {name} is on {plan.network} at {address}, not {service.ip}; "
                               f"remove it (down) and run again")
        if address is None:
            actions.append((f"connect {name} to {plan.network} at {service.ip}",
                            lambda c=container, s=service: client.networks.get(plan.network).connect(
                                c, ipv4_address=s.ip)))
        if container.status != "running":
            actions.append((f"start {name}", lambda c=container, s=service: _start(plan, c, s)))
    return actions


def _run(client, plan, service):
    import docker
    endpoint = client.api.create_endpoint_config(ipv4_address=service.ip)
    kwargs = {"name": plan.container(service), "detach": True, "environment": service.env,
              "ports": {f"{k}/tcp": v for k, v in service.publish.items()},
              "volumes": {v: {"bind": path, "mode": "rw"} for v, path in service.volumes.items()},
              "restart_policy": {"Name": "unless-stopped"}}
    if service.command:
        kwargs["command"] = service.command
    if service.gpus:
        kwargs["device_requests"] = [docker.types.DeviceRequest(count=service.gpus, capabilities=[["gpu"]])]
    container = client.containers.create(service.image, network=plan.network,
                                         networking_config={plan.network: endpoint}, **kwargs)
    container.start()


def _start(plan, container, service):
    container.start()
    container.reload()
    address = _address(container, plan.network)
    if address != service.ip:
        raise NetworkError(f"container {container.name} started at {address}, not {service.ip}; "
                           f"remove it (down) and run again")


def teardown_actions(client, plan):
    import docker
    actions = []
    for service in plan.services:
        try:
            container = client.containers.get(plan.container(service))
        except docker.errors.NotFound:
            continue
        actions.append((f"remove {container.name}", lambda c=container: c.remove(force=True)))
    if plan.network in {n.name for n in client.networks.list()}:
        actions.append((f"remove network {plan.network}", lambda: client.networks.get(plan.network).remove()))
    return actions


def _do(description, act):
    import docker
    try:
        act()
    except docker.errors.APIError as e:
        raise NetworkError(f"{description}: the engine refused: {e.explanation or e}") from None


def main(argv=None, client=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", choices=["up", "down"], default="up")
    parser.add_argument("--plan", default=str(DEFAULT_PLAN), help="network plan (YAML)")
    parser.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    args = parser.parse_args(argv)
    try:
        plan = load_plan(args.plan)
        client = client or connect_engine()
        actions = (plan_actions if args.command == "up" else teardown_actions)(client, plan)
        if not actions:
            print(f"{plan.network}: nothing to change")
        for description, act in actions:
            print(("would " if args.dry_run else "") + description)
            if not args.dry_run:
                _do(description, act)
    except NetworkError as e:
        sys.exit(f"setup_network: {e}")
    return [d for d, _ in actions]


if __name__ == "__main__":
    main()
