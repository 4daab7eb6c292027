#!/usr/bin/env bash
# Run the test suite on a fresh machine: set up (scripts/setup.sh), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/python -m pytest "$@"
