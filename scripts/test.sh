#!/usr/bin/env bash
# The whole FlowSync test suite, as the README's second command and CI run it:
# starts PostgreSQL and Redis when they are down, then checks formatting and lints,
# builds the release binary once and runs every test against it (Rust integration tests, the
# Socket.io protocol tests in Node.js with the official client, the browser tests in headless
# Chromium, and the .deb in a throwaway root and in a booted systemd container).
# Environment: CARGO_TARGET_DIR (optional shared build cache), FLOWSYNC_TEST_PG_URL,
# FLOWSYNC_TEST_REDIS_URL (defaults: local servers on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
# Here every test runs: one whose service or tool is missing fails instead of skipping.
export FLOWSYNC_TEST_ALL=1

SUITE_START=$(date +%s)
stage() {
  local name=$1; shift
  local t0; t0=$(date +%s)
  echo "==> $name"
  "$@"
  echo "<== $name: $(( $(date +%s) - t0 )) s"
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then echo "PostgreSQL is up"; return; fi
  if ! command -v pg_ctlcluster >/dev/null; then
    as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
  fi
  local version; version=$(ls /etc/postgresql | sort -V | tail -n 1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && { echo "PostgreSQL started"; return; }; sleep 0.5; done
  echo "PostgreSQL did not start" >&2; exit 1
}

ensure_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then echo "Redis is up"; return; fi
  if ! command -v redis-server >/dev/null; then
    as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
  fi
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 60); do redis-cli -h 127.0.0.1 ping 2>/dev/null | grep -q PONG && { echo "Redis started"; return; }; sleep 0.5; done
  echo "Redis did not start" >&2; exit 1
}

ensure_node() {
  if command -v node >/dev/null && command -v npm >/dev/null; then echo "Node.js $(node --version) is installed"; return; fi
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
}

ensure_systemd_tools() {
  if command -v systemd-analyze >/dev/null; then echo "systemd-analyze is installed"; return; fi
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd
}

ensure_openssl() {
  # The TLS tests use openssl s_client as an old (TLS 1.1) client the server must refuse.
  if command -v openssl >/dev/null; then echo "openssl is installed"; return; fi
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl
}

ensure_tmux() {
  # The init wizard test drives dialoguer's prompts through a real terminal (tmux).
  if command -v tmux >/dev/null; then echo "tmux is installed"; return; fi
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux
}

ensure_shells() {
  # The completion tests check that zsh and fish parse (and fish completes) what we generate.
  if command -v zsh >/dev/null && command -v fish >/dev/null; then echo "zsh and fish are installed"; return; fi
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zsh fish
}

ensure_packaging_tools() {
  # The package test: cargo-deb builds the .deb from the release binary, lintian checks it.
  if ! command -v lintian >/dev/null; then
    as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lintian
  fi
  if cargo deb --version >/dev/null 2>&1; then echo "cargo-deb is installed"; return; fi
  cargo install cargo-deb --version "^3.8" --locked --quiet
}

ensure_container_tools() {
  # The booted-systemd package test: systemd-nspawn boots a debootstrap'ed Debian root, and
  # the apt repository it installs from is built with apt-ftparchive and signed with gpg.
  if command -v systemd-nspawn >/dev/null && command -v debootstrap >/dev/null \
    && command -v apt-ftparchive >/dev/null && command -v gpg >/dev/null; then
    echo "systemd-nspawn, debootstrap, apt-ftparchive and gpg are installed"; return
  fi
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    systemd-container debootstrap apt-utils gnupg
}

ensure_coturn() {
  # The TURN tests use coturn's client and echo peer, and coturn itself for interop.
  if command -v turnutils_uclient >/dev/null && command -v turnserver >/dev/null; then echo "coturn is installed"; return; fi
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq coturn
}

ensure_pebble() {
  # A real ACME CA for the certificate tests (Debian's pebble and its DNS test server).
  if command -v pebble >/dev/null && command -v pebble-challtestsrv >/dev/null; then echo "pebble is installed"; return; fi
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble
}

ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then echo "Chromium is installed"; return; fi
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
}

# Each PostgreSQL test creates its own database named fst_<random>; drop those of earlier runs.
drop_test_databases() {
  local url=${FLOWSYNC_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
  psql "$url" -Atc "SELECT format('DROP DATABASE IF EXISTS %I;', datname) FROM pg_database WHERE datname LIKE 'fst\_%'" \
    | psql "$url" -q >/dev/null
}

# Redis test keys carry the fstest: prefix (and TTLs); clear leftovers.
clear_test_keys() {
  redis-cli -h 127.0.0.1 --scan --pattern 'fstest:*' | xargs -r -n 500 redis-cli -h 127.0.0.1 DEL >/dev/null
}

stage "services" bash -c "$(declare -f as_root ensure_postgres ensure_redis ensure_node ensure_chromium ensure_systemd_tools ensure_openssl ensure_tmux ensure_shells ensure_coturn ensure_pebble); ensure_postgres; ensure_redis; ensure_node; ensure_chromium; ensure_systemd_tools; ensure_openssl; ensure_tmux; ensure_shells; ensure_coturn; ensure_pebble"
stage "clean test data" bash -c "$(declare -f drop_test_databases clear_test_keys); drop_test_databases; clear_test_keys"
# Only FlowSync's own code: vendor/ is published source (plus patches) in its authors' style.
stage "cargo fmt --check" cargo fmt -- --check
stage "vendor/ = published crates + docs/upstream patches" bash scripts/vendor-patched.sh --check
# RustSec advisories against Cargo.lock, offline (the snapshot in .ci/advisory-db/).
stage "dependency advisories (cargo audit)" bash scripts/audit.sh
stage "cargo clippy" cargo clippy --release --all-targets --locked -- -D warnings
stage "build (release)" cargo build --release --all-targets --locked
stage "tests" cargo test --release --locked -- --test-threads="${FLOWSYNC_TEST_THREADS:-4}"
# Socket.io protocol tests with the official socket.io-client (pinned in tests/protocol), against
# the release binary built above.
stage "protocol tests (npm ci)" npm ci --prefix tests/protocol --no-audit --no-fund --loglevel=error
stage "protocol tests" env FLOWSYNC_BIN="${CARGO_TARGET_DIR:-target}/release/flowsync" \
  node --test --test-concurrency=1 tests/protocol/
# The pages in real headless Chromium (Debian's), driven by playwright-core, same binary.
stage "browser tests (npm ci)" npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
stage "browser tests" env FLOWSYNC_BIN="${CARGO_TARGET_DIR:-target}/release/flowsync" \
  node --test --test-concurrency=1 tests/browser/
# The .deb from the same release binary: contents, lintian, install/init/doctor/upgrade/purge
# in a throwaway root (needs root for mount and chroot).
stage "packaging tools" bash -c "$(declare -f as_root ensure_packaging_tools ensure_container_tools); ensure_packaging_tools; ensure_container_tools"
stage "package tests" as_root env "PATH=$PATH" "CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}" bash tests/package/test.sh
# The same package in a Debian root booted with systemd as PID 1 (systemd-nspawn): every unit
# directive and maintainer script for real. Its root is cached in ~/.cache/flowsync (the first
# run builds it with debootstrap, a few minutes); the whole stage has a 20-minute budget.
stage "package tests (booted systemd)" as_root env "PATH=$PATH" "CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}" \
  timeout --kill-after=30 1200 bash tests/package/systemd.sh
echo "all stages passed in $(( $(date +%s) - SUITE_START )) s"
