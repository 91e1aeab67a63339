#!/usr/bin/env bash
# Runs one of FlowSync's benchmarks the way the README's figures were made: the release
# `flowsync serve` pinned to CPU 0 with the benchmark settings (SQLite in a temporary directory,
# per-address limits for creating and joining rooms raised, server.max_connections 30000), and
# `flowsync bench` pinned to CPU 1. Rooms are created before the clock starts (bench's set-up).
#
# Usage: scripts/bench.sh SCENARIO [more flowsync bench flags]
#   relay     15,000 sockets in 3,000 rooms, 12,000 deliveries/s (--rate 4 per room)
#   relay24   the same at 24,000 deliveries/s (--rate 8)
#   idle      19,000 idle sockets in rooms of 5, held for 10 minutes (--duration to change)
#   burst     one 10-person room's full negotiation (45 pairs, 20 candidates per pair) while
#             2,000 other sockets relay
#   timer     500 rooms of 10, every host changing the timer every 5 s
#   rest      2,000 mixed REST requests/s (SQLite) while 15,000 sockets are held
#   smoke     200 sockets, 5 s
# Environment: DURATION (overrides the scenario's), FLOWSYNC_BIN (default: $CARGO_TARGET_DIR or target, /release/flowsync),
# BENCH_PORT (default 18080).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FLOWSYNC_BIN:-${CARGO_TARGET_DIR:-target}/release/flowsync}
PORT=${BENCH_PORT:-18080}
scenario=${1:?usage: scripts/bench.sh relay|relay24|idle|burst|timer|rest|smoke [bench flags]}
shift
[ -x "$BIN" ] || { echo "no release binary at $BIN: cargo build --release" >&2; exit 2; }
cpu0=() cpu1=()
if [ "$(nproc)" -ge 2 ] && command -v taskset > /dev/null; then cpu0=(taskset -c 0) cpu1=(taskset -c 1); fi

data=$(mktemp -d)
trap 'kill "$server" 2> /dev/null || true; wait "$server" 2> /dev/null || true; rm -rf "$data"' EXIT
FLOWSYNC_ROOMS__CREATE_RATE_PER_IP=1000000/second \
FLOWSYNC_ROOMS__JOIN_RATE_PER_IP=1000000/second \
FLOWSYNC_SERVER__MAX_CONNECTIONS=30000 \
FLOWSYNC_LOG__LEVEL=warn \
  "${cpu0[@]}" "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$data" --quiet &
server=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" > /dev/null 2>&1 && break
  sleep 0.1
done
url="http://127.0.0.1:$PORT"
case "$scenario" in
  relay) args=(--rooms 3000 --per-room 5 --rate 4) default=60s ;;
  relay24) args=(--rooms 3000 --per-room 5 --rate 8) default=60s ;;
  idle) args=(--rooms 3800 --per-room 5 --idle) default=10m ;;
  burst) args=(--rooms 1 --per-room 10 --candidates 10 --rate 0) default=2s ;;
  timer) args=(--rooms 500 --per-room 10 --rate 0 --timer-every 5s) default=60s ;;
  rest) args=(--rooms 3000 --per-room 5 --rate 0 --rest-rate 2000) default=60s ;;
  smoke) args=(--rooms 40 --per-room 5 --rate 10) default=5s ;;
  *) echo "unknown scenario $scenario" >&2; exit 2 ;;
esac
args+=(--duration "${DURATION:-$default}")
"${cpu1[@]}" "$BIN" bench --url "$url" --server-pid "$server" "${args[@]}" "$@"
