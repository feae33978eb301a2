#!/usr/bin/env bash
# Benchmarks of the owner's side (#12): admin order pages and the sales figures at ORDERS orders
# (default 1,000,000; BENCH_DIR keeps the generated store for the next run), then the admin
# app's first load in Chromium (bytes, requests, time until the sign-in form is interactive).
# Needs: node and Debian's chromium for the second part (scripts/admin-checks.sh installs them).
# Usage: [ORDERS=N] [BENCH_DIR=dir] scripts/bench_admin.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== admin pages and sales figures at ${ORDERS:-1000000} orders (release)"
cargo bench --quiet --bench admin_scale 2>/dev/null | grep -v '^$'

echo "== the admin app's first load"
cargo build --release --quiet
[ -d scripts/admin-tests/node_modules ] || (cd scripts/admin-tests && npm ci --no-audit --no-fund --silent)
SHOPD_BIN=target/release/shopd node scripts/admin-tests/first-load.mjs
