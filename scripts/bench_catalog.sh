#!/usr/bin/env bash
# Catalog reads under load, at the demo size (~200 products) and at 100,000 generated products:
# req/s, p50/p99 and the server's CPU time per request for the product list, a product, a search
# and the categories; the same reads from a bare poem server serving the demo's products the
# naive way (examples/naive_catalog.rs); start-up time, peak and current RSS.
# Needs: wrk (apt-get install wrk), curl, python3. Usage: scripts/bench_catalog.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
# SHOPD_BIN: measure that binary instead of building this checkout (the naive server is then
# measured only if it was built already).
if [[ -z "${SHOPD_BIN:-}" ]]; then
  cargo build --release --quiet
  cargo build --release --quiet --example naive_catalog
fi
bin=${SHOPD_BIN:-$PWD/target/release/shopd}
naive=$PWD/target/release/examples/naive_catalog
hz=$(getconf CLK_TCK)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$small" "$large"; }
small=$(mktemp -d); large=$(mktemp -d)
trap cleanup EXIT

start() { # data dir -> sets pid, port and started_ms (no subshell: the globals must stick)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  local t0=$(date +%s%N)
  RATE_LIMIT_ENABLED=false LOG_LEVEL=warn "$bin" --data-dir "$1" serve --host 127.0.0.1 --port "$port" >/dev/null 2>&1 &
  pid=$!
  until curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1; do sleep 0.002; done
  started_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
rss() { awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$pid/status"; }
peak() { awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$pid/status"; }
ticks() { awk '{print $14+$15}' "/proc/$pid/stat"; }

measure() { # label path
  local url="http://127.0.0.1:$port$2" before after out requests
  curl -fs "$url" >/dev/null
  before=$(ticks)
  out=$(wrk -t2 -c32 -d"${secs}s" --latency "$url")
  after=$(ticks)
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  printf '  %-28s %9s req/s  p50 %8s  p99 %8s  CPU %6.1f µs/req\n' "$1" \
    "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" \
    "$(echo "$out" | awk '/ 50%/ {print $2}')" "$(echo "$out" | awk '/ 99%/ {print $2}')" \
    "$(python3 -c "print(($after-$before)/$hz/$requests*1e6)")"
}

run_all() {
  measure "list ?limit=30" "/api/v1/products?limit=30"
  measure "product /products/1" "/api/v1/products/1"
  measure "search ?q=phone" "/api/v1/products/search?q=phone"
  measure "categories" "/api/v1/products/categories"
}

echo "== demo catalog (first start seeds it)"
start "$small"
sleep 1
echo "  first start (seeding 201 products): ${started_ms} ms, RSS $(rss), peak $(peak)"
stop
start "$small"
sleep 1
echo "  an ordinary start: ${started_ms} ms, RSS $(rss), peak $(peak)"
all=$(mktemp)
python3 -c '
import json, sys, urllib.request
port, out, products, skip = sys.argv[1], sys.argv[2], [], 0
while True:
    url = f"http://127.0.0.1:{port}/api/v1/products?limit=100&skip={skip}"
    page = json.load(urllib.request.urlopen(url))["data"]
    products += page["products"]
    skip += 100
    if skip >= page["total"]:
        break
json.dump(products, open(out, "w"))
' "$port" "$all"
run_all
echo "  RSS after the runs: $(rss), peak $(peak)"
stop

echo "== the naive server (examples/naive_catalog.rs), the same products"
if [[ -x "$naive" ]]; then
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$naive" "$port" "$all" >/dev/null 2>&1 &
pid=$!
until curl -fs "http://127.0.0.1:$port/hello" >/dev/null 2>&1; do sleep 0.01; done
measure "list ?limit=30" "/api/v1/products?limit=30"
measure "product /products/1" "/api/v1/products/1"
measure "categories" "/api/v1/products/categories"
measure "hello (no envelope)" "/hello"
stop
else
  echo "  not built: cargo build --release --example naive_catalog"
fi
rm -f "$all"

echo "== 100,000 generated products"
t0=$(date +%s%N)
"$bin" --data-dir "$large" seed --generate 100000 >/dev/null 2>&1
echo "  seed --generate 100000 (store + index): $(( ($(date +%s%N) - t0) / 1000000 )) ms"
start "$large"
echo "  start-up to first /health 200: ${started_ms} ms, RSS $(rss), peak $(peak)"
first() { curl -fso /dev/null -w '%{time_total}' "http://127.0.0.1:$port$1" | python3 -c 'import sys; print(f"{float(sys.stdin.read())*1000:.1f} ms")'; }
# Each searched for the first time: the matches, their facets and the page are all made afresh.
for q in phone wireless portable studio; do
  echo "  first search ?q=$q (broad, thousands of matches): $(first "/api/v1/products/search?q=$q")"
done
run_all
echo "  RSS after the runs: $(rss), peak $(peak)"
stop
