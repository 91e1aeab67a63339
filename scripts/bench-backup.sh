#!/usr/bin/env bash
# Times `flowsync backup` and `flowsync restore` on N chat messages (default 1,000,000) with
# /usr/bin/time -v (wall time and peak RSS): SQLite → archive → SQLite, the same archive into
# PostgreSQL, and a backup taken from PostgreSQL. Needs python3 (to fill SQLite) and a local
# PostgreSQL for the PostgreSQL rows (PG_URL, default postgres://postgres@127.0.0.1:5432).
# Usage: N=1000000 scripts/bench-backup.sh [path/to/flowsync]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
BIN=${1:-${CARGO_TARGET_DIR:-target}/release/flowsync}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
work=$(mktemp -d)
pgdb="fsbench_$$"
trap 'rm -rf "$work"; psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $pgdb" >/dev/null 2>&1 || true' EXIT
for k in $(env | grep -o '^FLOWSYNC_[A-Z_]*' || true); do unset "$k"; done
export FLOWSYNC_LOG__LEVEL=warn FLOWSYNC_CONFIG="$work/none.toml"
touch "$work/none.toml"

run() { # run LABEL DATA_DIR DB_URL -- ARGS…
  local label=$1 data=$2 url=$3; shift 4
  FLOWSYNC_SERVER__DATA_DIR=$data FLOWSYNC_DATABASE__URL=$url /usr/bin/time -v "$BIN" "$@" \
    >"$work/out.txt" 2>"$work/time.txt" || { cat "$work/out.txt" "$work/time.txt"; exit 1; }
  local wall rss
  wall=$(grep 'Elapsed (wall clock)' "$work/time.txt" | awk '{print $NF}')
  rss=$(grep 'Maximum resident' "$work/time.txt" | awk '{print $NF}')
  printf '%-44s %10s  %6d MB peak RSS\n' "$label" "$wall" $((rss / 1024))
}

src="sqlite://$work/src/flowsync.db"
FLOWSYNC_SERVER__DATA_DIR=$work/src FLOWSYNC_DATABASE__URL=$src "$BIN" migrate >/dev/null
python3 - "$work/src/flowsync.db" "$N" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n = int(sys.argv[2])
db.execute("INSERT INTO rooms (id, code, name, max_participants, timer_settings, status, created_at,"
           " last_activity_at, expires_at) VALUES ('r_bench', 'BENCH2', 'Bench', 10, '{}', 'active', 1, 1,"
           " 9999999999999)")
db.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
           "INSERT INTO room_messages (room_id, participant_id, sender_name, type, body, created_at) "
           "SELECT 'r_bench', 'p_' || (x % 10), 'Person ' || (x % 10), 'text', "
           "'message ' || x || ': ' || hex(randomblob(40)), 1700000000000 + x FROM c", (n,))
db.commit()
PY
echo "FlowSync $("$BIN" --version | awk '{print $2}'), $N messages, $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
run "backup (SQLite)" "$work/src" "$src" -- backup --output "$work/a"
archive=$(ls "$work"/a/flowsync-*.tar.gz)
printf '%-44s %10s\n' "archive size" "$(du -h "$archive" | cut -f1)"
run "backup verify" "$work/src" "$src" -- backup verify "$archive"
run "restore into SQLite" "$work/r1" "sqlite://$work/r1/flowsync.db" -- restore "$archive"
if psql -q "$PG_URL/postgres" -c "CREATE DATABASE $pgdb" >/dev/null 2>&1; then
  run "restore into PostgreSQL" "$work/r2" "$PG_URL/$pgdb" -- restore "$archive"
  run "backup (PostgreSQL)" "$work/r2" "$PG_URL/$pgdb" -- backup --output "$work/b"
else
  echo "(PostgreSQL at $PG_URL not reachable: skipped its rows)"
fi
