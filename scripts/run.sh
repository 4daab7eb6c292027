#!/usr/bin/env bash
# Set up a fresh machine (scripts/setup.sh) and start the model server stand-in on :8500.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
exec .venv/bin/python -m scripts.serve_models --host 127.0.0.1 --port "${MODEL_PORT:-8500}"
