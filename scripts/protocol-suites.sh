#!/usr/bin/env bash
# Runs the official Engine.IO and Socket.IO protocol test suites
# (../shared/protocol-suites, copied: that folder is read-only) against the
# engine's fixture server (crates/chatr-sio/examples/protocol-fixture.rs),
# which they expect on port 3000.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SUITES=${PROTOCOL_SUITES:-"$ROOT/../shared/protocol-suites"}
WORK=${PROTOCOL_SUITES_WORK:-"$ROOT/target/protocol-suites"}
FIXTURE="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/protocol-fixture"

cargo build --release --locked -p chatr-sio --example protocol-fixture
for suite in engine.io socket.io; do
  if [ ! -f "$WORK/$suite/node_modules/.installed" ] || [ "$SUITES/$suite/package-lock.json" -nt "$WORK/$suite/node_modules/.installed" ]; then
    rm -rf "$WORK/$suite" && mkdir -p "$WORK" && cp -r "$SUITES/$suite" "$WORK/$suite"
    (cd "$WORK/$suite" && npm ci --no-audit --no-fund >/dev/null && touch node_modules/.installed)
  fi
done

"$FIXTURE" > "$WORK/fixture.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q listening "$WORK/fixture.log" 2>/dev/null && break
  kill -0 $PID 2>/dev/null || { cat "$WORK/fixture.log" >&2; exit 1; }
  sleep 0.1
done
status=0
for suite in engine.io socket.io; do
  echo "== $suite protocol suite"
  (cd "$WORK/$suite" && npx mocha --reporter dot test-suite.js) || status=1
done
exit $status
