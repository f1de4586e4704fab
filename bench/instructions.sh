#!/usr/bin/env bash
# `make bench-instructions`: instructions per message of Chatr and of the
# floor (../shared/floor), counted by valgrind's callgrind while chatr-load
# runs a slow chat (10 pairs, 40 messages/s, 20 s). CPU time on this machine
# drifts by 20–55 % within one sitting (docs/benchmarks.md, round 16); an
# instruction count does not, so it tells a change's effect on the work per
# message apart from the machine's mood. It is not time: a cache miss or a
# system call counts as nothing here, so the figures beside the floor's in
# `make bench` stay the targets.
#
# Only the work of messages is counted: each server's connection tasks and
# its writer task (callgrind's --toggle-collect), so that starting up,
# registering users (argon2) and the load tool's connects stay out.
# CALLGRIND_OUT=dir keeps the profiles for callgrind_annotate. PAIRS, RATE
# and SECONDS_ change the chat: at RATE=2000 SECONDS_=6 both servers,
# slowed by valgrind, fall behind and commit hundreds of jobs at a time,
# which counts the work a message costs under load rather than at rest
# (RATE=1200 once did, until a faster day let the floor keep up). How far
# behind depends on the machine's speed that minute: compare the commits too.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
FLOOR_SRC=${FLOOR_SRC:-"$ROOT/../shared/floor"}
WORK=$(mktemp -d /tmp/chatr-instructions.XXXXXX)
OUT=${CALLGRIND_OUT:-$WORK}
PAIRS=${PAIRS:-10} RATE=${RATE:-40} SECONDS_=${SECONDS_:-20}
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# wait_for LOG CHECK…: until CHECK succeeds, or the server started as $PID
# has died (then its log says why).
wait_for() {
  local log=$1; shift
  until "$@" > /dev/null 2>&1; do
    kill -0 "$PID" 2>/dev/null || { tail -5 "$log" >&2; exit 1; }
    sleep 0.5
  done
}

command -v valgrind > /dev/null || { apt-get update -qq && apt-get install -y -qq valgrind > /dev/null; }
cargo build --release --locked -p chatr -p chatr-load
# From the floor's own directory: our .cargo/config.toml is not the floor's.
(cd "$FLOOR_SRC" && CARGO_TARGET_DIR="$TARGET/floor" cargo build --release --locked)

# count NAME ADDR: runs the chat against the server started as $PID, stops
# it, and prints the instructions counted per message.
count() {
  local name=$1 addr=$2 sent
  sent=$("$TARGET/release/chatr-load" --server "$addr" chat --pairs $PAIRS --rate $RATE --seconds $SECONDS_ \
    | sed -n 's/^chat: .* sent \([0-9]*\) .*/\1/p')
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  [ -n "$sent" ] && [ "$sent" -gt 0 ] || { echo "$name: no messages sent" >&2; exit 1; }
  local total
  total=$(callgrind_annotate "$OUT/$name.callgrind" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
  printf '%-6s %8d messages  %10d instructions per message\n' "$name" "$sent" $((total / sent))
}

mkdir -p "$WORK/chatr"
PORT=3107 CHATR_DATA_DIR="$WORK/chatr" CHATR_RATE_LIMITS=off RUST_LOG=warn \
  valgrind --tool=callgrind --callgrind-out-file="$OUT/chatr.callgrind" \
  --toggle-collect='chatr_sio::eio::websocket::upgrade::*' \
  --toggle-collect='chatr::store::writer::sqlite::inline::*' \
  "$TARGET/release/chatr" > "$WORK/chatr.out" 2> "$WORK/chatr.err" &
PID=$!
wait_for "$WORK/chatr.err" grep -q listening "$WORK/chatr.out"
count chatr 127.0.0.1:3107

mkdir -p "$WORK/floor"
valgrind --tool=callgrind --callgrind-out-file="$OUT/floor.callgrind" \
  --toggle-collect='*Session*poll*' --toggle-collect='floor::db::inline_task*' \
  "$TARGET/floor/release/floor" --port 3108 --data-dir "$WORK/floor" --db inline --checkpointer \
  > "$WORK/floor.out" 2>&1 &
PID=$!
wait_for "$WORK/floor.out" curl -sf http://127.0.0.1:3108/api/health
count floor 127.0.0.1:3108
