#!/usr/bin/env bash
# Checkout under load: acknowledged (durable) orders per second and their latency with 1 and 32
# concurrent buyers, and the latency of adding to a cart.
# Needs: wrk (apt-get install wrk), curl, python3. Usage: scripts/bench_orders.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
# SHOPD_BIN: measure that binary instead of building this checkout (e.g. to compare builds).
if [[ -z "${SHOPD_BIN:-}" ]]; then cargo build --release --quiet; fi
bin=${SHOPD_BIN:-$PWD/target/release/shopd}
data=$(mktemp -d); lua=$(mktemp --suffix .lua); cartlua=$(mktemp --suffix .lua)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RATE_LIMIT_ENABLED=false SEED_DEMO=false LOG_LEVEL=warn ADMIN_EMAIL=bench@shop.test ADMIN_PASSWORD=Bench1234x \
  "$bin" --data-dir "$data" serve --host 127.0.0.1 --port "$port" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$data" "$lua" "$cartlua"' EXIT
url="http://127.0.0.1:$port"
until curl -fs "$url/health" >/dev/null; do sleep 0.01; done
token=$(curl -fs -X POST "$url/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"bench@shop.test","password":"Bench1234x"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])')
for i in 1 2 3 4; do
  curl -fs -X POST "$url/api/v1/products" -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
    -d "{\"title\":\"Bench item $i\",\"price\":19.99,\"discountPercentage\":10,\"stock\":100000000,\"brand\":\"B\",\"category\":\"bench\"}" >/dev/null
done
cat > "$lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
counter = 0
request = function()
  counter = counter + 1
  local body = '{"products":[{"id":' .. (counter % 4 + 1) .. ',"quantity":1},{"id":' .. ((counter + 1) % 4 + 1) .. ',"quantity":2}],' ..
    '"shippingAddress":{"firstName":"A","lastName":"B","address":"1 St","city":"C","state":"S","zipCode":"1","country":"NO"}}'
  return wrk.format(nil, nil, nil, body)
end
LUA
cat > "$cartlua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
wrk.body = '{"productId":1,"quantity":1}'
LUA
run() { # label connections script path
  local out
  out=$(wrk -t"$(( $2 < 2 ? 1 : 2 ))" -c"$2" -d"${secs}s" --latency -s "$3" "$url$4")
  printf '  %-26s %8s req/s  p50 %8s  p99 %8s  non-2xx: %s\n' "$1" \
    "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" "$(echo "$out" | awk '/ 50%/ {print $2}')" \
    "$(echo "$out" | awk '/ 99%/ {print $2}')" "$(echo "$out" | awk '/Non-2xx/ {print $5}' | grep . || echo 0)"
}
echo "== orders (2 lines each; every 201 is durable before it is sent)"
run "1 buyer" 1 "$lua" /api/v1/orders
run "32 buyers" 32 "$lua" /api/v1/orders
echo "== add to cart"
run "32 clients" 32 "$cartlua" /api/v1/cart/items
curl -fs "$url/metrics" | awk '/^shopd_store_(commits|writes)_total/ {print "  " $0}'
echo "  RSS: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)"
