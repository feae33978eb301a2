#!/usr/bin/env bash
# The outbox under an order burst: 32 buyers place orders for a few seconds (about 10,000 at
# full speed); then the time until every confirmation mail and notification of the burst is
# written (no job PENDING or RUNNING), and the peak RSS during burst and drain.
# Needs: wrk (apt-get install wrk), curl, python3. Usage: scripts/bench_outbox.sh [burst seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-2}
# SHOPD_BIN: measure that binary instead of building this checkout (e.g. to compare builds).
if [[ -z "${SHOPD_BIN:-}" ]]; then cargo build --release --quiet; fi
bin=${SHOPD_BIN:-$PWD/target/release/shopd}
data=$(mktemp -d); lua=$(mktemp --suffix .lua)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RATE_LIMIT_ENABLED=false SEED_DEMO=false LOG_LEVEL=warn ADMIN_EMAIL=bench@shop.test ADMIN_PASSWORD=Bench1234x \
  "$bin" --data-dir "$data" serve --host 127.0.0.1 --port "$port" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$data" "$lua"' EXIT
url="http://127.0.0.1:$port"
until curl -fs "$url/health" >/dev/null; do sleep 0.01; done
token=$(curl -fs -X POST "$url/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"bench@shop.test","password":"Bench1234x"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])')
curl -fs -X POST "$url/api/v1/products" -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
  -d '{"title":"Burst item","price":19.99,"stock":100000000,"brand":"B","category":"bench"}' >/dev/null
cat > "$lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
wrk.body = '{"products":[{"id":1,"quantity":1}],"shippingAddress":{"firstName":"A","lastName":"B","address":"1 St","city":"C","state":"S","zipCode":"1","country":"NO"}}'
LUA
rss() { awk '/VmRSS/ {print $2}' /proc/$pid/status; }
peak=$(rss)
echo "== burst: 32 buyers for ${secs}s"
wrk -t2 -c32 -d"${secs}s" --latency -s "$lua" "$url/api/v1/orders" > /tmp/bench_outbox_wrk.txt &
wrkpid=$!
while kill -0 $wrkpid 2>/dev/null; do r=$(rss); (( r > peak )) && peak=$r; sleep 0.05; done
burst_end=$(date +%s.%N)
awk '/Requests\/sec/ {print "  orders/s: " $2} / 50%/ {print "  p50: " $2} / 99%/ {print "  p99: " $2} /Non-2xx/ {print "  non-2xx: " $5}' /tmp/bench_outbox_wrk.txt
open() { curl -fs "$url/metrics" | awk '/^shopd_jobs\{status="(PENDING|RUNNING)"\}/ {s += $2} END {print s + 0}'; }
echo "  jobs open when the burst ended: $(open)"
while (( $(open) > 0 )); do r=$(rss); (( r > peak )) && peak=$r; sleep 0.02; done
drained=$(date +%s.%N)
placed=$(curl -fs "$url/metrics" | awk '/^shopd_orders_placed_total/ {print $2}')
echo "  orders placed: $placed"
echo "  drained (every mail and notification written) $(python3 -c "print(f'{$drained - $burst_end:.2f}')") s after the burst"
echo "  mails in the outbox: $(ls "$data/outbox" | grep -c '\.eml$')"
curl -fs "$url/metrics" | awk '/^shopd_jobs\{/ {print "  " $0} /^shopd_store_(commits|writes)_total/ {print "  " $0}'
echo "  peak RSS: $(( peak / 1024 )) MiB; now $(( $(rss) / 1024 )) MiB"
