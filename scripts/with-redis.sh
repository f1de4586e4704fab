#!/usr/bin/env bash
# Runs a command beside a throw-away Redis (>= 7, `apt-get install redis-server`):
# a free loopback port, no persistence, in a temp dir removed afterwards.
# The command sees CHATR_TEST_REDIS=redis://127.0.0.1:PORT.
set -euo pipefail
DIR=$(mktemp -d /tmp/chatr-redis.XXXXXX)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save '' --appendonly no \
  --daemonize yes --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log"
stop() {
  [ -f "$DIR/redis.pid" ] && kill "$(cat "$DIR/redis.pid")" 2> /dev/null || true
  rm -rf "$DIR"
}
trap stop EXIT
for _ in $(seq 50); do redis-cli -p "$PORT" ping > /dev/null 2>&1 && break; sleep 0.1; done
export CHATR_TEST_REDIS="redis://127.0.0.1:$PORT"
"$@"
