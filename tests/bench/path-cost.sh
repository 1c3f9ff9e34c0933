#!/usr/bin/env bash
# The cost of an attempt's path through chatfn: serves the example app from each binary given,
# drives it with wrk at concurrency 1 (one existing user), and prints latency and the server's
# CPU time per attempt (from /proc, user + system); then attempts per second at concurrency 16. Run by scripts/bench; to compare two
# builds: tests/bench/path-cost.sh OLD_BINARY NEW_BINARY.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SECONDS_PER_RUN="${PATH_COST_SECONDS:-10}"
command -v wrk >/dev/null || { echo "path-cost: wrk is missing (apt-get install wrk)" >&2; exit 1; }
LUA="$(mktemp --suffix .lua)"
cat > "$LUA" <<'LUA'
wrk.method = "POST"
wrk.body = '{"username":"alice","authParams":{"passcode":"open-sesame"}}'
wrk.headers["Content-Type"] = "application/json"
LUA
HZ="$(getconf CLK_TCK)"
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

printf '%-40s %10s %10s %10s %14s %12s\n' "binary" "req/s c=1" "p50 ms" "p99 ms" "CPU us/attempt" "req/s c=16"
for BIN in "$@"; do
  LABEL="${BIN: -40}"
  DATA="$(mktemp -d)"
  LOG="$DATA/serve.log"
  "$BIN" serve --app "$ROOT" --data "$DATA/store" --listen 127.0.0.1:0 >"$LOG" 2>/dev/null &
  PID=$!
  for _ in $(seq 1 200); do grep -q "serving" "$LOG" && break; sleep 0.05; done
  URL="$(sed -n 's/^chatfn: serving .* on //p' "$LOG" | head -1)"
  curl -s "$URL/v1/sessions" -d '{"username":"alice","authParams":{"passcode":"open-sesame"}}' >/dev/null
  wrk -t1 -c1 -d2s -s "$LUA" "$URL/v1/sessions" >/dev/null   # warm-up
  BEFORE="$(cpu_ticks "$PID")"
  OUT="$(wrk -t1 -c1 -d"${SECONDS_PER_RUN}s" --latency -s "$LUA" "$URL/v1/sessions")"
  AFTER="$(cpu_ticks "$PID")"
  RPS16="$(wrk -t2 -c16 -d"${SECONDS_PER_RUN}s" -s "$LUA" "$URL/v1/sessions" | awk '/Requests\/sec/ { print $2 }')"
  kill "$PID"; wait "$PID" 2>/dev/null || true
  REQS="$(echo "$OUT" | awk '/requests in/ { print $1 }')"
  RPS="$(echo "$OUT" | awk '/Requests\/sec/ { print $2 }')"
  ms() { echo "$OUT" | awk -v q="$1" '$1 == q { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 }; printf "%.3f", v }'; }
  CPU_US="$(awk -v t=$((AFTER - BEFORE)) -v hz="$HZ" -v n="$REQS" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')"
  printf '%-40s %10s %10s %10s %14s %12s\n' "${LABEL:-$BIN}" "$RPS" "$(ms 50%)" "$(ms 99%)" "$CPU_US" "$RPS16"
  rm -rf "$DATA"
done
rm -f "$LUA"
