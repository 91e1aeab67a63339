#!/usr/bin/env bash
# The .deb, end to end. Packages the release binary scripts/test.sh already built (cargo deb
# --no-build, twice: the upgrade re-packages the same binary with a bumped --deb-version),
# checks metadata and contents, runs lintian, then installs into a throwaway root and checks
# what exists after install, init, doctor, upgrade, remove and purge on a host where systemd
# is not running (containers, chroots): the maintainer scripts must start nothing there, and
# serve must run as the flowsync user with its one capability.
#
# The throwaway root is an overlay of this host's / (writes land in a temp dir), entered with
# chroot: dpkg, adduser and the maintainer scripts run for real, and the host is untouched.
# What systemd itself does with the units and scripts is tests/package/systemd.sh's part (a
# booted container). Needs root (mount, chroot).
set -euo pipefail
cd "$(dirname "$0")/../.."
# Reproducible packages: the archive's timestamps are the commit's time.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
TARGET=${CARGO_TARGET_DIR:-target}
BIN="$TARGET/release/flowsync"
[ -x "$BIN" ] || { echo "build the release binary first (scripts/test.sh does)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/flowsync-deb.XXXXXX)
ROOT="$WORK/root"
MOUNTED=()
cleanup() {
  if [ -n "${SERVE:-}" ]; then kill "$SERVE" 2>/dev/null || true; fi
  for ((i=${#MOUNTED[@]}-1; i>=0; i--)); do umount -l "${MOUNTED[$i]}" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok   $*"; }
in_root() { chroot "$ROOT" "$@"; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
cargo deb --no-build --no-strip -o "$WORK/flowsync_1.deb" >/dev/null
cargo deb --no-build --no-strip --deb-version "$version-2" -o "$WORK/flowsync_2.deb" >/dev/null
DEB="$WORK/flowsync_1.deb"

# --- metadata and contents -------------------------------------------------------------------
info=$(dpkg-deb -I "$DEB")
for want in "Package: flowsync" "Version: $version-1" "Section: net" "Priority: optional" "adduser" \
  "Recommends: ca-certificates" "Suggests: postgresql, redis-server"; do
  grep -q "$want" <<<"$info" || fail "control lacks '$want':\n$info"
done
# PostgreSQL and Redis are optional: never pulled in by Depends or Recommends.
if grep -E '^ (Depends|Recommends):.*(postgres|redis)' <<<"$info"; then fail "postgresql/redis must only be suggested"; fi
ok "control: $(grep -E '^ (Version|Depends|Recommends|Suggests):' <<<"$info" | tr -s ' ' | tr '\n' ' ')"
# Every release has its changelog entry: the newest one is this version's first revision.
top=$(sed -n '1s/^flowsync (\([^)]*\)).*/\1/p' packaging/changelog)
[ "$top" = "$version-1" ] || fail "packaging/changelog's newest entry is $top; a release of $version needs a '$version-1' entry"
# The same binary packages to the same bytes (cargo-deb takes timestamps from SOURCE_DATE_EPOCH).
cargo deb --no-build --no-strip -o "$WORK/again.deb" >/dev/null
cmp -s "$DEB" "$WORK/again.deb" || fail "packaging the same binary twice gave different .deb files"
ok "changelog entry $top; packaging is reproducible ($(sha256sum "$DEB" | cut -c1-16)…)"
contents=$(dpkg-deb -c "$DEB" | awk '{print $6}')
for path in ./usr/bin/flowsync \
  ./usr/share/bash-completion/completions/flowsync \
  ./usr/share/zsh/vendor-completions/_flowsync \
  ./usr/share/fish/vendor_completions.d/flowsync.fish \
  ./usr/share/man/man1/flowsync.1.gz ./usr/share/man/man1/flowsync-init.1.gz \
  ./usr/share/doc/flowsync/examples/flowsync.toml \
  ./usr/share/doc/flowsync/copyright ./usr/share/doc/flowsync/changelog.Debian.gz; do
  grep -qx "$path" <<<"$contents" || fail "the package lacks $path"
done
units=$(grep -E '/systemd/system/flowsync(-backup)?\.(service|timer)$' <<<"$contents" | wc -l)
[ "$units" = 3 ] || fail "expected 3 units, found: $(grep systemd <<<"$contents")"
if grep -q '^\./etc/' <<<"$contents"; then fail "nothing may be installed in /etc"; fi
if grep -E '/man1/.*\.1$' <<<"$contents"; then fail "man pages must be gzipped"; fi
ok "contents: binary, 3 units, completions, $(grep -c '/man1/' <<<"$contents") man pages, example config, nothing in /etc"

# --- lintian: no errors; every warning is listed (and justified) in packaging/README.md -----
lint=$(lintian --tag-display-limit 0 "$DEB" 2>&1 || true)
if grep -q '^E:' <<<"$lint"; then fail "lintian errors:\n$lint"; fi
while read -r line; do
  [ -z "$line" ] && continue
  tag=$(awk '{print $3}' <<<"$line")
  grep -q "\`$tag\`" packaging/README.md || fail "lintian warning not justified in packaging/README.md: $line"
done < <(grep '^W:' <<<"$lint" || true)
ok "lintian: no errors, $(grep -c '^W:' <<<"$lint" || true) justified warning(s)"

# --- the throwaway root ----------------------------------------------------------------------
mkdir -p "$WORK/upper" "$WORK/work" "$ROOT"
mount -t overlay overlay -o "lowerdir=/,upperdir=$WORK/upper,workdir=$WORK/work" "$ROOT"
MOUNTED+=("$ROOT")
mount -t proc proc "$ROOT/proc"; MOUNTED+=("$ROOT/proc")
mount --bind /dev "$ROOT/dev"; MOUNTED+=("$ROOT/dev")
mount -t tmpfs tmpfs "$ROOT/tmp"; MOUNTED+=("$ROOT/tmp")
mount -t tmpfs tmpfs "$ROOT/run"; MOUNTED+=("$ROOT/run")
cp "$WORK"/flowsync_*.deb "$ROOT/tmp/"
in_root sh -c 'getent passwd flowsync' && fail "the host root already has a flowsync user"

# install
out=$(in_root dpkg -i /tmp/flowsync_1.deb 2>&1) || fail "dpkg -i failed:\n$out"
grep -q "not configured yet: run 'sudo flowsync init'" <<<"$out" || fail "postinst did not point at init:\n$out"
in_root getent passwd flowsync >/dev/null || fail "no flowsync user after install"
[ "$(in_root stat -c '%U:%G %a' /var/lib/flowsync)" = "flowsync:flowsync 750" ] || fail "data dir owner/mode"
[ "$(in_root stat -c '%U:%G %a' /etc/flowsync)" = "root:flowsync 750" ] || fail "config dir owner/mode"
[ ! -e "$ROOT/etc/flowsync/flowsync.toml" ] || fail "the package must not write the config"
[ "$(in_root flowsync --version)" = "flowsync $version" ] || fail "flowsync --version"
ok "install: user and directories made, nothing started, $(in_root flowsync --version)"
# reinstalling the same version is idempotent
in_root dpkg -i /tmp/flowsync_1.deb >/dev/null 2>&1 || fail "reinstall failed"

# init, then doctor with serve running as the flowsync user (as on a host without systemd)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP=$(port); HTTPS=$(port)
out=$(in_root flowsync init --yes --no-systemd --no-start --tls self-signed --domain localhost \
  --http-listen "127.0.0.1:$HTTP" --https-listen "127.0.0.1:$HTTPS" 2>&1) || fail "init failed:\n$out"
[ "$(in_root stat -c '%U:%G %a' /etc/flowsync/flowsync.toml)" = "root:flowsync 640" ] || fail "config owner/mode"
[ "$(in_root stat -c '%U' /var/lib/flowsync/flowsync.db)" = "flowsync" ] || fail "the database belongs to flowsync"
ok "init: config root:flowsync 0640, database owned by flowsync"
# chroot directly (not the in_root function) so $! is the server itself.
chroot "$ROOT" setpriv --reuid=flowsync --regid=flowsync --init-groups --no-new-privs \
  flowsync --config /etc/flowsync/flowsync.toml serve >"$WORK/serve.log" 2>&1 &
SERVE=$!
for _ in $(seq 100); do grep -q "url=" "$WORK/serve.log" && break; sleep 0.1; done
grep -q "url=" "$WORK/serve.log" || fail "serve as flowsync did not start:\n$(cat "$WORK/serve.log")"
set +e
in_root flowsync doctor --json > "$WORK/doctor.json"
code=$?
set -e
kill "$SERVE"; wait "$SERVE" 2>/dev/null || true
python3 - "$code" "$WORK/doctor.json" <<'EOF' || fail "doctor in the installed root:\n$(cat "$WORK/doctor.json")"
import json, sys
r = json.load(open(sys.argv[2]))
bad = [c for c in r["checks"] if c["status"] not in ("ok", "skip")]
assert int(sys.argv[1]) == 0 and not bad, bad
for name in ("config", "data-dir", "ownership", "database", "migrations", "certificate", "ports", "server"):
    assert next(c for c in r["checks"] if c["name"] == name)["status"] == "ok", name
EOF
ok "doctor --json in the installed root: exit 0, every check ok or skip"

# least privilege: as flowsync, binding port 80 needs CAP_NET_BIND_SERVICE (the unit's only
# ambient capability), and with it serve starts.
if ! python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",80))' 2>/dev/null; then
  echo "skip capability check: port 80 is busy here"
else
  caps() {
    chroot "$ROOT" setpriv --reuid=flowsync --regid=flowsync --init-groups "$@" \
      env FLOWSYNC_SERVER__HTTP_LISTEN=127.0.0.1:80 FLOWSYNC_TLS__MODE=off \
      flowsync --config /etc/flowsync/flowsync.toml serve >"$WORK/caps.log" 2>&1 &
    local pid=$!
    for _ in $(seq 50); do grep -qE "url=|error" "$WORK/caps.log" && break; sleep 0.1; done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  }
  caps --inh-caps=-all
  grep -q "url=" "$WORK/caps.log" && fail "port 80 was bound without the capability"
  caps --inh-caps=+net_bind_service --ambient-caps=+net_bind_service --bounding-set=-all,+net_bind_service
  grep -q "url=" "$WORK/caps.log" || fail "serve could not bind port 80 with CAP_NET_BIND_SERVICE:\n$(cat "$WORK/caps.log")"
  ok "capabilities: port 80 refused without CAP_NET_BIND_SERVICE, bound with it alone"
fi

# upgrade: config, secrets and data stay
sum=$(sha256sum "$ROOT/etc/flowsync/flowsync.toml")
in_root dpkg -i /tmp/flowsync_2.deb >/dev/null 2>&1 || fail "upgrade failed"
[ "$(in_root dpkg-query -W -f '${Version}' flowsync)" = "$version-2" ] || fail "upgraded version"
[ "$(sha256sum "$ROOT/etc/flowsync/flowsync.toml")" = "$sum" ] || fail "the upgrade changed the config"
[ -f "$ROOT/var/lib/flowsync/flowsync.db" ] || fail "the upgrade lost the database"
ok "upgrade to $version-2: config and data kept"

# remove: binary gone, config and data kept
in_root dpkg -r flowsync >/dev/null 2>&1 || fail "dpkg -r failed"
[ ! -e "$ROOT/usr/bin/flowsync" ] || fail "the binary is still there after remove"
[ -f "$ROOT/etc/flowsync/flowsync.toml" ] && [ -d "$ROOT/var/lib/flowsync" ] || fail "remove must keep config and data"
in_root getent passwd flowsync >/dev/null || fail "remove must keep the user"
ok "remove: binary gone; config, data and user kept"

# purge: config, data and user gone; backups kept
out=$(in_root dpkg -P flowsync 2>&1) || fail "dpkg -P failed:\n$out"
echo "$out" | sed "s/^/     purge: /"
[ ! -e "$ROOT/etc/flowsync" ] && [ ! -e "$ROOT/var/lib/flowsync" ] || fail "purge must remove config and data"
if in_root getent passwd flowsync >/dev/null; then fail "purge must remove the user"; fi
[ -d "$ROOT/var/backups/flowsync" ] || fail "purge must keep the backups"
[ "$(stat -c '%U:%G %a' "$ROOT/var/backups/flowsync")" = "root:root 700" ] || fail "kept backups must be root's alone"
grep -q "kept your backups" <<<"$out" || fail "purge did not say the backups were kept:\n$out"
ok "purge: config, data and user removed; backups kept"
echo "package tests passed"
