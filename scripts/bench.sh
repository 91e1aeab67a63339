#!/usr/bin/env bash
# Runs one of FlowSync's benchmarks the way the figures in docs/performance.md were made: the release
# `flowsync serve` pinned to CPU 0 with the benchmark settings (SQLite in a temporary directory,
# per-address limits for creating and joining rooms raised, server.max_connections 30000), and
# `flowsync bench` pinned to CPU 1. Rooms are created before the clock starts (bench's set-up).
#
# Usage: scripts/bench.sh SCENARIO [more flowsync bench flags]
#   relay     15,000 sockets in 3,000 rooms, 12,000 deliveries/s (--rate 4 per room)
#   relay24   the same at 24,000 deliveries/s (--rate 8)
#   idle      19,000 idle sockets in rooms of 5, held for 10 minutes (--duration to change)
#   burst     20 rooms of 10 filling up at 10 connections/s: every newcomer negotiates with
#             everyone already there (offer, answer, 10 candidates each way per pair; a room's
#             45 pairs in all) while 500 other joins a minute come and go (--join-rate)
#   timer     500 rooms of 10, every host changing the timer every 5 s
#   rest      2,000 mixed REST requests/s (SQLite) while 15,000 sockets are held
#   smoke     200 sockets, 5 s
#   restart   15,000 sockets in 3,000 rooms with some signaling and chat; 5 s after everyone is
#             in, the server gets SIGTERM and is started again on the same data directory;
#             bench --reconnect times the clients' return and checks every acknowledged chat
#             message is still stored (the drain and start-up times are printed)
#   scaleout  two `flowsync serve` instances (both on CPU 0) sharing PostgreSQL and Redis, each
#             room's participants spread over both, so most relays cross instances: 15,000
#             sockets in 3,000 rooms at 12,000 deliveries/s (PG_URL, default
#             postgres://postgres@127.0.0.1:5432; REDIS_URL, default redis://127.0.0.1:6379)
# Environment: DURATION (overrides the scenario's), FLOWSYNC_BIN (default: $CARGO_TARGET_DIR or target, /release/flowsync),
# BENCH_RT (1: both under SCHED_FIFO, see below), BENCH_PORT (default 18080), BENCH_LOG_LEVEL (the server's log level, default warn), BENCH_SERVER: what is measured, with the same generator and pinning:
#   flowsync  (default) `flowsync serve` as above
#   bare      a bare socketioxide server with the same crate versions and engine settings
#             (examples/bare_socketioxide.rs: cargo build --release --example bare_socketioxide;
#             BARE_DETACH_HEAD=1 gives it FlowSync's request-head memory fix too)
#   node      Node.js Socket.io 4.8.1 with the same minimal protocol (benches/node-socketio)
# The bare and node servers speak only what the idle, relay and burst scenarios need.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FLOWSYNC_BIN:-${CARGO_TARGET_DIR:-target}/release/flowsync}
# serve refuses FLOWSYNC_* variables it does not know: this one is only the script's.
unset FLOWSYNC_BIN
PORT=${BENCH_PORT:-18080}
scenario=${1:?usage: scripts/bench.sh relay|relay24|idle|burst|timer|rest|smoke|restart|scaleout [bench flags]}
shift
[ -x "$BIN" ] || { echo "no release binary at $BIN: cargo build --release" >&2; exit 2; }
cpu0=() cpu1=()
if [ "$(nproc)" -ge 2 ] && command -v taskset > /dev/null; then cpu0=(taskset -c 0) cpu1=(taskset -c 1); fi
# BENCH_RT=1: server and generator under SCHED_FIFO, so no ordinary process can preempt them (a
# diagnostic: it tells the machine's own interruptions from the server's queueing; near the knee
# it starves the kernel's softirq threads and makes the tail worse, so use it below the knee).
if [ "${BENCH_RT:-0}" = 1 ]; then cpu0=(chrt -f 10 "${cpu0[@]}") cpu1=(chrt -f 10 "${cpu1[@]}"); fi

