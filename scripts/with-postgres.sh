#!/usr/bin/env bash
# Runs a command beside a throw-away PostgreSQL: initdb in a temp dir, a free
# loopback port, trust authentication for the local user `postgres`, C locale.
# The command sees CHATR_TEST_POSTGRES=postgres://postgres@127.0.0.1:PORT;
# the server is stopped and its directory removed afterwards, whatever happens.
# fsync is off: the tests kill chatr, never PostgreSQL.
set -euo pipefail
DIR=$(mktemp -d /tmp/chatr-pg.XXXXXX)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# initdb refuses to run as root: run the server as the `postgres` user then.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$DIR"
stop() {
  as_pg pg_ctl -D "$DIR/data" -m immediate stop > /dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap stop EXIT
as_pg initdb -D "$DIR/data" -U postgres -A trust --locale=C -E UTF8 > "$DIR/initdb.log"
as_pg pg_ctl -D "$DIR/data" -l "$DIR/server.log" -w \
  -o "-h 127.0.0.1 -p $PORT -k $DIR -c fsync=off -c max_connections=500" start > /dev/null
export CHATR_TEST_POSTGRES="postgres://postgres@127.0.0.1:$PORT"
"$@"
