#!/usr/bin/env bash
# The .deb under a real systemd: a Debian bookworm root booted with systemd as PID 1
# (systemd-nspawn --boot, private network), where every unit directive and maintainer script
# runs for real. It walks an operator's first week: the signed apt repository
# (scripts/apt-repo.sh, refused without the right key), install from it, init, an HTTPS room,
# doctor as root and as the service user, a second init, reload (applied, refused), a backup
# run by its unit, priorities in the journal, upgrade from the repository, remove, reinstall
# and purge.
#
# Usage (as root): tests/package/systemd.sh [DEB_V1 DEB_V2] — two builds of the package, the
# second a newer version; without them it packages the release binary twice (cargo deb
# --no-build, the second as the next patch release). The
# root is built once with
# debootstrap (Debian's mirror) and cached outside the clone in $FLOWSYNC_SYSTEMD_ROOT
# (default ~/.cache/flowsync/bookworm-systemd); each run boots an overlay of it and throws the
# overlay away. Commands run inside with nsenter into the container's namespaces.
set -euo pipefail
cd "$(dirname "$0")/../.."
# Reproducible packages: the archive's timestamps are the commit's time.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
CACHE=${FLOWSYNC_SYSTEMD_ROOT:-$HOME/.cache/flowsync/bookworm-systemd}
# What the cached root holds; a change here rebuilds it.
PACKAGES="systemd,systemd-sysv,dbus,ca-certificates,curl,openssl,adduser,passwd,procps,iproute2"
STAMP="bookworm minbase $PACKAGES"

fail() {
  printf 'FAIL: %b\n' "$*" >&2
  # FLOWSYNC_SYSTEMD_KEEP=1 keeps the container for a look: nsenter -t <PID 1> -a bash
  if [ -n "${FLOWSYNC_SYSTEMD_KEEP:-}" ] && [ -n "${PID1:-}" ]; then
    echo "keeping the container for 15 minutes: nsenter -t $PID1 -a bash" >&2
    sleep 900
  fi
  exit 1
}
ok() { echo "ok   $*"; }

if [ "$(cat "$CACHE/.flowsync-stamp" 2>/dev/null)" != "$STAMP" ]; then
  echo "building the bookworm root in $CACHE (once; a few minutes)"
  rm -rf "$CACHE.new"
  mkdir -p "$(dirname "$CACHE")"
  debootstrap --variant=minbase --include="$PACKAGES" bookworm "$CACHE.new" \
    http://deb.debian.org/debian >"$CACHE.log" 2>&1 || fail "debootstrap failed; see $CACHE.log"
  # No getty on the console: the test talks to the container through nsenter only.
  ln -sf /dev/null "$CACHE.new/etc/systemd/system/console-getty.service"
  echo "$STAMP" >"$CACHE.new/.flowsync-stamp"
  rm -rf "$CACHE"
  mv "$CACHE.new" "$CACHE"
fi

