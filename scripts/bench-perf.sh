#!/usr/bin/env bash
# Where the server's core goes while it relays: runs a scripts/bench.sh scenario (default
# `relay`, 12,000 deliveries/s between 15,000 sockets), samples the server with `perf record`
# for PERF_SECONDS in the middle of the measurement, and prints the share of samples by part:
# the kernel (and within it the TCP send path, and the loopback delivery into the *generator's*
# sockets that a server on a real network does not do), the async runtime, socketioxide and
# engineioxide, libc, FlowSync's own functions. Complements scripts/bench-instructions.sh,
# which counts user-space instructions only.
#
#   scripts/bench-perf.sh [SCENARIO [bench flags]]
#
# Environment:
#   FLOWSYNC_BIN   the binary; build it with symbols or the user-space groups are unnamed:
#                  CARGO_TARGET_DIR=/tmp/prof-target CARGO_PROFILE_RELEASE_STRIP=none \
#                  CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release --bin flowsync
#   DURATION       the scenario's measurement, default 25s
#   PERF_SECONDS   how long to sample, default 15 (starts 3 s into the measurement)
#   KEEP           a directory to keep perf.data and the bench output in
set -euo pipefail
cd "$(dirname "$0")/.."
command -v perf > /dev/null || { echo "perf is missing: apt-get install linux-perf" >&2; exit 2; }
bin=${FLOWSYNC_BIN:-${CARGO_TARGET_DIR:-target}/release/flowsync}
[ -x "$bin" ] || { echo "no binary at $bin (set FLOWSYNC_BIN)" >&2; exit 2; }
out=${KEEP:-$(mktemp -d)}
mkdir -p "$out"
scenario=${1:-relay}
[ $# -gt 0 ] && shift

FLOWSYNC_BIN=$bin DURATION=${DURATION:-25s} scripts/bench.sh "$scenario" "$@" > "$out/bench.log" 2>&1 &
bench=$!
trap 'kill $bench 2> /dev/null || true' EXIT
for _ in $(seq 1 600); do
  grep -q "bench: measuring" "$out/bench.log" && break
  kill -0 $bench 2> /dev/null || { cat "$out/bench.log" >&2; exit 1; }
  sleep 0.5
done
sleep 3
pid=$(pgrep -f "^$bin serve" | head -1 || true)
[ -n "$pid" ] || { echo "no server process found for $bin" >&2; exit 1; }
perf record -F 1999 -g -p "$pid" -o "$out/perf.data" -- sleep "${PERF_SECONDS:-15}" 2> "$out/perf.log"
wait $bench || true
trap - EXIT
grep -E "^relay |^server|^messages" "$out/bench.log" || true

# Self time by part (flat, so each sample counts once).
perf report -i "$out/perf.data" --no-children --sort dso,sym --stdio 2> /dev/null | grep -v '^#' | grep -v '^$' |
  awk '$1 ~ /%$/ {
    p = $1; sub("%", "", p); l = $0
    if (l ~ /\[kernel/) k += p
    else if (l ~ /flowsync::/) f += p
    else if (l ~ /tokio|futures|mio::/) t += p
    else if (l ~ /socketioxide|engineioxide/) s += p
    else if (l ~ /tungstenite|hyper/) w += p
    else if (l ~ /serde/) j += p
    else if (l ~ /libc\.so/) c += p
    else o += p
  } END {
    printf "self time        kernel %.1f %%, tokio and futures %.1f %%, socketioxide and engineioxide %.1f %%, libc (malloc, memcpy) %.1f %%, FlowSync %.1f %%, serde %.1f %%, tungstenite and hyper %.1f %%, other %.1f %%\n", k, t, s, c, f, j, w, o
  }'
# Kernel paths including what they call (frame pointers: the kernel's stacks are complete).
perf report -i "$out/perf.data" --children --sort sym --stdio -g none 2> /dev/null |
  awk '$3 == "[k]" && ($4 == "__x64_sys_sendto" || $4 == "net_rx_action" || $4 == "__x64_sys_recvfrom" || $4 == "__x64_sys_epoll_wait") {
    name[$4] = $1
  } END {
    printf "kernel paths     sendto %s (of which the loopback delivery to the receiving sockets, net_rx_action, %s), recvfrom %s, epoll_wait %s\n",
      name["__x64_sys_sendto"], name["net_rx_action"], name["__x64_sys_recvfrom"], name["__x64_sys_epoll_wait"]
  }'
echo "perf data: $out/perf.data"
