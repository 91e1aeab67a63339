#!/usr/bin/env bash
# Regenerates the committed shell completions (completions/), man pages (packaging/man/) and
# the example config (packaging/flowsync.toml.example)
# from a built binary. A test fails when the committed files drift from what it generates.
# Usage: scripts/gen-completions.sh [path/to/flowsync]   (default: target/debug/flowsync)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-${CARGO_TARGET_DIR:-target}/debug/flowsync}
mkdir -p completions packaging/man
"$BIN" completions bash > completions/flowsync.bash
"$BIN" completions zsh > completions/_flowsync
"$BIN" completions fish > completions/flowsync.fish
"$BIN" completions elvish > completions/flowsync.elv
"$BIN" completions powershell > completions/_flowsync.ps1
rm -f packaging/man/*.1
"$BIN" manpages packaging/man > /dev/null
"$BIN" init --print-example > packaging/flowsync.toml.example
echo "completions/, packaging/man/ and packaging/flowsync.toml.example regenerated from $BIN"
