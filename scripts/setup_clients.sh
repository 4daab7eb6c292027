#!/usr/bin/env bash
# The venv of the client libraries the compatibility tests drive (.venv-clients, from
# requirements-clients.txt): Home Assistant's deepstack-python and Exadel's compreface-sdk.
# Kept apart from .venv because compreface-sdk needs urllib3<2. Idempotent (a stamp).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv-clients/bin/python ]; then
  "$PYTHON" -m venv .venv-clients
fi
stamp=.venv-clients/.requirements-$(sha256sum requirements-clients.txt | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv-clients/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-clients.txt
  rm -f .venv-clients/.requirements-* && touch "$stamp"
fi
