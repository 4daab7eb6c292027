#!/usr/bin/env bash
# podman as it runs on machines without systemd (CI, these dev machines): runc (crun fails on
# cgroups and rlimits there), cgroupfs, no default ulimits. podman-compose calls it through
# --podman-path. PODMAN_NETWORK_DIR keeps a test's networks out of /etc/containers/networks.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/docker/containers.conf}
flags=(--runtime runc --cgroup-manager cgroupfs)
[ -n "${PODMAN_NETWORK_DIR:-}" ] && flags+=(--network-config-dir "$PODMAN_NETWORK_DIR")
exec podman "${flags[@]}" "$@"
