#!/usr/bin/env bash
# Run the test suite on a fresh machine: set up (scripts/setup.sh), the system packages the
# deployment, browser and MQTT tests use (podman serving the Docker API, runc, busybox, kubectl,
# chromium, mosquitto, openssl; mmdebstrap makes the image bases tests/test_containers.py builds
# when no registry answers), the venv of the client libraries the compatibility APIs are tested with
# (scripts/setup_clients.sh), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

bash scripts/install_missing.sh podman:podman runc:runc mmdebstrap:mmdebstrap busybox:busybox-static kubectl:kubernetes-client \
  chromium:chromium mosquitto:mosquitto openssl:openssl

# The camera node's RTSP test serves a stream with GStreamer's RTSP server, whose Python
# bindings only Debian's /usr/bin/python3 loads; without them that one test is skipped.
if ! /usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0')" 2>/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
      python3-gi >/dev/null
  else
    echo "test.sh: no GStreamer RTSP server (Debian: gir1.2-gst-rtsp-server-1.0 python3-gi); its test is skipped" >&2
  fi
fi

bash scripts/setup_clients.sh

export TF_CPP_MIN_LOG_LEVEL=2
exec .venv/bin/python -m pytest "$@"
