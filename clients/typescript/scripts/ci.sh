#!/usr/bin/env bash
# The TypeScript client check as CI runs it: install, start a shopd on a fresh data dir, check that
# the committed types are what its document generates, typecheck, run the storefront flow, stop it.
#
#   SHOPD_BIN=../../target/debug/shopd bash scripts/ci.sh      (from clients/typescript)
#
# SHOPD_BIN: the server binary (default ../../target/debug/shopd, as `cargo build` leaves it).
# PORT: where it listens (default 3291).
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${SHOPD_BIN:-../../target/debug/shopd}"
port="${PORT:-3291}"
base="http://127.0.0.1:${port}"
[ -x "$bin" ] || { echo "ci.sh: no shopd binary at $bin (set SHOPD_BIN)" >&2; exit 2; }

data="$(mktemp -d)"
log="$data.log"
SEED_DEMO=true RATE_LIMIT_ENABLED=false "$bin" serve --data-dir "$data" --host 127.0.0.1 --port "$port" >"$log" 2>&1 &
server=$!
stop() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$data" "$log"
}
trap stop EXIT

npm ci --no-audit --no-fund

for _ in $(seq 1 100); do
  curl -fsS "$base/health" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "ci.sh: shopd exited:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.2
done
curl -fsS "$base/health" >/dev/null || { echo "ci.sh: shopd did not answer /health" >&2; cat "$log" >&2; exit 1; }

SPEC="$base/api/v1/openapi.json" npm run gen:check
npm run typecheck
npm run check:casts
BASE_URL="$base" npm run flow
