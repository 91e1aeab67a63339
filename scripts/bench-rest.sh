#!/usr/bin/env bash
# REST throughput of a release build on the embedded default (SQLite, in-process state):
# GET /api/rooms/{code} and password-less joins into 100 pre-created rooms, with wrk.
# The server is pinned to core 0 and wrk to core 1; rate limits are raised and the reconnect
# grace set to 0 s so seats free at once (the figure is the database write path, not a full room).
# Usage: scripts/bench-rest.sh [path/to/flowsync]   (default: $FLOWSYNC_BIN, else
# $CARGO_TARGET_DIR or target, /release/flowsync; CONNECTIONS: wrk's connections, default 16)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-${FLOWSYNC_BIN:-${CARGO_TARGET_DIR:-target}/release/flowsync}}
# serve refuses FLOWSYNC_* variables it does not know: this one is only the script's.
unset FLOWSYNC_BIN
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
DIR=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DIR"' EXIT
PORT=18080
export FLOWSYNC_ROOMS__CREATE_RATE_PER_IP=1000000/second FLOWSYNC_ROOMS__JOIN_RATE_PER_IP=1000000/second
export FLOWSYNC_ROOMS__LOOKUP_RATE_PER_IP=1000000/second FLOWSYNC_ROOMS__MESSAGE_RATE_PER_PARTICIPANT=1000000/second
export FLOWSYNC_ROOMS__RECONNECT_GRACE=0s FLOWSYNC_LOG__LEVEL=warn
START=$(date +%s%N)
taskset -c 0 "$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$DIR/data" &
PID=$!
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do
  kill -0 "$PID" 2>/dev/null || { echo "the server exited before it was ready (its error is above)" >&2; exit 1; }
  sleep 0.005
done
echo "start-up to ready (fresh data dir, includes migration): $(( ($(date +%s%N) - START) / 1000000 )) ms"
CODES=()
for _ in $(seq 1 100); do
  CODES+=("$(curl -sf -XPOST "http://127.0.0.1:$PORT/api/rooms" -H 'content-type: application/json' \
    -d '{"display_name":"bench"}' | sed -E 's/.*"room_code":"([A-Z0-9]+)".*/\1/')")
done
cat > "$DIR/get.lua" <<LUA
codes = { $(printf '"%s",' "${CODES[@]}") }
i = 0
request = function() i = i + 1; return wrk.format("GET", "/api/rooms/" .. codes[(i % #codes) + 1]) end
LUA
cat > "$DIR/join.lua" <<LUA
codes = { $(printf '"%s",' "${CODES[@]}") }
i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"display_name":"guest"}'
request = function() i = i + 1; return wrk.format(nil, "/api/rooms/" .. codes[(i % #codes) + 1] .. "/join") end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx: %d\n", summary.errors.status))
end
LUA
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
phase() { # name, lua script: runs wrk for 10 s and reports the server's CPU use alongside
  echo "--- $1"
  local t0; t0=$(cpu_ticks)
  taskset -c 1 wrk -t1 -c"${CONNECTIONS:-16}" -d10s --latency -s "$2" "http://127.0.0.1:$PORT" | grep -E "Requests/sec|50%|90%|99%|non-2xx|Non-2xx"
  echo "server CPU: $(( ($(cpu_ticks) - t0) * 100 / $(getconf CLK_TCK) / 10 ))% of one core"
}
phase "POST /api/rooms/{code}/join (password-less)" "$DIR/join.lua"
phase "GET /api/rooms/{code}" "$DIR/get.lua"
echo "--- idle RSS after the run: $(grep VmRSS /proc/$PID/status | awk '{print $2, $3}')"
