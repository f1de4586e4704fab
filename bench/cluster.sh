#!/usr/bin/env bash
# CPU per delivered message: one node versus two nodes over Redis, both on
# PostgreSQL (run inside scripts/with-postgres.sh and scripts/with-redis.sh;
# `make bench-cluster`). With two nodes the senders are on node 1 and the
# recipients on node 2, so every message, receipt and status crosses Redis.
# The CPU figure sums every chatr process. Not a test: nothing is asserted.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOAD="${CARGO_TARGET_DIR:-$ROOT/target}/release/chatr-load"
RATE=${CHAT_RATE:-1000}
SECONDS_=${CHAT_SECONDS:-8}
RUNS=${RUNS:-3}
WORK=$(mktemp -d /tmp/chatr-bench-cluster.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
server="${CHATR_TEST_POSTGRES#postgres://}"; host=${server#*@}; host=${host%%:*}; port=${server##*:}

node() { # name port redis?
  createdb -h "$host" -p "$port" -U postgres "$1" 2> /dev/null || true
  env PORT="$2" CHATR_DATA_DIR="$WORK/data" CHATR_RATE_LIMITS=off RUST_LOG=warn JWT_SECRET=bench-secret-of-at-least-32-bytes-long \
    DATABASE_URL="$CHATR_TEST_POSTGRES/$1" ${3:+REDIS_URL=$CHATR_TEST_REDIS} \
    "${CARGO_TARGET_DIR:-$ROOT/target}/release/chatr" > "$WORK/$2.out" 2> "$WORK/$2.err" &
  PIDS+=("$!")
  until grep -q listening "$WORK/$2.out" 2> /dev/null; do sleep 0.1; done
}

echo "== one node (PostgreSQL, no Redis), chat $RATE/s"
node bench_one 3201
for _ in $(seq "$RUNS"); do
  "$LOAD" --server 127.0.0.1:3201 --pid "${PIDS[0]}" chat --pairs 50 --rate "$RATE" --seconds "$SECONDS_" | grep RESULT
done
kill "${PIDS[0]}"; PIDS=()

echo "== two nodes over Redis (PostgreSQL), senders on one, recipients on the other, chat $RATE/s"
node bench_two 3202 redis
node bench_two 3203 redis
for _ in $(seq "$RUNS"); do
  "$LOAD" --server 127.0.0.1:3202 --recipients-server 127.0.0.1:3203 --pid "${PIDS[0]},${PIDS[1]}" \
    chat --pairs 50 --rate "$RATE" --seconds "$SECONDS_" | grep RESULT
done