WORK=$(mktemp -d /tmp/flowsync-systemd.XXXXXX)
ROOT="$WORK/root"
NSPAWN=""
if [ $# -ge 2 ]; then
  DEB1=$(realpath "$1")
  DEB2=$(realpath "$2")
else
  [ -x "${CARGO_TARGET_DIR:-target}/release/flowsync" ] || fail "build the release binary first (scripts/test.sh does)"
  v=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
  DEB1="$WORK/flowsync_1.deb"
  DEB2="$WORK/flowsync_2.deb"
  cargo deb --no-build --no-strip -o "$DEB1" >/dev/null
  # The next release as the repository would carry it: the patch number raised (0.1.0-1 →
  # 0.1.1-1), same binary.
  cargo deb --no-build --no-strip --deb-version "${v%.*}.$(( ${v##*.} + 1 ))-1" -o "$DEB2" >/dev/null
fi
cleanup() {
  if [ -n "$NSPAWN" ]; then
    kill "$NSPAWN" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$NSPAWN" 2>/dev/null || true
  fi
  umount -l "$ROOT" 2>/dev/null || true
  for home in "$WORK/gnupg" "$WORK/gnupg-other"; do
    [ -d "$home" ] && gpgconf --homedir "$home" --kill gpg-agent 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/upper" "$WORK/work" "$ROOT"
mount -t overlay overlay -o "lowerdir=$CACHE,upperdir=$WORK/upper,workdir=$WORK/work" "$ROOT"
cp "$DEB2" "$ROOT/var/tmp/flowsync_2.deb"
echo "127.0.0.1 rooms.lan" >>"$ROOT/etc/hosts"

t0=$(date +%s)
systemd-nspawn -q -D "$ROOT" --boot --register=no --keep-unit --private-network \
  --machine="flowsync-$$" >"$WORK/console.log" 2>&1 &
NSPAWN=$!
PID1=""
for _ in $(seq 100); do
  PID1=$(pgrep -P "$NSPAWN" | head -n 1 || true)
  [ -n "$PID1" ] && [ "$(cat "/proc/$PID1/comm" 2>/dev/null)" = systemd ] && break
  PID1=""
  sleep 0.1
done
[ -n "$PID1" ] || fail "the container did not boot:\n$(cat "$WORK/console.log")"
# Inside the container: its namespaces, a clean environment.
in_ct() {
  nsenter -t "$PID1" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}
# PID 1 answers on its private socket once it has set itself up (up to 2 minutes on a loaded
# machine); then wait for the boot. A failure shows the container's console.
state=""
for _ in $(seq 600); do
  state=$(in_ct systemctl is-system-running 2>/dev/null || true)
  [ -n "$state" ] && break
  kill -0 "$NSPAWN" 2>/dev/null || break
  sleep 0.2
done
[ -z "$state" ] || state=$(in_ct timeout 90 systemctl is-system-running --wait 2>/dev/null || true)
[ "$state" = running ] || fail "the container is ${state:-not answering}:
$(in_ct systemctl --failed --no-legend 2>&1)
console (last 40 lines):
$(tail -n 40 "$WORK/console.log")"
ok "booted a bookworm root with systemd as PID 1 in $(( $(date +%s) - t0 )) s"

main_pid() { in_ct systemctl show -P MainPID flowsync.service; }
# journal lines of a unit since a moment: journal_since MOMENT UNIT [journalctl args]. A
# moment is a microsecond timestamp (journalctl's --after-cursor combined with -p misses
# entries on bookworm's systemd 252).
cursor() { in_ct date +@%s.%6N; }
journal_since() {
  local c=$1 unit=$2; shift 2
  in_ct journalctl -q --no-pager -o cat -u "$unit" --since "$c" "$@" || true
}
version=$(dpkg-deb -f "$DEB1" Version)
version2=$(dpkg-deb -f "$DEB2" Version)

# --- the apt repository: refused without the right key, then installed from ------------------
# The container has no network: Debian's mirror leaves its sources, so `apt-get update` reads
# only FlowSync's repository, a file: source (apt verifies its signature all the same).
in_ct rm -f /etc/apt/sources.list
publish() {
  GNUPGHOME="$WORK/gnupg" bash scripts/apt-repo.sh publish "$WORK/repo" "$@" >/dev/null
  rm -rf "$ROOT/srv/flowsync-apt"
  cp -r "$WORK/repo" "$ROOT/srv/flowsync-apt"
  chmod -R a+rX "$ROOT/srv/flowsync-apt"
}
fpr=$(bash scripts/apt-repo.sh key "$WORK/gnupg")
other=$(bash scripts/apt-repo.sh key "$WORK/gnupg-other")
publish "$DEB1"
in_ct install -d -m 0755 /etc/apt/keyrings
printf '%s\n' "Types: deb" "URIs: file:/srv/flowsync-apt" "Suites: stable" "Components: main" \
  "Signed-By: /etc/apt/keyrings/flowsync.gpg" >"$ROOT/etc/apt/sources.list.d/flowsync.sources"
candidate() { in_ct apt-cache policy flowsync | sed -n 's/^ *Candidate: //p'; }
no_candidate() { local c; c=$(candidate); [ -z "$c" ] || [ "$c" = "(none)" ]; }
# no key at the Signed-By path: refused
if out=$(in_ct apt-get update 2>&1); then fail "apt-get update accepted the repository without its key:\n$out"; fi
no_candidate || fail "a candidate without the key: $(candidate)"
# another key: refused
GNUPGHOME="$WORK/gnupg-other" gpg --batch --export "$other" >"$ROOT/etc/apt/keyrings/flowsync.gpg"
if out=$(in_ct apt-get update 2>&1); then fail "apt-get update accepted a repository signed by another key:\n$out"; fi
grep -qE "NO_PUBKEY|not signed" <<<"$out" || fail "the refusal does not say why:\n$out"
no_candidate || fail "a candidate with the wrong key: $(candidate)"
ok "apt refuses the repository with no key and with another key ($(grep -oE 'NO_PUBKEY [0-9A-F]+|is not signed' <<<"$out" | head -n 1))"
# the published keyring, checked against the fingerprint the operator was given
cp "$WORK/repo/flowsync.gpg" "$ROOT/etc/apt/keyrings/flowsync.gpg"
shown=$(gpg --show-keys --with-colons "$ROOT/etc/apt/keyrings/flowsync.gpg" 2>/dev/null | awk -F: '$1 == "fpr" { print $10; exit }')
[ "$shown" = "$fpr" ] || fail "the keyring holds $shown, not $fpr"
out=$(in_ct apt-get update 2>&1) || fail "apt-get update with the right key:\n$out"
[ "$(candidate)" = "$version" ] || fail "candidate $(candidate), want $version"

# --- install from the repository: nothing starts before init -----------------------------------
out=$(in_ct apt-get install -y flowsync 2>&1) || fail "apt-get install flowsync:\n$out"
grep -q "not configured yet: run 'sudo flowsync init'" <<<"$out" || fail "postinst did not point at init:\n$out"
[ "$(in_ct systemctl is-active flowsync.service || true)" = inactive ] || fail "an unconfigured service runs"
ok "apt-get install flowsync $version from the signed repository (key $fpr): nothing started, postinst points at init"

# --- init: the service runs (Type=notify) and the backup timer is active with a next run --------
out=$(in_ct flowsync init --yes --tls self-signed --domain rooms.lan 2>&1) || fail "init:\n$out"
echo "$out" | sed 's/^/     init: /'
[ "$(in_ct systemctl is-active flowsync.service)" = active ] || fail "flowsync.service is not active after init"
[ "$(in_ct systemctl show -P Type flowsync.service)" = notify ] || fail "flowsync.service is not Type=notify"
[ "$(in_ct systemctl is-active flowsync-backup.timer)" = active ] || fail "flowsync-backup.timer is not active after init"
next=$(in_ct systemctl show -P NextElapseUSecRealtime flowsync-backup.timer)
[ -n "$next" ] || fail "the backup timer has no next run"
[ "$(in_ct stat -c '%U:%G %a' /etc/flowsync/admin-token)" = "root:root 600" ] || fail "admin-token: $(in_ct stat -c '%U:%G %a' /etc/flowsync/admin-token)"
[ "$(in_ct stat -c '%U:%G %a' /etc/flowsync)" = "root:flowsync 750" ] || fail "/etc/flowsync: $(in_ct stat -c '%U:%G %a' /etc/flowsync)"
ok "init: flowsync.service active (notify), backup timer active (next $next), admin-token root:root 0600"

# --- a user outside the flowsync group: an error (exit 2), not the defaults --------------------
set +e
out=$(in_ct sh -c 'cd /tmp && runuser -u nobody -- flowsync rooms list' 2>&1)
code=$?
set -e
[ "$code" = 2 ] || fail "rooms list as nobody exits $code:\n$out"
grep -q "/etc/flowsync/flowsync.toml" <<<"$out" || fail "the error does not name the config file:\n$out"
in_ct test ! -e /tmp/flowsync-data || fail "rooms list as nobody created ./flowsync-data"
ok "unreadable config: exit 2 naming the file, no database made ($(head -c 120 <<<"$out")…)"

# --- an HTTPS room, created and joined with curl against the self-signed certificate ----------
CERT=/var/lib/flowsync/tls/self-signed.crt
in_ct test -f "$CERT" || CERT=$(in_ct sh -c 'ls /var/lib/flowsync/tls/*.crt | head -n 1')
api() { in_ct curl -sS --fail-with-body --cacert "$CERT" -H 'content-type: application/json' "$@"; }
# init --yes sets rooms.create_policy = "link": without the team's create link, no room.
[ "$(in_ct stat -c '%U:%G %a' /etc/flowsync/create-link)" = "root:root 600" ] \
  || fail "create-link: $(in_ct stat -c '%U:%G %a' /etc/flowsync/create-link)"
refused=$(api -X POST https://rooms.lan/api/rooms -d '{"display_name":"Eve"}' 2>&1) \
  && fail "a room was created without the create link: $refused"
grep -q CREATE_NOT_ALLOWED <<<"$refused" || fail "creating without the create link: $refused"
key=$(in_ct sed -n 's/.*#create=//p' /etc/flowsync/create-link)
[ "$key" = "$(in_ct flowsync rooms create-link --json | sed -n 's/.*#create=\([0-9a-f]*\).*/\1/p')" ] \
  || fail "rooms create-link does not show the link init kept"
created=$(api -X POST https://rooms.lan/api/rooms -d "{\"display_name\":\"Ana\",\"name\":\"Week one\",\"create_key\":\"$key\"}") \
  || fail "creating a room over HTTPS with the create link: $created"
room=$(sed -n 's/.*"room_code":"\([A-Z0-9]*\)".*/\1/p' <<<"$created")
[ -n "$room" ] || fail "no room code in: $created"
joined=$(api -X POST "https://rooms.lan/api/rooms/$room/join" -d '{"display_name":"Ben"}') \
  || fail "joining over HTTPS: $joined"
grep -q '"role":"guest"' <<<"$joined" || fail "join: $joined"
ok "HTTPS room $room created with the create link (refused without) and joined with curl (certificate verified)"

# --- doctor as root and as the service user: the same verdicts --------------------------------
doctor_as() {
  local out code
  set +e
  out=$("$@" flowsync doctor --json 2>/dev/null)
  code=$?
  set -e
  echo "$code"
  echo "$out"
}
root_out=$(doctor_as in_ct)
user_out=$(doctor_as in_ct runuser -u flowsync --)
verdicts() {
  tail -n +2 <<<"$1" | python3 -c '
import json, sys
r = json.load(sys.stdin)
for c in r["checks"]:
    print(c["name"], c["status"])'
}
[ "$(head -n 1 <<<"$root_out")" = 0 ] || fail "doctor as root exits $(head -n 1 <<<"$root_out"):\n$root_out"
[ "$(head -n 1 <<<"$user_out")" = 0 ] || fail "doctor as flowsync exits $(head -n 1 <<<"$user_out"):\n$user_out"
diff <(verdicts "$root_out") <(verdicts "$user_out") >"$WORK/doctor.diff" \
  || fail "doctor differs between root and flowsync:\n$(cat "$WORK/doctor.diff")"
for check in ports open-files systemd; do
  grep -qx "$check ok" <(verdicts "$root_out") || fail "doctor's $check check is not ok:\n$(verdicts "$root_out")"
done
ok "doctor exit 0 as root and as flowsync, same verdicts ($(verdicts "$root_out" | grep -c ' ok$') ok)"

# --- a second init with the same answers changes nothing and restarts nothing ------------------
pid=$(main_pid)
out=$(in_ct flowsync init --yes --tls self-signed --domain rooms.lan 2>&1) || fail "second init:\n$out"
if grep -E '^done ' <<<"$out"; then fail "a second init did something:\n$out"; fi
[ "$(main_pid)" = "$pid" ] || fail "a second init restarted the service"
ok "second init: nothing done, service not restarted (pid $pid)"

# --- reload: applied in place, synchronous, nothing else reported; an invalid file fails -----
c=$(cursor)
in_ct sed -i 's/^# level = .*/level = "debug"/' /etc/flowsync/flowsync.toml
grep -q '^level = "debug"' "$ROOT/etc/flowsync/flowsync.toml" || fail "no log.level line to change"
in_ct systemctl reload flowsync.service || fail "systemctl reload failed"
[ "$(main_pid)" = "$pid" ] || fail "reload changed the PID"
log=$(journal_since "$c" flowsync.service)
grep -q 'configuration reloaded.*log.level' <<<"$log" || fail "reload did not apply log.level (synchronously):\n$log"
if grep -q 'only after a restart' <<<"$log"; then fail "reload warned about keys nobody changed:\n$log"; fi
c=$(cursor)
cp "$ROOT/etc/flowsync/flowsync.toml" "$WORK/good.toml"
echo 'this is = = not toml' >>"$ROOT/etc/flowsync/flowsync.toml"
if in_ct systemctl reload flowsync.service 2>"$WORK/reload.err"; then fail "systemctl reload accepted an invalid config"; fi
[ "$(main_pid)" = "$pid" ] || fail "an invalid reload stopped the server"
in_ct systemctl is-active --quiet flowsync.service || fail "an invalid reload left the service inactive"
cp "$WORK/good.toml" "$ROOT/etc/flowsync/flowsync.toml"
# journald reads the reload command's stderr asynchronously: give it a moment.
for _ in $(seq 50); do
  warnings=$(journal_since "$c" flowsync.service -p warning)
  grep -q 'flowsync.toml' <<<"$warnings" && break
  sleep 0.1
done
grep -q 'flowsync.toml' <<<"$warnings" || fail "the refused reload is not in journalctl -p warning:\n$warnings\nall lines:\n$(journal_since "$c" flowsync.service)"
if journal_since "$c" flowsync.service | grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T'; then
  fail "journal lines carry their own timestamp"
fi
ok "reload: same pid, log.level applied before systemctl returned, no restart warning; invalid file: reload fails, reason in journalctl -p warning"

# --- the backup unit writes a verified archive owned by flowsync --------------------------------
# An administrator's backup as root comes first, and then the lock file is made root's and
# unwritable to others: the unit, running as flowsync, must still take the lock.
in_ct sh -c 'umask 022 && flowsync backup' >/dev/null || fail "a backup as root failed"
lock_owner=$(in_ct stat -c '%U:%G' /var/lib/flowsync/.backup.lock)
[ "$lock_owner" = "flowsync:flowsync" ] || fail "root's backup left its lock file as $lock_owner"
in_ct sh -c 'chown root:root /var/lib/flowsync/.backup.lock && chmod 0644 /var/lib/flowsync/.backup.lock'
in_ct systemctl start flowsync-backup.service || fail "flowsync-backup.service failed:\n$(in_ct journalctl -q -o cat -u flowsync-backup -n 20)"
archive=$(in_ct sh -c 'ls -t /var/backups/flowsync/*.tar* 2>/dev/null | head -n 1')
[ -n "$archive" ] || fail "no archive in /var/backups/flowsync"
[ "$(in_ct stat -c '%U:%G' "$archive")" = "flowsync:flowsync" ] || fail "archive owner: $(in_ct stat -c '%U:%G' "$archive")"
in_ct flowsync backup verify "$archive" >/dev/null || fail "the archive does not verify"
backup_check=$(in_ct flowsync doctor --run backup 2>&1 || true)
grep -qE '^OK +backup' <<<"$backup_check" || fail "doctor's backup check after the run:\n$backup_check"
ok "backup unit: $(basename "$archive") owned by flowsync, verifies, after a backup as root and with root's lock file"

# --- upgrade from the repository: one restart, data kept ----------------------------------------
publish "$DEB2"
# A version is published once: other bytes under a published version are refused.
SOURCE_DATE_EPOCH=1 cargo deb --no-build --no-strip --deb-version "$version" -o "$WORK/again.deb" >/dev/null
set +e
out=$(GNUPGHOME="$WORK/gnupg" bash scripts/apt-repo.sh publish "$WORK/repo" "$WORK/again.deb" 2>&1)
rc=$?
set -e
[ "$rc" = 2 ] && grep -q "already published with other contents" <<<"$out" || fail "republishing $version with other contents: exit $rc\n$out"
in_ct apt-get update -qq >/dev/null 2>&1 || fail "apt-get update after publishing $version2"
versions=$(in_ct apt-cache madison flowsync | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | sort | tr '\n' ' ')
[ "$versions" = "$(printf '%s\n' "$version" "$version2" | sort | tr '\n' ' ')" ] || fail "the repository offers: $versions"
in_ct apt list --upgradable 2>/dev/null | grep -q "^flowsync/stable .*$version2" || fail "apt list --upgradable does not offer $version2"
c=$(cursor)
out=$(in_ct apt-get upgrade -y 2>&1) || fail "apt-get upgrade:\n$out"
[ "$(in_ct dpkg-query -W -f '${Version}' flowsync)" = "$version2" ] || fail "not upgraded"
in_ct systemctl is-active --quiet flowsync.service || fail "not running after the upgrade"
starts=$(journal_since "$c" flowsync.service | grep -c '^Started flowsync.service' || true)
stops=$(journal_since "$c" flowsync.service | grep -c '^Stopping flowsync.service' || true)
[ "$starts" = 1 ] && [ "$stops" = 1 ] || fail "the upgrade stopped $stops and started $starts times:\n$(journal_since "$c" flowsync.service)"
got=$(api "https://rooms.lan/api/rooms/$room" 2>&1) || fail "the room is gone after the upgrade: $got\n$(journal_since "$c" flowsync.service)"
ok "apt-get upgrade to $version2 (the pool keeps $version): restarted exactly once, room $room kept"

# --- remove, then reinstall: the running service comes back ------------------------------------
in_ct apt-get remove -y flowsync >/dev/null 2>&1 || fail "apt-get remove"
[ "$(in_ct systemctl is-active flowsync.service || true)" != active ] || fail "still running after remove"
# The reinstall is from the .deb file, as an operator without the repository does it.
out=$(in_ct apt-get install -y /var/tmp/flowsync_2.deb 2>&1) || fail "reinstall:\n$out"
in_ct systemctl is-active --quiet flowsync.service || fail "reinstall left the service stopped:\n$out"
in_ct systemctl is-active --quiet flowsync-backup.timer || fail "reinstall left the timer stopped"
api "https://rooms.lan/api/rooms/$room" >/dev/null || fail "the room is gone after remove/reinstall"
ok "remove stops the service; reinstall starts it again and keeps the data"

# --- purge: as documented, no stray output ------------------------------------------------------
out=$(in_ct apt-get purge -y flowsync 2>&1) || fail "purge:\n$out"
if grep -Eiq 'crontab|warning|error' <<<"$out"; then fail "stray output from purge:\n$out"; fi
grep -q "kept your backups" <<<"$out" || fail "purge did not say the backups were kept:\n$out"
if in_ct getent passwd flowsync >/dev/null; then fail "the flowsync user is still there"; fi
in_ct test ! -e /etc/flowsync -a ! -e /var/lib/flowsync || fail "config or data left after purge"
[ "$(in_ct stat -c '%U:%G %a' /var/backups/flowsync)" = "root:root 700" ] || fail "backup dir after purge"
left=$(in_ct find /var/backups/flowsync -not -user root)
[ -z "$left" ] || fail "archives still owned by the deleted account: $left"
in_ct test ! -e /var/lib/systemd/timers/stamp-flowsync-backup.timer || fail "the timer's stamp file is left"
ok "purge: user, config and data gone; archives root's; no stamp file; no stray output"
echo "booted-systemd package tests passed in $(( $(date +%s) - t0 )) s"
