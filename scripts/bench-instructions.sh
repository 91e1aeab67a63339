#!/usr/bin/env bash
# Counts the server's user-space instructions per relayed message: `flowsync serve` runs under
# valgrind's callgrind (which counts instructions, not seconds, so the figure does not depend on
# how busy or slow the machine is), `flowsync bench` relays messages between 500 participants,
# and the instructions executed while it measures are divided by the deliveries. Kernel work
# (the system calls' TCP) is not counted: for that, see the CPU column of scripts/bench.sh.
# Use it to compare two builds on a noisy machine, where the CPU share of scripts/bench.sh
# varies by ±5 % between runs of one binary:
#
#   scripts/bench-instructions.sh [BIN ...]   (default: the release binary)
#
# Environment:
#   BENCH_SERVER=bare  measure the bare socketioxide server of scripts/bench.sh instead (built next
#                      to BIN: cargo build --release --example bare_socketioxide; BIN runs the bench)
#   MEASURE=generator  count the load generator's instructions instead (`flowsync bench` under
#                      callgrind, the server running normally): what sending and reading one
#                      relayed message costs the generator, which must not be the bottleneck
#   DURATION           measurement, default 20s
#   RATE               relays per room per second, default 5: 500/s in all, well below what the
#                      server manages under callgrind
#   KEEP               a directory to keep the callgrind files in, for callgrind_annotate (build
#                      with symbols to read them: CARGO_PROFILE_RELEASE_STRIP=none
#                      CARGO_PROFILE_RELEASE_DEBUG=line-tables-only)
#   BENCH_PORT         default 18090
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind > /dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 2; }
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=("${CARGO_TARGET_DIR:-target}/release/flowsync")
PORT=${BENCH_PORT:-18090}
cpu0=() cpu1=()
if [ "$(nproc)" -ge 2 ] && command -v taskset > /dev/null; then cpu0=(taskset -c 0) cpu1=(taskset -c 1); fi

measure() {
  local bin=$1 root pid ir delivered
  root=$(mktemp -d)
  local server=("$bin" serve --listen "127.0.0.1:$PORT" --data-dir "$root/data" --quiet)
  if [ "${BENCH_SERVER:-flowsync}" = bare ]; then
    server=("$(dirname "$bin")/examples/bare_socketioxide" "127.0.0.1:$PORT")
  fi
  # Which side runs under callgrind; callgrind_control then finds the one such process itself.
  local vg=(valgrind --tool=callgrind --callgrind-out-file="$root/callgrind.out") server_vg=() bench_vg=()
  if [ "${MEASURE:-server}" = generator ]; then bench_vg=("${vg[@]}"); else server_vg=("${vg[@]}"); fi
  FLOWSYNC_ROOMS__CREATE_RATE_PER_IP=1000000/second \
  FLOWSYNC_ROOMS__JOIN_RATE_PER_IP=1000000/second \
  FLOWSYNC_ROOMS__LOOKUP_RATE_PER_IP=1000000/second \
  FLOWSYNC_ROOMS__MESSAGE_RATE_PER_PARTICIPANT=1000000/second \
  FLOWSYNC_LOG__LEVEL=warn \
    "${cpu0[@]}" "${server_vg[@]}" "${server[@]}" 2> "$root/valgrind.log" &
  pid=$!
  local ready=''
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$PORT/readyz" > /dev/null 2>&1 && { ready=1; break; }
    sleep 0.1
  done
  if [ -z "$ready" ]; then
    kill "$pid" 2> /dev/null || true
    echo "$bin: the server under valgrind did not become ready (log: $root/valgrind.log)" >&2
    return 1
  fi
  # The counters are zeroed when bench starts measuring and dumped when it stops.
  "${cpu1[@]}" "${bench_vg[@]}" "$bin" bench --url "http://127.0.0.1:$PORT" --server-pid "$pid" --rooms 100 \
    --per-room 5 --rate "${RATE:-5}" --connect-rate 200 --duration "${DURATION:-20s}" --json \
    2> >(while read -r line; do
      case "$line" in
        "bench: measuring") callgrind_control -z > /dev/null 2>&1 ;;
        "bench: disconnecting") callgrind_control -d measured > /dev/null 2>&1 ;;
      esac
    done) > "$root/bench.json"
  # The dump is requested while bench disconnects; let it land before the server stops.
  for _ in $(seq 1 100); do
    grep -qs '^desc: Trigger: dump measured' "$root"/callgrind.out.* && break
    sleep 0.1
  done
  kill -TERM "$pid"
  wait "$pid" 2> /dev/null || true
  # callgrind numbers its dumps (callgrind.out.1, ...); ours is the one the bench's end triggered.
  ir=$(grep -l '^desc: Trigger: dump measured' "$root"/callgrind.out.* 2> /dev/null |
    xargs -r awk '/^summary:/ {print $2; exit}' || true)
  delivered=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["relay_delivered"])' "$root/bench.json")
  if [ -z "$ir" ] || [ "$delivered" = 0 ]; then
    echo "$bin: no measurement (valgrind log: $root/valgrind.log)" >&2
    return 1
  fi
  echo "$bin (${MEASURE:-server}): $delivered deliveries, $ir instructions while measuring, $((ir / delivered)) per delivery"
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$root"/callgrind.out* "$KEEP"/; fi
  rm -rf "$root"
}
for b in "${bins[@]}"; do measure "$b"; done
