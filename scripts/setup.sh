#!/usr/bin/env bash
# Set up a fresh machine: virtual environment, pinned packages, exported models.
# Idempotent: a second run installs nothing new and exports nothing (manifest.json).
set -euo pipefail
cd "$(dirname "$0")/.."

# redis-server: the tests start their own, and run.sh starts one when none answers.
# nginx: the buffering front run.sh puts on :5000 (and the tests check).
bash scripts/install_missing.sh redis-server:redis-server nginx:nginx

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# pip only reinstalls what the pinned files changed; the stamp skips even that check.
stamp=.venv/.requirements-$(cat requirements-app.txt requirements.txt requirements-nodeps.txt requirements-dev.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
  # declares `Requires: tensorflow`, which would pull the full tensorflow wheel over tensorflow-cpu
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
  rm -f .venv/.requirements-* && touch "$stamp"
fi

.venv/bin/python -m scripts.export_models
