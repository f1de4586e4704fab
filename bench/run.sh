#!/usr/bin/env bash
# `make bench`: the standard load set against Chatr and against the Node.js
# reference (../shared/peer-node), on this machine, loopback only. Prints each
# scenario's figures and the Chatr/Node ratios. Not a test: nothing asserts speed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOAD="${CARGO_TARGET_DIR:-$ROOT/target}/release/chatr-load"
WORK=$(mktemp -d /tmp/chatr-bench.XXXXXX)
PEER_SRC=${PEER_SRC:-"$ROOT/../shared/peer-node"}
CHAT_RATE=${CHAT_RATE:-1000}
CHAT_SECONDS=${CHAT_SECONDS:-10}
SESSIONS=${SESSIONS:-4000}
STORM=${STORM:-4000}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

ulimit -n 20000 2>/dev/null || true

start_chatr() {
  # 4,000 sessions of 100 users is 40 each: past the default cap of 16.
  PORT=3101 CHATR_DATA_DIR="$WORK/chatr" CHATR_RATE_LIMITS=off CHATR_MAX_SESSIONS_PER_USER=1000 RUST_LOG=warn \
    "${CARGO_TARGET_DIR:-$ROOT/target}/release/chatr" > "$WORK/chatr.out" 2> "$WORK/chatr.err" &
  PID=$!; PIDS+=("$PID"); ADDR=127.0.0.1:3101
  until grep -q listening "$WORK/chatr.out" 2>/dev/null; do
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/chatr.err" >&2; exit 1; }
    sleep 0.1
  done
}

start_peer() {
  if [ ! -d "$WORK/peer/node_modules" ]; then
    cp -r "$PEER_SRC" "$WORK/peer"
    (cd "$WORK/peer" && npm ci --no-audit --no-fund > "$WORK/peer-npm.log" 2>&1)
  fi
  (cd "$WORK/peer" && PORT=3102 DB_PATH="$WORK/peer.db" UPLOAD_DIR="$WORK/peer-uploads" \
    RATE_MSG_PER_SEC=0 RATE_INDICATOR_PER_SEC=0 node server.js > "$WORK/peer.out" 2>&1) &
  PID=
  for _ in $(seq 100); do PID=$(pgrep -f "node server.js" | tail -1); [ -n "$PID" ] && break; sleep 0.1; done
  PIDS+=("$PID"); ADDR=127.0.0.1:3102
  until curl -s "http://$ADDR/api/health" > /dev/null; do
    kill -0 "$PID" 2>/dev/null || { tail -5 "$WORK/peer.out" >&2; exit 1; }
    sleep 0.1
  done
}

# Waits until the server is gone: the next one needs its port, and a server
# with 15,000 sessions to close can take seconds.
stop() {
  kill "$PID" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
}

# Each scenario on a fresh server so that one cannot skew the next.
run_all() {
  local name=$1 starter=$2
  for scenario in \
      "chat --pairs 50 --rate $CHAT_RATE --seconds $CHAT_SECONDS" \
      "conns --sessions $SESSIONS --users 100" \
      "storm --sessions $STORM --users 100 --messages 200" \
      "ramp --pairs 50 --start 500 --factor 1.4 --step-seconds 4"; do
    $starter
    echo "== $name: chatr-load $scenario"
    # shellcheck disable=SC2086
    "$LOAD" --server "$ADDR" --pid "$PID" $scenario | tee -a "$WORK/$name.log" | grep -v '^RESULT' || true
    stop
  done
}

cargo build --release --locked -p chatr -p chatr-load
run_all chatr start_chatr
run_all node start_peer

python3 - "$WORK/chatr.log" "$WORK/node.log" <<'PY'
import json, sys
def results(path):
    out = {}
    for line in open(path):
        if line.startswith('RESULT '):
            r = json.loads(line[7:])
            out[r['scenario']] = r
    return out
c, n = results(sys.argv[1]), results(sys.argv[2])
def ratio(a, b, invert=False):
    if a in (None, 0) or b in (None, 0): return 'n/a'
    return f"{(b / a if invert else a / b):.1f}x"
rows = [
    ('server CPU µs per message (chat)', c.get('chat', {}).get('server_cpu_us_per_msg'), n.get('chat', {}).get('server_cpu_us_per_msg'), True),
    ('send→received p99 ms (chat)', c.get('chat', {}).get('received_p99_ms'), n.get('chat', {}).get('received_p99_ms'), True),
    ('highest clean rate msg/s (ramp)', c.get('ramp', {}).get('highest_clean_rate'), n.get('ramp', {}).get('highest_clean_rate'), False),
    ('RSS KiB per idle session (conns)', c.get('conns', {}).get('rss_per_session_kib'), n.get('conns', {}).get('rss_per_session_kib'), True),
    ('storm: seconds until all back', c.get('storm', {}).get('seconds'), n.get('storm', {}).get('seconds'), True),
]
print(f"\n{'':38} {'chatr':>10} {'node':>10}  chatr advantage")
for label, a, b, inv in rows:
    fa = f"{a:.1f}" if isinstance(a, (int, float)) else 'n/a'
    fb = f"{b:.1f}" if isinstance(b, (int, float)) else 'n/a'
    print(f"{label:38} {fa:>10} {fb:>10}  {ratio(a, b, inv)}")
PY
