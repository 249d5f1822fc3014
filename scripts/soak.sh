#!/usr/bin/env bash
# Soak test of `vlmrun serve` (not in the default test run): the embedded
# model on loopback, 64 concurrent clients for 5 minutes with valid,
# invalid and cancelled requests. Fails on a 5xx other than 503/504 (429,
# the full queue, is by design), RSS growing by more than 10 % under load
# (median of the first vs the last fifth of 5 s samples after the warm-up),
# goroutine growth (idle, before vs after), or a request the server counted
# missing from its log. SECONDS_TOTAL, CLIENTS, PARALLEL
# change the run (at most 300 s).
set -euo pipefail
cd "$(dirname "$0")/.."
total="${SECONDS_TOTAL:-300}"
(( total <= 300 )) || { echo "soak: at most 300 s" >&2; exit 2; }
clients="${CLIENTS:-64}"
parallel="${PARALLEL:-2}"
./scripts/setup-ort.sh >/dev/null
out="$(mktemp -d)"
pid=""
trap '[[ -z "$pid" ]] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; } || true' EXIT
go build -o "$out/vlmrun" ./cmd/vlmrun
go build -o "$out/soak" ./scripts/soak
port="$(( 20000 + RANDOM % 20000 ))"
"$out/vlmrun" serve --addr "127.0.0.1:$port" --parallel "$parallel" --queue 32 --timeout 30s 2>"$out/server.log" &
pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.2
done
"$out/soak" -url "http://127.0.0.1:$port" -clients "$clients" -duration "${total}s" \
  -warmup "$(( total / 10 ))s" -log "$out/server.log"
echo "soak: server log at $out/server.log"