root=$(mktemp -d)
data=$root second='' pgdb='' restarting=''
# start_flowsync PORT DATA_DIR: the release server with the benchmark settings, on CPU 0; its
# pid in $started.
start_flowsync() {
  FLOWSYNC_ROOMS__CREATE_RATE_PER_IP=1000000/second \
  FLOWSYNC_ROOMS__JOIN_RATE_PER_IP=1000000/second \
  FLOWSYNC_ROOMS__LOOKUP_RATE_PER_IP=1000000/second \
  FLOWSYNC_ROOMS__MESSAGE_RATE_PER_PARTICIPANT=1000000/second \
  FLOWSYNC_SERVER__MAX_CONNECTIONS=30000 \
  FLOWSYNC_LOG__LEVEL="${BENCH_LOG_LEVEL:-warn}" \
    "${cpu0[@]}" "$BIN" serve --listen "127.0.0.1:$1" --data-dir "$2" --quiet &
  started=$!
}
wait_ready() {
  for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$1/readyz" > /dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "the server on port $1 did not become ready" >&2
  return 1
}
# restart: once every participant is in, SIGTERM the server, time its drain, start it again on
# the same data directory and time that; bench (--reconnect) times the clients' return.
restart_server() {
  local want=$1 t0 t1 t2
  until [ "$(ls "/proc/$server/fd" 2> /dev/null | wc -l)" -ge "$want" ]; do sleep 0.2; done
  sleep 5
  t0=$(date +%s%N)
  kill -TERM "$server"
  while [ -e "/proc/$server" ] && [ "$(cut -d' ' -f3 "/proc/$server/stat" 2> /dev/null)" != Z ]; do sleep 0.005; done
  t1=$(date +%s%N)
  start_flowsync "$PORT" "$data"
  echo "$started" > "$root/restarted.pid"
  wait_ready "$PORT"
  t2=$(date +%s%N)
  echo "restart: drain after SIGTERM $(( (t1 - t0) / 1000000 )) ms; start to ready $(( (t2 - t1) / 1000000 )) ms" >&2
}
cleanup() {
  [ -f "$root/restarted.pid" ] && kill "$(cat "$root/restarted.pid")" 2> /dev/null
  kill "$server" $second 2> /dev/null || true
  wait "$server" $second 2> /dev/null || true
  rm -rf "$root"
  if [ -n "$pgdb" ]; then psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $pgdb" > /dev/null 2>&1 || true; fi
}
trap cleanup EXIT
if [ "$scenario" = scaleout ]; then
  # One deployment of two instances: shared PostgreSQL database and Redis (key prefix per run).
  PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
  pgdb="flowsync_bench_$$"
  psql -q "$PG_URL/postgres" -c "CREATE DATABASE $pgdb" > /dev/null
  export FLOWSYNC_DATABASE__URL="$PG_URL/$pgdb"
  export FLOWSYNC_REDIS__URL="${REDIS_URL:-redis://127.0.0.1:6379}/?protocol=resp3"
  export FLOWSYNC_REDIS__KEY_PREFIX="flowsync-bench-$$:"
  mkdir -p "$data/a"
  FLOWSYNC_SERVER__DATA_DIR="$data/a" "$BIN" migrate --quiet --no-backup
  start_flowsync "$((PORT + 1))" "$data/b"
  second=$started
  BENCH_SERVER=flowsync
  data="$data/a"
fi
case "${BENCH_SERVER:-flowsync}" in
  flowsync) start_flowsync "$PORT" "$data" && server=$started ;;
  bare)
    bare="$(dirname "$BIN")/examples/bare_socketioxide"
    [ -x "$bare" ] || { echo "no $bare: cargo build --release --example bare_socketioxide" >&2; exit 2; }
    "${cpu0[@]}" "$bare" "127.0.0.1:$PORT" &
    ;;
  node)
    [ -d benches/node-socketio/node_modules ] || (cd benches/node-socketio && npm ci --no-audit --no-fund > /dev/null)
    "${cpu0[@]}" node benches/node-socketio/server.mjs "127.0.0.1:$PORT" &
    ;;
  *) echo "BENCH_SERVER must be flowsync, bare or node" >&2; exit 2 ;;
esac
[ "${BENCH_SERVER:-flowsync}" = flowsync ] || server=$!
wait_ready "$PORT"
url="http://127.0.0.1:$PORT"
case "$scenario" in
  relay) args=(--rooms 3000 --per-room 5 --rate 4) default=60s ;;
  relay24) args=(--rooms 3000 --per-room 5 --rate 8) default=60s ;;
  idle) args=(--rooms 3800 --per-room 5 --idle) default=10m ;;
  burst) args=(--rooms 20 --per-room 10 --candidates 10 --rate 0 --connect-rate 10 --join-rate 500) default=5s ;;
  timer) args=(--rooms 500 --per-room 10 --rate 0 --timer-every 5s) default=60s ;;
  rest) args=(--rooms 3000 --per-room 5 --rate 0 --rest-rate 2000) default=60s ;;
  smoke) args=(--rooms 40 --per-room 5 --rate 10) default=5s ;;
  restart)
    args=(--rooms 3000 --per-room 5 --rate 1 --chat-rate 0.5 --reconnect) default=40s
    restarting=1
    ;;
  scaleout)
    for _ in $(seq 1 100); do
      curl -fsS "http://127.0.0.1:$((PORT + 1))/readyz" > /dev/null 2>&1 && break
      sleep 0.1
    done
    args=(--rooms 3000 --per-room 5 --rate 4 --also-url "http://127.0.0.1:$((PORT + 1))") default=60s ;;
  *) echo "unknown scenario $scenario" >&2; exit 2 ;;
esac
args+=(--duration "${DURATION:-$default}")
if [ -n "${restarting:-}" ]; then
  # Every participant connected (the last --rooms / --per-room given wins, as in bench).
  rooms=0 per_room=0 prev=''
  for a in "${args[@]}" "$@"; do
    case "$prev" in --rooms) rooms=$a ;; --per-room) per_room=$a ;; esac
    prev=$a
  done
  restart_server "$((rooms * per_room))" &
fi
"${cpu1[@]}" "$BIN" bench --url "$url" --server-pid "$server" "${args[@]}" "$@"
