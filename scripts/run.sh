#!/usr/bin/env bash
# Fresh machine to a running server: set up (scripts/setup.sh), Redis (the one at REDIS_URL,
# or a local redis-server started here with its data in run/), the model server stand-in on
# :8500 (MODEL_BACKEND=grpc, as in production), Gunicorn on 127.0.0.1:5001, and nginx in
# front of it on :5000 (PORT), buffering requests so that slow clients never hold Gunicorn's
# threads. Ctrl-C stops Gunicorn, nginx and the model server; a Redis started here keeps running.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p run
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export MODEL_BACKEND=${MODEL_BACKEND:-grpc}
export BIND=${BIND:-127.0.0.1:5001}
PORT=${PORT:-5000}
PY=.venv/bin/python

redis_answers() {
  $PY -c "import sys; from scripts.processes import redis_answers; redis_answers(sys.argv[1])" "$REDIS_URL" 2>/dev/null
}
if ! redis_answers; then
  port=$($PY -c "import sys; from urllib.parse import urlsplit; print(urlsplit(sys.argv[1]).port or 6379)" "$REDIS_URL")
  echo "run.sh: no Redis at $REDIS_URL; starting redis-server on 127.0.0.1:$port (data and log in run/)"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$PWD/run" --appendonly yes --daemonize yes \
    --pidfile "$PWD/run/redis.pid" --logfile "$PWD/run/redis.log"
  $PY -c "import sys; from scripts.processes import redis_answers, wait_until
wait_until(lambda: redis_answers(sys.argv[1]), 10, 'redis-server')" "$REDIS_URL" \
    || { echo "run.sh: redis-server did not start, see run/redis.log" >&2; exit 1; }
fi

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
if [ "$MODEL_BACKEND" = grpc ] && [ -z "${MTCNN_ADDR:-}${FACENET_ADDR:-}${YUNET_ADDR:-}${SFACE_ADDR:-}" ]; then
  export MTCNN_ADDR=127.0.0.1:8500 FACENET_ADDR=127.0.0.1:8500 YUNET_ADDR=127.0.0.1:8500 SFACE_ADDR=127.0.0.1:8500
  echo "run.sh: starting the model server stand-in on 127.0.0.1:8500 (log in run/serve_models.log)"
  # spawn() returns once every model of models.config reports AVAILABLE; the server outlives this python
  pids+=("$($PY -c "
from scripts.serve_models import spawn
process, _ = spawn(port=8500, log_file=open('run/serve_models.log', 'w'))
print(process.pid)")")
fi

echo "run.sh: nginx on :$PORT in front of Gunicorn at $BIND (logs in run/nginx-*.log)"
$PY -m scripts.nginx --run-dir run --listen "$PORT" --upstream "$BIND" &
pids+=("$!")
echo "run.sh: API on http://0.0.0.0:$PORT (MODEL_BACKEND=$MODEL_BACKEND, REDIS_URL=$REDIS_URL)"
$PY -m gunicorn -c config/gunicorn.conf.py "app:create_app()"
