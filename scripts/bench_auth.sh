#!/usr/bin/env bash
# Sign-in under load: logins per second with the default (OWASP) Argon2id cost, and the p99 of
# GET /health idle versus while 64 clients sign in continuously.
# Needs: python3-free; wrk (apt-get install wrk) and curl. Usage: scripts/bench_auth.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
cargo build --release --quiet
bin=target/release/shopd
data=$(mktemp -d)
port=$(( 20000 + RANDOM % 20000 ))
RATE_LIMIT_ENABLED=false SEED_DEMO=false LOG_LEVEL=warn "$bin" --data-dir "$data" serve --host 127.0.0.1 --port "$port" >/dev/null 2>&1 &
pid=$!
lua=$(mktemp --suffix .lua)
trap 'kill $pid 2>/dev/null; rm -rf "$data" "$lua"' EXIT
until curl -fs "http://127.0.0.1:$port/health" >/dev/null; do sleep 0.01; done
url="http://127.0.0.1:$port"
# 64 accounts: a storm of many customers (one account signing in 64 times at once would mostly
# meet its own lockout, which counts attempts before they are checked).
for i in $(seq 0 63); do
  curl -fs -X POST "$url/api/v1/auth/register" -H 'Content-Type: application/json' \
    -d "{\"email\":\"bench$i@shop.test\",\"password\":\"Bench1234x\",\"firstName\":\"Ben\",\"lastName\":\"Chmark\"}" >/dev/null
done
cat > "$lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, '{"email":"bench' .. (counter % 64) .. '@shop.test","password":"Bench1234x"}')
end
LUA

p99() { awk '/ 99%/ {print $2}'; }
echo "== idle: GET /health, 4 connections, ${secs}s"
idle=$(wrk -t1 -c4 -d"${secs}s" --latency "$url/health")
echo "$idle" | grep -E 'Requests/sec| 50%| 99%' | sed 's/^/  /'

echo "== 64 clients signing in continuously, and GET /health (4 connections) meanwhile"
wrk -t1 -c64 -d"$((secs + 4))s" --timeout 10s --latency -s "$lua" "$url/api/v1/auth/login" > /tmp/shopd-logins.txt &
storm=$!
sleep 2
busy=$(wrk -t1 -c4 -d"${secs}s" --latency "$url/health")
wait $storm
echo "  logins:"
grep -E 'Requests/sec| 50%| 99%|Non-2xx|Socket errors' /tmp/shopd-logins.txt | sed 's/^/    /'
echo "  /health during the storm:"
echo "$busy" | grep -E 'Requests/sec| 50%| 99%' | sed 's/^/    /'
echo "  /health p99 idle $(echo "$idle" | p99) -> under the storm $(echo "$busy" | p99)"
echo "  RSS after the storm: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)"
