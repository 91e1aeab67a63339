#!/usr/bin/env bash
# FlowSync's apt repository: a static tree any web server (or a file: source) can serve, built
# with Debian's own tools (apt-ftparchive for the indices, gpg for the signatures).
#
#   scripts/apt-repo.sh key GNUPGHOME
#       Creates a signing key (Ed25519, no expiry, no passphrase: keep GNUPGHOME offline and
#       backed up) in GNUPGHOME and prints its fingerprint.
#   scripts/apt-repo.sh publish REPO DEB...
#       Adds the packages to REPO/pool (older versions stay, so operators can pin or
#       downgrade; re-publishing a version with other contents is refused), regenerates
#       dists/stable/main/binary-amd64/Packages{,.gz,.xz} and the Release file, signs it
#       (InRelease and Release.gpg), and writes the public keyring (flowsync.gpg for
#       /etc/apt/keyrings/, flowsync.asc) and a deb822 source template (flowsync.sources).
#       The key is FLOWSYNC_APT_KEY (a fingerprint; several, space-separated, sign with each
#       and all go in the keyring: key rotation) in GNUPGHOME; by default the first secret
#       key there.
#
# Needs apt-utils (apt-ftparchive), gpg, gzip and xz. Exit codes: 0 done, 1 a tool failed,
# 2 usage error or a refused publish (the message says which).
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2; }
die() { echo "apt-repo: $*" >&2; exit 2; }
[ $# -ge 1 ] || usage

SUITE=stable
COMPONENT=main
ARCH=amd64

fingerprint() {
  gpg --batch --with-colons --list-secret-keys ${1:+"$1"} 2>/dev/null | awk -F: '$1 == "fpr" { print $10; exit }'
}

case "$1" in
key)
  [ $# -eq 2 ] || usage
  export GNUPGHOME=$2
  mkdir -p "$GNUPGHOME"
  chmod 700 "$GNUPGHOME"
  if [ -n "$(fingerprint)" ]; then die "$GNUPGHOME already holds a secret key ($(fingerprint))"; fi
  gpg --batch --quiet --passphrase '' --pinentry-mode loopback \
    --quick-generate-key "FlowSync apt repository <apt@flowsync.invalid>" ed25519 sign never
  fingerprint
  ;;
publish)
  [ $# -ge 3 ] || usage
  repo=$2
  shift 2
  keys=${FLOWSYNC_APT_KEY:-$(fingerprint)}
  [ -n "$keys" ] || die "no signing key: set FLOWSYNC_APT_KEY (and GNUPGHOME), or create one with '$0 key DIR'"
  fprs=()
  signers=()
  for key in $keys; do
    fpr=$(fingerprint "$key")
    [ -n "$fpr" ] || die "no secret key $key in ${GNUPGHOME:-~/.gnupg}"
    fprs+=("$fpr")
    signers+=(--local-user "$fpr")
  done
  mkdir -p "$repo"
  # pool/main/f/flowsync/, as Debian lays out its archive.
  for deb in "$@"; do
    [ -f "$deb" ] || die "$deb: no such file"
    name=$(dpkg-deb -f "$deb" Package)
    version=$(dpkg-deb -f "$deb" Version)
    arch=$(dpkg-deb -f "$deb" Architecture)
    [ "$arch" = "$ARCH" ] || [ "$arch" = all ] || die "$deb is for $arch; this repository carries $ARCH"
    dir="$repo/pool/$COMPONENT/${name:0:1}/$name"
    file="$dir/${name}_${version}_${arch}.deb"
    mkdir -p "$dir"
    if [ -e "$file" ]; then
      cmp -s "$deb" "$file" || die "$name $version is already published with other contents; give the new build a new version (bump the Debian revision: ${version%-*}-$(( ${version##*-} + 1 )))"
      echo "$name $version: already in the pool"
    else
      cp "$deb" "$file.tmp"
      mv "$file.tmp" "$file"
      echo "$name $version: added to the pool"
    fi
  done
  # The indices, rebuilt from the whole pool, then the signed Release.
  (
    cd "$repo"
    bin="dists/$SUITE/$COMPONENT/binary-$ARCH"
    mkdir -p "$bin"
    apt-ftparchive --arch "$ARCH" packages "pool/$COMPONENT" >"$bin/Packages"
    gzip -9nc "$bin/Packages" >"$bin/Packages.gz"
    xz -9c "$bin/Packages" >"$bin/Packages.xz"
    # apt-ftparchive lists every index under dists/SUITE, the previous Release included.
    rm -f "dists/$SUITE/Release" "dists/$SUITE/InRelease" "dists/$SUITE/Release.gpg"
    apt-ftparchive \
      -o APT::FTPArchive::Release::Origin=FlowSync \
      -o APT::FTPArchive::Release::Label=FlowSync \
      -o APT::FTPArchive::Release::Suite="$SUITE" \
      -o APT::FTPArchive::Release::Codename="$SUITE" \
      -o APT::FTPArchive::Release::Architectures="$ARCH" \
      -o APT::FTPArchive::Release::Components="$COMPONENT" \
      -o APT::FTPArchive::Release::Description="FlowSync video co-working server" \
      release "dists/$SUITE" >"Release.tmp"
    mv "Release.tmp" "dists/$SUITE/Release"
    gpg --batch --yes --quiet "${signers[@]}" --digest-algo SHA512 \
      --clearsign -o "dists/$SUITE/InRelease" "dists/$SUITE/Release"
    gpg --batch --yes --quiet "${signers[@]}" --digest-algo SHA512 \
      --armor --detach-sign -o "dists/$SUITE/Release.gpg" "dists/$SUITE/Release"
    gpg --batch --yes --export "${fprs[@]}" >flowsync.gpg
    gpg --batch --yes --armor --export "${fprs[@]}" >flowsync.asc
    cat >flowsync.sources <<EOF
Types: deb
URIs: https://REPLACE-WITH-THE-REPOSITORY-URL/
Suites: $SUITE
Components: $COMPONENT
Architectures: $ARCH
Signed-By: /etc/apt/keyrings/flowsync.gpg
EOF
  )
  echo "published $(grep -c '^Package:' "$repo/dists/$SUITE/$COMPONENT/binary-$ARCH/Packages") package version(s) in $repo, signed by ${fprs[*]}"
  ;;
*)
  usage
  ;;
esac
