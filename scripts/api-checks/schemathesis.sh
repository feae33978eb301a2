#!/usr/bin/env bash
# Property-based API checks of shopd with Schemathesis 4.x against a running server.
#
#   BASE_URL=http://127.0.0.1:3301 CUSTOMER_TOKEN=... ADMIN_TOKEN=... scripts/api-checks/schemathesis.sh
#
# Runs every check (`--checks all`) with the default phases twice: first as the customer,
# then as the admin (the admin run may delete products or deactivate users, so it goes last).
# Use a throw-away data dir: both runs write to it.
#
# Optional: ST=path to the `st` executable (default: /tmp/st-venv/bin/st if present, else st on PATH),
#           RUNS="customer admin" (which runs, in order), REPORT_DIR (default: scripts/api-checks/schemathesis-report),
#           MAX_EXAMPLES (default: from schemathesis.toml), extra `st run` arguments after `--`.
# Log in both accounts *before* the first run: the customer run's stateful phase signs in with
# wrong passwords and locks customer@shopd.local for 15 min (423); access tokens live 15 min.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${BASE_URL:?set BASE_URL, e.g. http://127.0.0.1:3301}"
: "${CUSTOMER_TOKEN:?set CUSTOMER_TOKEN (data.token of POST /api/v1/auth/login as a customer)}"
: "${ADMIN_TOKEN:?set ADMIN_TOKEN (data.token of POST /api/v1/auth/login as an admin)}"
BASE_URL="${BASE_URL%/}"
RUNS="${RUNS:-customer admin}"
REPORT_DIR="${REPORT_DIR:-$here/schemathesis-report}"
if [[ -z "${ST:-}" ]]; then
  if [[ -x /tmp/st-venv/bin/st ]]; then ST=/tmp/st-venv/bin/st; else ST=st; fi
fi
[[ "${1:-}" == "--" ]] && shift

# Hypothesis and Schemathesis keep caches (.hypothesis, .schemathesis) in the working directory.
cd "$here" || exit 2
status=0
for who in $RUNS; do
  case "$who" in
    customer) token="$CUSTOMER_TOKEN" ;;
    admin) token="$ADMIN_TOKEN" ;;
    *) echo "unknown run '$who' (customer|admin)" >&2; exit 2 ;;
  esac
  args=(
    --checks all
    --url "$BASE_URL"
    -H "Authorization: Bearer $token"
    --report junit,ndjson
    --report-dir "$REPORT_DIR/$who"
    --no-color
    --generation-deterministic
  )
  [[ -n "${MAX_EXAMPLES:-}" ]] && args+=(--max-examples "$MAX_EXAMPLES")
  echo "=== schemathesis: $who run against $BASE_URL ==="
  start=$SECONDS
  "$ST" --config-file "$here/schemathesis.toml" run "$BASE_URL/api/v1/openapi.json" "${args[@]}" "$@"
  rc=$?
  echo "=== schemathesis: $who run exited $rc after $((SECONDS - start)) s ==="
  [[ $rc -ne 0 ]] && status=1
done
exit $status
