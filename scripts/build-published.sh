#!/usr/bin/env bash
# Builds `flowsync` and the bare socketioxide baseline from the published crates, without the
# patches in vendor/ (docs/upstream/*.patch), to measure what the patches change, e.g.:
#
#   scripts/build-published.sh
#   FLOWSYNC_BIN=$HOME/.cache/flowsync/target-published/release/flowsync DURATION=60s scripts/bench.sh idle
#
# The build runs on a copy of this checkout's committed files under $TMPDIR with Cargo.toml's
# [patch.crates-io] section removed (Cargo.lock here is not touched), into PUBLISHED_TARGET
# (default ~/.cache/flowsync/target-published).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${PUBLISHED_TARGET:-$HOME/.cache/flowsync/target-published}
work=${TMPDIR:-/tmp}/flowsync-published
rm -rf "$work"
mkdir -p "$work"
git archive HEAD | tar -x -C "$work"
cd "$work"
# Drop the [patch.crates-io] table: from its header to the next table header.
awk '/^\[patch\.crates-io\]/ { skip = 1; next } /^\[/ { skip = 0 } !skip' Cargo.toml > Cargo.toml.new
mv Cargo.toml.new Cargo.toml
rm -rf vendor
CARGO_TARGET_DIR=$target cargo build --release --bin flowsync --example bare_socketioxide
echo "built $target/release/flowsync and $target/release/examples/bare_socketioxide (published crates)"
