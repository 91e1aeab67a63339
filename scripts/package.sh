#!/usr/bin/env bash
# Builds the .deb from the release binary: builds it first unless it exists (scripts/test.sh
# already built it), regenerates nothing (completions, man pages and the example config are
# committed and drift-tested). Needs cargo-deb (`cargo install cargo-deb --locked`).
# Usage: scripts/package.sh [extra cargo-deb args, e.g. --deb-version 0.1.0-2]
set -euo pipefail
cd "$(dirname "$0")/.."
# Reproducible packages: the archive's timestamps are the commit's time.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
TARGET=${CARGO_TARGET_DIR:-target}
if [ ! -x "$TARGET/release/flowsync" ]; then
  cargo build --release --locked
fi
cargo deb --version >/dev/null 2>&1 || cargo install cargo-deb --version "^3.8" --locked
cargo deb --no-build "$@"
