#!/usr/bin/env bash
# RustSec audit of Cargo.lock with cargo-audit, offline. The advisories come from a checkout of
# github.com/rustsec/advisory-db named by FLOWSYNC_ADVISORY_DB or, by default, from the snapshot
# in .ci/advisory-db/: the advisories of every crate in Cargo.lock, with the upstream commit they
# were taken from (SOURCE) and the crate names they cover (CRATES). An advisory FlowSync accepted
# would be an --ignore below with its reason in docs/security.md; today none applies.
#
#   scripts/audit.sh                check: exit 1 on a vulnerability, or an unsound, unmaintained
#                                   or yanked crate that is not accepted; exit 2 when the snapshot
#                                   does not cover a crate in Cargo.lock (refresh it)
#   scripts/audit.sh refresh [DB]   rebuild the snapshot from DB (a checkout), or from a fresh
#                                   clone of github.com/rustsec/advisory-db
set -euo pipefail
cd "$(dirname "$0")/.."
SNAPSHOT=.ci/advisory-db
CARGO_AUDIT_VERSION=0.22.2

lock_crates() {
  sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.lock | sort -u
}

ensure_cargo_audit() {
  if cargo audit --version 2>/dev/null | grep -q "$CARGO_AUDIT_VERSION"; then return; fi
  cargo install cargo-audit --version "=$CARGO_AUDIT_VERSION" --locked --no-default-features --quiet
}

refresh() {
  local db=${1:-}
  local tmp=""
  if [ -z "$db" ]; then
    tmp=$(mktemp -d)
    git clone --quiet --depth 1 https://github.com/rustsec/advisory-db "$tmp/advisory-db"
    db="$tmp/advisory-db"
  fi
  [ -d "$db/crates" ] || { echo "error: $db has no crates/ directory: not an advisory-db checkout" >&2; exit 2; }
  rm -rf "$SNAPSHOT"
  mkdir -p "$SNAPSHOT/crates"
  local n=0
  while read -r name; do
    if [ -d "$db/crates/$name" ]; then
      cp -r "$db/crates/$name" "$SNAPSHOT/crates/"
      n=$((n + 1))
    fi
  done < <(lock_crates)
  lock_crates > "$SNAPSHOT/CRATES"
  {
    echo "# The advisory-db commit this snapshot was taken from, and its date. The advisories are"
    echo "# RustSec's (github.com/rustsec/advisory-db), dedicated to the public domain (CC0 1.0)."
    git -C "$db" log -1 --format='commit %H%ndate %cI' 2>/dev/null || echo "commit unknown"
  } > "$SNAPSHOT/SOURCE"
  [ -n "$tmp" ] && rm -rf "$tmp"
  echo "snapshot: advisories of $n of $(wc -l < "$SNAPSHOT/CRATES") crates, from $(sed -n 's/^date //p' "$SNAPSHOT/SOURCE")"
}

check() {
  local db=${FLOWSYNC_ADVISORY_DB:-$SNAPSHOT}
  if [ "$db" = "$SNAPSHOT" ]; then
    local missing
    missing=$(comm -23 <(lock_crates) <(sort -u "$SNAPSHOT/CRATES"))
    if [ -n "$missing" ]; then
      echo "error: Cargo.lock has crates the advisory snapshot never looked at: $(echo "$missing" | tr '\n' ' ')" >&2
      echo "refresh it with network access: scripts/audit.sh refresh (or point FLOWSYNC_ADVISORY_DB at an advisory-db checkout)" >&2
      exit 2
    fi
    local date
    date=$(sed -n 's/^date //p' "$SNAPSHOT/SOURCE")
    echo "advisories: the snapshot of $date in $SNAPSHOT (scripts/audit.sh refresh updates it)"
  else
    echo "advisories: $db"
  fi
  ensure_cargo_audit
  # --stale: a snapshot is as old as its commit; --no-fetch: no network at test time.
  cargo audit --db "$db" --no-fetch --stale --deny warnings
}

case "${1:-check}" in
  check) check ;;
  refresh) shift; refresh "${1:-}" ;;
  *) echo "usage: scripts/audit.sh [check | refresh [ADVISORY_DB]]" >&2; exit 2 ;;
esac
