#!/usr/bin/env bash
# Instructions per request, a measure that does not move with what else the machine is doing:
# the release binary runs under valgrind's callgrind with the runtime on one worker thread, a
# fixed sequence of requests goes to each endpoint (after a warm-up), and the instructions the
# whole process executed meanwhile are divided by their number. Next to each, the server's CPU
# time per request under wrk (32 connections, a few seconds, the normal runtime), which does move.
# Needs: valgrind (callgrind_control), wrk, curl, python3.
# Usage: scripts/bench_instructions.sh [requests per endpoint, default 200] [wrk seconds, default 5]
# SHOPD_BIN=path measures that binary instead of building target/release/shopd (a before/after).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
secs=${2:-5}
if [ -n "${SHOPD_BIN:-}" ]; then bin=$(realpath "$SHOPD_BIN"); else
  cargo build --release --quiet
  bin=$PWD/target/release/shopd
fi
hz=$(getconf CLK_TCK)
data=$(mktemp -d)
out=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$data" "$out"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { until curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1; do sleep 0.05; done; }
env_run=(env RATE_LIMIT_ENABLED=false LOG_LEVEL=warn TOKIO_WORKER_THREADS=1)

# The demo catalog is seeded by a normal start first: under valgrind the seeding (and its
# password hashing) would take minutes.
port=$(free_port)
"${env_run[@]}" "$bin" --data-dir "$data" serve --host 127.0.0.1 --port "$port" >/dev/null 2>&1 &
pid=$!
wait_up
words=$(curl -fs "http://127.0.0.1:$port/api/v1/products?limit=100&select=title" | python3 -c '
import json, re, sys
seen = []
for p in json.load(sys.stdin)["data"]["products"]:
    for w in re.findall(r"[a-z]{4,}", p["title"].lower()):
        if w not in seen: seen.append(w)
print(" ".join(seen))')
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

# Sends requests over one keep-alive connection: `fixed COUNT PATH [HEADER]` repeats one,
# `words COUNT WORDS FROM` searches for a different word each time, from word FROM on (the
# warm-up takes other words than the measured run). Exits non-zero on an unexpected status.
cat > "$out/client.py" <<'EOF'
import http.client, sys
port, mode, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port)
if mode == "words":
    words = sys.argv[4].split()[int(sys.argv[5]):]
    paths = [f"/api/v1/products/search?q={w}" for w in words[:count]]
    if len(paths) < count:
        sys.exit(f"only {len(paths)} words for {count} searches")
    headers = {}
else:
    paths = [sys.argv[4]] * count
    headers = dict([h.split(": ", 1) for h in sys.argv[5:]])
want = 304 if "If-None-Match" in headers else 200
for path in paths:
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    r.read()
    if r.status != want:
        sys.exit(f"{path}: {r.status}")
EOF

port=$(free_port)
"${env_run[@]}" valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/cg.%p" \
  "$bin" --data-dir "$data" serve --host 127.0.0.1 --port "$port" >"$out/valgrind.log" 2>&1 &
pid=$!
wait_up
callgrind_control -i on "$pid" >/dev/null 2>&1

etag=$(curl -fsI "http://127.0.0.1:$port/api/v1/products?limit=30" | awk -F': ' 'tolower($1)=="etag" {print $2}' | tr -d '\r')
measure() { # label, then the client's arguments (a words run warms up on other words)
  local label=$1; shift
  if [ "$1" = words ]; then
    python3 "$out/client.py" "$port" words "$2" "$3" "$2" >/dev/null
    set -- words "$2" "$3" 0
  else
    python3 "$out/client.py" "$port" "$@" >/dev/null # warm-up: caches and lazy set-up
  fi
  callgrind_control -z "$pid" >/dev/null 2>&1
  python3 "$out/client.py" "$port" "$@"
  callgrind_control -d "$label" "$pid" >/dev/null 2>&1
  local file total
  file=$(ls -t "$out"/cg.* | head -1)
  total=$(awk '/^(summary|totals):/ {print $2; exit}' "$file")
  rm -f "$file"
  printf '%s %s\n' "$label" "$((total / $2))" >>"$out/instructions"
}
measure list30 fixed "$n" "/api/v1/products?limit=30"
measure list30-gzip fixed "$n" "/api/v1/products?limit=30" "Accept-Encoding: gzip, deflate, br"
[ -n "$etag" ] && measure list30-304 fixed "$n" "/api/v1/products?limit=30" "If-None-Match: $etag"
measure product fixed "$n" "/api/v1/products/1"
measure categories fixed "$n" "/api/v1/products/categories"
measure search-phone fixed "$n" "/api/v1/products/search?q=phone"
# A query not searched before: as many words as the demo's titles give, half for the warm-up.
half=$(( $(echo "$words" | wc -w) / 2 ))
measure search-new words "$(( half < n ? half : n ))" "$words"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

# The same endpoints under wrk, the normal runtime.
port=$(free_port)
env RATE_LIMIT_ENABLED=false LOG_LEVEL=warn "$bin" --data-dir "$data" serve --host 127.0.0.1 --port "$port" >/dev/null 2>&1 &
pid=$!
wait_up
ticks() { awk '{print $14+$15}' "/proc/$pid/stat"; }
wrk_cpu() { # path [header]
  local before after requests res
  local args=(-t2 -c32 -d"${secs}s")
  [ $# -gt 1 ] && args+=(-H "$2")
  before=$(ticks)
  res=$(wrk "${args[@]}" "http://127.0.0.1:$port$1")
  after=$(ticks)
  requests=$(echo "$res" | awk '/requests in/ {print $1}')
  python3 -c "print(f'{($after-$before)/$hz/$requests*1e6:.1f}')"
}
declare -A cpu
cpu[list30]=$(wrk_cpu "/api/v1/products?limit=30")
cpu[list30-gzip]=$(wrk_cpu "/api/v1/products?limit=30" "Accept-Encoding: gzip, deflate, br")
[ -n "$etag" ] && cpu[list30-304]=$(wrk_cpu "/api/v1/products?limit=30" "If-None-Match: $etag")
cpu[product]=$(wrk_cpu "/api/v1/products/1")
cpu[categories]=$(wrk_cpu "/api/v1/products/categories")
cpu[search-phone]=$(wrk_cpu "/api/v1/products/search?q=phone")
cpu[search-new]=-

printf '%-14s %16s %14s\n' endpoint instructions/req "wrk CPU µs/req"
while read -r label count; do
  printf '%-14s %16s %14s\n' "$label" "$count" "${cpu[$label]}"
done <"$out/instructions"
