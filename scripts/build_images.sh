#!/usr/bin/env bash
# Build every image of ours with podman: the app, the nginx front, the export stage of both
# serving Dockerfiles (the SavedModels), and, with --test, what the test stack needs on a
# machine without a registry (docker/compose.test.yaml): the model-server stand-in and the
# third-party bases built from Debian's packages under the names the files use.
#
#   bash scripts/build_images.sh [--test]
#
# Base images that cannot be pulled are made from Debian bookworm's packages with mmdebstrap
# and tagged under the FROM name, so the Dockerfiles stay the ones users build with Docker. They
# stay in podman's storage: a second run on the same machine reuses them (and the layer cache).
# pip inside a build reaches PyPI with this machine's CA bundle, mounted for the build only.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
podman=("$root/scripts/podman.sh")

PYTHON_BASE=docker.io/library/python:3.11.11-slim-bookworm
NGINX_BASE=docker.io/library/nginx:1.27.3-alpine
REDIS_IMAGE=docker.io/library/redis:7.4-alpine
MOSQUITTO_IMAGE=docker.io/library/eclipse-mosquitto:2.0.20
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
SOURCES=${DEBIAN_SOURCES:-/etc/apt/sources.list.d/debian.sources}
log() { echo "build_images: $*" >&2; }

have() { "${podman[@]}" image exists "$1"; }

# $1 image name; pulled if a registry answers, else made by the function named $2
base() {
  have "$1" && return 0
  if timeout 60 "${podman[@]}" pull -q "$1" >/dev/null 2>&1; then return 0; fi
  log "$1 cannot be pulled: making it from Debian bookworm's packages"
  "$2" "$1"
}

# A Debian rootfs (mmdebstrap, minbase, merged /usr) with packages $2 (comma-separated), the
# customize hooks after it, imported as image $1 with the --change lines in CHANGES.
debian_image() {
  local name=$1 packages=$2; shift 2
  local tar; tar=$(mktemp --suffix=.tar)
  mmdebstrap --quiet --variant=minbase --include="$packages" --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/usr/share/doc "$1"/usr/share/man' \
    "$@" bookworm "$tar" "$SOURCES"
  local changes=()
  for change in "${CHANGES[@]}"; do changes+=(--change "$change"); done
  "${podman[@]}" import -q "${changes[@]}" "$tar" "$name" >/dev/null
  rm -f "$tar"
}

python_base() {  # Debian 12's own Python 3.11 (and its pip), as `python` on PATH like the python image
  CHANGES=('ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' 'ENV LANG=C.UTF-8' 'CMD ["python3"]')
  debian_image "$1" python3,python3-venv,python3-pip,ca-certificates \
    --customize-hook='rm -f "$1"/usr/lib/python3.11/EXTERNALLY-MANAGED' \
    --customize-hook='for b in python python3; do ln -sf /usr/bin/python3 "$1"/usr/local/bin/$b; done'
}

nginx_base() {  # Debian's nginx with an entry point that renders /etc/nginx/templates like the nginx image
  CHANGES=('ENTRYPOINT ["/usr/local/bin/nginx-entrypoint.sh"]' 'CMD ["nginx", "-g", "daemon off;"]' 'EXPOSE 80')
  debian_image "$1" nginx,gettext-base,wget \
    --customize-hook='rm -f "$1"/etc/nginx/sites-enabled/default; mkdir -p "$1"/etc/nginx/templates' \
    --customize-hook="copy-in $root/docker/base/nginx-entrypoint.sh /usr/local/bin"
}

redis_image() {
  CHANGES=('WORKDIR /data' 'ENTRYPOINT ["/usr/local/bin/redis-entrypoint.sh"]' 'CMD ["redis-server"]' 'EXPOSE 6379')
  debian_image "$1" redis-server \
    --customize-hook='mkdir -p "$1"/data' --customize-hook="copy-in $root/docker/base/redis-entrypoint.sh /usr/local/bin"
}

mosquitto_image() {  # the eclipse-mosquitto image's /mosquitto-no-auth.conf and data folder
  CHANGES=('CMD ["mosquitto", "-c", "/mosquitto-no-auth.conf"]' 'EXPOSE 1883')
  debian_image "$1" mosquitto \
    --customize-hook='printf "listener 1883\nallow_anonymous true\npersistence true\npersistence_location /mosquitto/data/\nuser mosquitto\n" > "$1"/mosquitto-no-auth.conf' \
    --customize-hook='mkdir -p "$1"/mosquitto/data && chroot "$1" chown mosquitto /mosquitto/data'
}


build() {  # image name, Dockerfile, more podman build arguments
  local name=$1 file=$2; shift 2
  log "building $name from $file"
  local started=$SECONDS
  "${podman[@]}" build -q --format docker --pull=never --layers -v "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro" \
    -f "$context/$file" -t "$name" "$@" "$context" >/dev/null
  log "built $name in $((SECONDS - started)) s"
}

main() {
  cd "$root"
  local test_images=0
  [ "${1:-}" = --test ] && test_images=1
  # Only tracked files go into the context (the checkout holds GBs of venv and exported models).
  context=$(mktemp -d)
  trap 'rm -rf "$context"' EXIT
  git ls-files -z --cached | tar --null -T - -cf - | tar -C "$context" -xf -

  # the bases at once (downloads and dpkg overlap); each job's failure fails the build
  local jobs=()
  base "$PYTHON_BASE" python_base & jobs+=($!)
  base "$NGINX_BASE" nginx_base & jobs+=($!)
  if [ "$test_images" = 1 ]; then
    base "$REDIS_IMAGE" redis_image & jobs+=($!)
    base "$MOSQUITTO_IMAGE" mosquitto_image & jobs+=($!)
  fi
  for job in "${jobs[@]}"; do wait "$job"; done

  build facerec/app:latest Dockerfile.flask-app
  build facerec/nginx:latest Dockerfile.nginx
  build facerec/models-export:latest Dockerfile.serving-gpu --target export
  build facerec/mtcnn-models-export:latest Dockerfile.mtcnn-serving-gpu --target export
  for tag in 2.21.0 2.21.0-gpu; do  # the final serving stages only where TF Serving's image is here
    if have "docker.io/tensorflow/serving:$tag"; then
      build "facerec/facenet-serving:$tag" Dockerfile.serving-gpu --build-arg "SERVING_TAG=$tag"
      build "facerec/mtcnn-serving:$tag" Dockerfile.mtcnn-serving-gpu --build-arg "SERVING_TAG=$tag"
    else
      log "tensorflow/serving:$tag is not here: the serving images' final stage is not built (compose.test.yaml stands in)"
    fi
  done
  if [ "$test_images" = 1 ]; then
    build facerec/model-stand-in:latest docker/Dockerfile.model-stand-in
  fi
  "${podman[@]}" images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^(localhost/facerec|docker.io/library)' >&2
}

# sourced (bash -c 'source scripts/build_images.sh; ...'), it only defines the functions
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
