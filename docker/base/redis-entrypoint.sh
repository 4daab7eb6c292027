#!/bin/sh
# Test-only stand-in for the redis image's entry point (scripts/build_images.sh): that image lets
# redis-server answer other containers (protected mode off), since it runs without a config file.
if [ "${1:-}" = redis-server ]; then
  shift
  exec redis-server --protected-mode no "$@"
fi
exec "$@"
