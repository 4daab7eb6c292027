#!/usr/bin/env bash
# Install the Debian packages whose commands are missing: install_missing.sh CMD:PACKAGE ...
# As root it runs apt-get; otherwise it names what to install and fails.
set -euo pipefail
missing=()
for pair in "$@"; do
  cmd=${pair%%:*}
  command -v "$cmd" >/dev/null || [ -x "/usr/sbin/$cmd" ] || missing+=("${pair#*:}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "missing ${missing[*]}; install them (Debian: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
