#!/usr/bin/env bash
# The checks of the API from outside, against the real binary: the OpenAPI document is linted
# (Redocly, pinned) with 0 errors, and the typed TypeScript client (clients/typescript) must
# match the document, compile under --strict and run its storefront flow. Needs node and npm;
# installs its pinned packages itself.
#
#   scripts/api-checks/run.sh [path/to/shopd]     (default: target/debug/shopd)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${1:-$root/target/debug/shopd}"
[ -x "$bin" ] || { echo "run.sh: no shopd binary at $bin" >&2; exit 2; }
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

started=$SECONDS
(cd "$root/scripts/api-checks" && npm ci --no-audit --no-fund --loglevel=error)
data="$(mktemp -d)"
port=3293
SEED_DEMO=false RATE_LIMIT_ENABLED=false "$bin" serve --data-dir "$data" --host 127.0.0.1 --port "$port" >"$data.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$data" "$data.log"' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.2
done
(cd "$root/scripts/api-checks" \
  && curl -fsS "http://127.0.0.1:$port/api/v1/openapi.json" -o openapi.json \
  && npx redocly lint --max-problems 1000 --format stylish openapi.json)
kill $server; wait $server 2>/dev/null || true

SHOPD_BIN="$bin" bash "$root/clients/typescript/scripts/ci.sh"
echo "api checks passed in $((SECONDS - started)) s"
