#!/usr/bin/env bash
# Builds `flowsync` and the bare socketioxide baseline with the dependency changes FlowSync
# proposes upstream (docs/upstream/*.patch) applied, to measure them, e.g.:
#
#   scripts/build-upstream.sh
#   FLOWSYNC_BIN=$HOME/.cache/flowsync/target-upstream/release/flowsync DURATION=60s scripts/bench.sh idle
#
# The patches apply to the crate versions in Cargo.lock, unpacked from cargo's download cache.
# The build runs on a copy of this checkout's committed files under $TMPDIR (Cargo.lock here is
# not touched) into UPSTREAM_TARGET (default ~/.cache/flowsync/target-upstream). Nothing here
# ships: the release build uses the published crates.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${UPSTREAM_TARGET:-$HOME/.cache/flowsync/target-upstream}
work=${TMPDIR:-/tmp}/flowsync-upstream
cargo fetch --locked > /dev/null
rm -rf "$work/flowsync" "$work/crates"
mkdir -p "$work/flowsync" "$work/crates"
git archive HEAD | tar -x -C "$work/flowsync"
patch_args=()
for crate in $(ls docs/upstream/*.patch | sed 's|.*/||; s|-[0-9]\{4\}-.*||' | sort -u); do
  version=$(grep -A1 "^name = \"$crate\"\$" Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
  archive=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$crate-$version.crate" | head -n 1)
  tar -xzf "$archive" -C "$work/crates"
  for p in docs/upstream/"$crate"-[0-9]*.patch; do
    echo "applying $p to $crate $version"
    patch --quiet -d "$work/crates/$crate-$version" -p1 < "$p"
  done
  patch_args+=(--config "patch.crates-io.$crate.path=\"$work/crates/$crate-$version\"")
done
cd "$work/flowsync"
CARGO_TARGET_DIR=$target cargo build --release --bin flowsync --example bare_socketioxide "${patch_args[@]}"
echo "built $target/release/flowsync and $target/release/examples/bare_socketioxide"
