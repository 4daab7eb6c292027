#!/usr/bin/env bash
# Run the test suite on a fresh machine: set up (scripts/setup.sh), the system packages the
# deployment and browser tests use (podman serving the Docker API, runc, busybox, kubectl,
# chromium), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

bash scripts/install_missing.sh podman:podman runc:runc busybox:busybox-static kubectl:kubernetes-client \
  chromium:chromium

export TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/python -m pytest "$@"
