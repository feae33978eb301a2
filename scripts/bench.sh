#!/usr/bin/env bash
# Benchmarks of the foundation: durable store writes (1 and 32 writers), cold start to the first
# /health 200, idle RSS, and /health under wrk with the server's CPU time per request.
# Needs: a release build (made here), python3, and wrk (apt-get install wrk).
# Usage: scripts/bench.sh [wrk seconds, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}

cargo build --release --quiet
bin=target/release/shopd

echo "== store: durable write transactions"
cargo bench --quiet --bench store_writes 2>/dev/null | grep -v '^$'

echo "== start-up and memory"
python3 - "$bin" <<'PY'
import os, socket, statistics, subprocess, sys, tempfile, time
binary = sys.argv[1]
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def health(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.05) as c:
            c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return c.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
for label, reuse in (("empty data dir", False), ("existing data dir", True)):
    times, rss = [], []
    data = tempfile.mkdtemp()
    for _ in range(7):
        if not reuse:
            data = tempfile.mkdtemp()
        port = free_port()
        env = dict(os.environ, SEED_DEMO="false", LOG_LEVEL="warn")
        t0 = time.perf_counter()
        p = subprocess.Popen([binary, "--data-dir", data, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not health(port):
            time.sleep(0.0005)
        times.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.3)
        rss.append(rss_kb(p.pid))
        p.terminate(); p.wait()
    print(f"  cold start to first /health 200 ({label}): median {statistics.median(times):.1f} ms, "
          f"max {max(times):.1f} ms; idle RSS median {statistics.median(rss)/1024:.1f} MiB")
PY

echo "== /health under wrk (2 threads, 32 connections, ${secs}s)"
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SEED_DEMO=false LOG_LEVEL=warn "$bin" --data-dir "$data" serve --host 127.0.0.1 --port "$port" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$data"' EXIT
until curl -fs "http://127.0.0.1:$port/health" >/dev/null; do sleep 0.01; done
ticks() { awk '{print $14+$15}' "/proc/$pid/stat"; }
before=$(ticks)
out=$(wrk -t2 -c32 -d"${secs}s" --latency "http://127.0.0.1:$port/health")
after=$(ticks)
echo "$out" | grep -E 'Requests/sec|Latency|50%|99%' | sed 's/^/  /'
requests=$(echo "$out" | awk '/requests in/ {print $1}')
hz=$(getconf CLK_TCK)
python3 -c "print(f'  server CPU: {($after-$before)/$hz:.2f} s for $requests requests = {($after-$before)/$hz/$requests*1e6:.1f} µs per request')"
echo "  RSS after load: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)"
