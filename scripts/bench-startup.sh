#!/usr/bin/env bash
# Start-up to ready, release binary size and idle RSS of `flowsync serve` (docs/performance.md).
#
# Start-up is measured from the moment the process is spawned to the first `200` from
# `/readyz` (database open and migrated, listeners bound, Socket.io attached), polled every
# millisecond over a raw TCP connection. Two cases, RUNS times each (default 20):
#   first   a fresh data directory: the SQLite database is created and migrated;
#   warm    the same directory again: the database exists.
# Idle RSS is read from /proc after the server has been ready and unused for 2 s.
#
# Usage: scripts/bench-startup.sh    (FLOWSYNC_BIN, RUNS, BENCH_PORT as in scripts/bench.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FLOWSYNC_BIN:-${CARGO_TARGET_DIR:-target}/release/flowsync}
# serve refuses FLOWSYNC_* variables it does not know: this one is only the script's.
unset FLOWSYNC_BIN
PORT=${BENCH_PORT:-18090}
RUNS=${RUNS:-20}
[ -x "$BIN" ] || { echo "no release binary at $BIN: cargo build --release" >&2; exit 2; }

python3 - "$BIN" "$PORT" "$RUNS" << 'EOF'
import os, shutil, socket, statistics, subprocess, sys, tempfile, time

binary, port, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
env = dict(os.environ, FLOWSYNC_LOG__LEVEL="warn")

def ready():
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False

def start(data):
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data, "--quiet"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not ready():
        if p.poll() is not None:
            sys.exit(f"flowsync serve exited with {p.returncode} before it was ready")
        if time.perf_counter() - t0 > 10:
            p.kill()
            sys.exit("flowsync serve was not ready within 10 s")
        time.sleep(0.001)
    return p, (time.perf_counter() - t0) * 1000

def stop(p):
    p.terminate()
    p.wait(timeout=10)

first, warm, rss = [], [], []
for i in range(runs):
    data = tempfile.mkdtemp(prefix="flowsync-startup-")
    try:
        p, ms = start(data); first.append(ms); stop(p)
        p, ms = start(data); warm.append(ms)
        if i == 0:
            time.sleep(2)
            with open(f"/proc/{p.pid}/status") as f:
                rss = [l.split()[1] for l in f if l.startswith("VmRSS")]
        stop(p)
    finally:
        shutil.rmtree(data, ignore_errors=True)

def line(name, xs):
    xs = sorted(xs)
    print(f"{name:<34} median {statistics.median(xs):6.1f} ms   max {xs[-1]:6.1f} ms   ({len(xs)} runs)")

line("start-up to ready, new database", first)
line("start-up to ready, existing database", warm)
print(f"{'idle RSS after start-up':<34} {int(rss[0]) / 1024:.1f} MiB")
print(f"{'release binary size':<34} {os.path.getsize(binary) / 1048576:.1f} MiB ({binary})")
EOF
