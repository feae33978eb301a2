#!/usr/bin/env bash
# The checks of the API from outside, against the real binary: the OpenAPI document is linted
# (Redocly, pinned) with 0 errors; Schemathesis (pinned) runs every check against it as a
# customer and as an admin; and the typed TypeScript client (clients/typescript) must match the
# document, compile under --strict and run its storefront flow. Needs node, npm and python3;
# installs its pinned packages itself (the Python ones into target/api-checks-venv).
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
SEED_DEMO=true RATE_LIMIT_ENABLED=false "$bin" serve --data-dir "$data" --host 127.0.0.1 --port "$port" >"$data.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$data" "$data.log"' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.2
done
(cd "$root/scripts/api-checks" \
  && curl -fsS "http://127.0.0.1:$port/api/v1/openapi.json" -o openapi.json \
  && npx redocly lint --max-problems 1000 --format stylish openapi.json)

venv="$root/target/api-checks-venv"
[ -x "$venv/bin/st" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/scripts/api-checks/requirements.txt"
token() {
  curl -fsS -X POST "http://127.0.0.1:$port/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$2\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])'
}
# Both sign in before the runs: the customer run's own sign-in attempts lock that account.
CUSTOMER_TOKEN="$(token customer@shopd.local ShopdDemo1)" ADMIN_TOKEN="$(token admin@shopd.local ShopdAdmin1)" \
  BASE_URL="http://127.0.0.1:$port" ST="$venv/bin/st" bash "$root/scripts/api-checks/schemathesis.sh"
kill $server; wait $server 2>/dev/null || true

SHOPD_BIN="$bin" bash "$root/clients/typescript/scripts/ci.sh"
echo "api checks passed in $((SECONDS - started)) s"
