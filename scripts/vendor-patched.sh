#!/usr/bin/env bash
# Rebuilds vendor/: the published source of each crate FlowSync patches, unpacked from the exact
# `.crate` in cargo's download cache (the version Cargo.lock names; cargo checks the archive
# against the registry's checksum when it downloads it), with docs/upstream/<crate>-NNNN-*.patch
# applied in order. Cargo.toml's [patch.crates-io] points at these directories.
#
#   scripts/vendor-patched.sh           rewrite vendor/ (after changing a patch or a version)
#   scripts/vendor-patched.sh --check   exit 1 if vendor/ differs from published source + patches
#
# Why these patches ship, what each saves and what it costs: docs/performance.md → "Patched
# dependencies". Each patch file starts with its own explanation and measurements.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-write}
case "$mode" in write|--check) ;; *) echo "usage: $0 [--check]" >&2; exit 2 ;; esac

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
registry=${CARGO_HOME:-$HOME/.cargo}/registry/cache

# Cargo.lock names one version of each patched crate (the vendored copy, without a source).
crates=$(ls docs/upstream/*.patch | sed 's|.*/||; s|-[0-9]\{4\}-.*||' | sort -u)
for crate in $crates; do
  version=$(grep -A1 "^name = \"$crate\"\$" Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p' | head -n 1)
  [ -n "$version" ] || { echo "$crate is not in Cargo.lock" >&2; exit 1; }
  archive=$(ls "$registry"/*/"$crate-$version.crate" 2>/dev/null | head -n 1 || true)
  if [ -z "$archive" ]; then
    # Not downloaded yet on this machine: fetch exactly that version into cargo's cache.
    tmp=$(mktemp -d)
    (cd "$tmp" && cargo init -q --name fetch-only && cargo add -q "$crate@=$version" && cargo fetch -q)
    rm -rf "$tmp"
    archive=$(ls "$registry"/*/"$crate-$version.crate" | head -n 1)
  fi
  tar -xzf "$archive" -C "$out"
  for p in docs/upstream/"$crate"-[0-9]*.patch; do
    [ "$mode" = write ] && echo "applying $p to $crate $version"
    patch --quiet --no-backup-if-mismatch -d "$out/$crate-$version" -p1 < "$p"
  done
  # Cargo marks unpacked registry sources with this file; it does not belong to the source.
  rm -f "$out/$crate-$version/.cargo-ok"
done

if [ "$mode" = --check ]; then
  if diff -r vendor "$out" > /dev/null; then
    echo "vendor/ is the published source of $(echo $crates | tr ' ' ',') with docs/upstream/*.patch applied"
    exit 0
  fi
  diff -r vendor "$out" | head -n 40 >&2
  echo "vendor/ differs from the published crates with docs/upstream/*.patch applied; run scripts/vendor-patched.sh" >&2
  exit 1
fi
rm -rf vendor
mkdir -p vendor
cp -a "$out"/. vendor/
echo "vendor/ rewritten: $(ls vendor | tr '\n' ' ')"
