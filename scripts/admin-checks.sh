#!/usr/bin/env bash
# Checks of the admin app (admin/, issue #12): the JSDoc type check against the generated API
# types, the browser tests (scripts/admin-tests/run.mjs) against a debug shopd, and the first
# load's size and time (scripts/admin-tests/first-load.mjs).
#   SHOPD_BIN=target/debug/shopd bash scripts/admin-checks.sh
# Installs what it needs: Debian's chromium, and the pinned npm packages (npm ci) of
# scripts/admin-tests and clients/typescript (typescript) when their node_modules are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

export SHOPD_BIN="${SHOPD_BIN:-target/debug/shopd}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$CHROMIUM" ]; then
  echo "admin-checks: installing chromium (Debian package)"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
[ -d scripts/admin-tests/node_modules ] || (cd scripts/admin-tests && npm ci --no-audit --no-fund)
[ -d clients/typescript/node_modules ] || (cd clients/typescript && npm ci --no-audit --no-fund)

echo "admin-checks: type check (tsc -p admin/tsconfig.json)"
clients/typescript/node_modules/.bin/tsc -p admin/tsconfig.json --noEmit

echo "admin-checks: browser tests with $SHOPD_BIN"
node scripts/admin-tests/run.mjs

echo "admin-checks: first load (printed; FIRST_LOAD_STRICT=true makes a missed goal fail)"
node scripts/admin-tests/first-load.mjs
