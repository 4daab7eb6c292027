#!/usr/bin/env bash
# Run the test suite on a fresh machine: set up (scripts/setup.sh), the system packages the
# deployment and browser tests use (podman serving the Docker API, runc, busybox, kubectl,
# chromium), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

missing=()
for cmd in podman:podman runc:runc busybox:busybox-static kubectl:kubernetes-client chromium:chromium; do
  command -v "${cmd%%:*}" >/dev/null || missing+=("${cmd#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "test.sh: missing ${missing[*]}; install them (Debian: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

export TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/python -m pytest "$@"
