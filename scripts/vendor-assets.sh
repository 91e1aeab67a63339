#!/usr/bin/env bash
# vendor-assets.sh: refreshes the third-party browser code FlowSync embeds (no CDN: the pages'
# Content-Security-Policy allows only this origin). Today that is the official socket.io-client
# ESM build, copied unchanged from the npm package into assets/vendor/socket.io-client/.
#
#   scripts/vendor-assets.sh            # socket.io-client 4.8.1
#   scripts/vendor-assets.sh 4.8.2      # another version
#
# Needs npm and tar, and access to the npm registry. Review `git diff assets/vendor` afterwards,
# and keep the version in line with tests/protocol/package.json (the protocol tests' client).
set -euo pipefail

VERSION="${1:-4.8.1}"
if [[ ! "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-.][0-9A-Za-z.]+)?$ ]]; then
  echo "vendor-assets.sh: '$VERSION' is not a version number (expected e.g. 4.8.1)" >&2
  exit 2
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/assets/vendor/socket.io-client"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "fetching socket.io-client@$VERSION from the npm registry…"
TARBALL="$(cd "$WORK" && npm pack --silent "socket.io-client@$VERSION" | tail -n 1)"
tar -xzf "$WORK/$TARBALL" -C "$WORK"
PKG="$WORK/package"

BUNDLE="$PKG/dist/socket.io.esm.min.js"
if [[ ! -f "$BUNDLE" ]]; then
  echo "vendor-assets.sh: $TARBALL has no dist/socket.io.esm.min.js" >&2
  exit 1
fi
# room.js does `import { io } from ".../socket.io.esm.min.js"`: refuse a build without that export.
if ! tail -c 2000 "$BUNDLE" | grep -Eq 'export ?\{[^}]*[ ,]io[ ,}]|as io[ ,}]'; then
  echo "vendor-assets.sh: the bundle does not appear to export 'io'; check assets/room.js's import" >&2
  exit 1
fi

mkdir -p "$DEST"
cp "$BUNDLE" "$DEST/socket.io.esm.min.js"
[ -f "$BUNDLE.map" ] && cp "$BUNDLE.map" "$DEST/socket.io.esm.min.js.map"
if [[ -f "$PKG/LICENSE" ]]; then
  cp "$PKG/LICENSE" "$DEST/LICENSE"
else
  echo "vendor-assets.sh: warning: the package has no LICENSE file; keeping the existing one" >&2
fi

SHA256="$(sha256sum "$DEST/socket.io.esm.min.js" | cut -d' ' -f1)"
cat > "$DEST/README.md" <<NOTE
# socket.io-client (vendored)

- Version: $VERSION
- Source: npm \`socket.io-client@$VERSION\`, file \`dist/socket.io.esm.min.js\` (unmodified)
- SHA-256 of \`socket.io.esm.min.js\`: \`$SHA256\`
- Licence: MIT (see \`LICENSE\`), Copyright (c) 2014-present Guillermo Rauch and Socket.IO contributors

The room page imports it as a module (\`import { io } from
"/assets/vendor/socket.io-client/socket.io.esm.min.js"\`); it is embedded in the binary with the
rest of \`assets/\`, since the pages' Content-Security-Policy allows no CDN. The source map the
bundle names is not vendored.

## Refreshing

Run \`scripts/vendor-assets.sh [VERSION]\` from the repository (default 4.8.1). It runs
\`npm pack socket.io-client@VERSION\` in a temporary directory, copies
\`dist/socket.io.esm.min.js\` and \`LICENSE\` here and rewrites this note. Keep the version in
line with \`tests/protocol/package.json\`, which pins the client the protocol tests use.
NOTE

echo "vendored socket.io-client@$VERSION into ${DEST#"$ROOT"/} (sha256 $SHA256)"
