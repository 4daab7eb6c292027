#!/bin/sh
# Test-only stand-in for the nginx image's entry point (scripts/build_images.sh): each
# /etc/nginx/templates/X.template becomes /etc/nginx/conf.d/X with the variables whose names
# match NGINX_ENVSUBST_FILTER filled in (so nginx's own $variables stay), then the command runs.
set -eu
for template in /etc/nginx/templates/*.template; do
  [ -e "$template" ] || continue
  names=$(env | cut -d= -f1 | grep -E "${NGINX_ENVSUBST_FILTER:-.}" | sed 's/^/$/' | tr '\n' ' ')
  out=/etc/nginx/conf.d/$(basename "$template" .template)
  envsubst "$names" < "$template" > "$out"
done
exec "$@"
