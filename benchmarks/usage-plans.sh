#!/usr/bin/env bash
# benchmarks/usage-plans.sh — issue 17's two measurements, Portcullis against itself, one run:
#
#  A. an API-key route with a generous usage plan (key lookup, plan bucket, stage bucket, quota)
#     beside the plain route of the same process, measured alternately (ROUNDS rounds of
#     DURATION s, wrk -t1 -c64, the stub nginx upstream; proxy and upstream pinned to core 0, wrk
#     to core 1, as the runner's PIN=wrk): requests/s, CPU per request, p99, and the ratio.
#  B. a throttled route (rate RATE/s, burst BURST) under a load far above its rate from every
#     event loop (workers: 4): the admitted rate wrk measures beside the configured one.
#
# Usage: benchmarks/usage-plans.sh   (after swift build -c release; needs wrk and nginx, as the runner)
# Knobs: DURATION=10 ROUNDS=3 RATE=2000 BURST=100 PORTCULLIS_BIN=.build/release/portcullis
set -euo pipefail
source "$(dirname "$0")/lib.sh"
RATE=${RATE:-2000} BURST=${BURST:-100}
UP=18101 PX=18180
KEY=bench-key-0123456789abcdefghijklmnopqrstu
start_stub_upstream "$UP"

config() {  # config WORKERS
  cat <<YAML
workers: $1
access_log: off
listeners: [{ name: bench, listen: "127.0.0.1:$PX" }]
throttle: { rate: 1000000, burst: 1000000 }
usage_plans:
  generous:
    stages: [{ api: keyed, stage: keyed }]
    throttle: { rate: 1000000, burst: 1000000 }
    quota: { limit: 1000000000, period: DAY }
api_keys: { keys: [{ id: bench, usage_plans: [generous], value: "$KEY" }] }
apis:
  - { name: bench, stage: bench, routes: [{ path: "/{proxy+}", upstream: backend }] }
  - name: keyed
    stage: keyed
    throttle: { rate: 1000000, burst: 1000000 }
    routes: [{ path: "/{proxy+}", upstream: backend, api_key_required: true }]
  - name: limited
    stage: limited
    routes: [{ path: "/{proxy+}", upstream: backend, throttle: { rate: $RATE, burst: $BURST } }]
upstreams:
  backend: { endpoints: ["http://127.0.0.1:$UP"] }
YAML
}

start_proxy() {  # start_proxy WORKERS CPUS
  config "$1" >"$WORK/p.yaml"
  taskset -c "$2" "$BIN" run --config "$WORK/p.yaml" --log-level error 2>"$WORK/p.log" &
  PX_PID=$!
  PIDS+=($PX_PID)
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$PX/bench/hello" && return 0; sleep 0.05; done
  echo "usage-plans.sh: Portcullis did not start: $(cat "$WORK/p.log")" >&2; exit 1
}

echo "== A: API-key route (generous plan) beside the plain route; wrk -t1 -c64 -d${DURATION}s, $ROUNDS rounds, proxy+upstream on core 0"
start_proxy 1 0
taskset -c 1 wrk -t1 -c64 -d3s "http://127.0.0.1:$PX/bench/hello" >/dev/null
taskset -c 1 wrk -t1 -c64 -d3s -H "x-api-key: $KEY" "http://127.0.0.1:$PX/keyed/hello" >/dev/null
declare -a PLAIN KEYED
for r in $(seq "$ROUNDS"); do
  PLAIN+=("$(measure "$PX_PID" "http://127.0.0.1:$PX/bench/hello" -H "x-api-key: $KEY")")
  KEYED+=("$(measure "$PX_PID" "http://127.0.0.1:$PX/keyed/hello" -H "x-api-key: $KEY")")
  echo "   round $r: plain ${PLAIN[-1]}  |  api-key ${KEYED[-1]}   (req/s cpu-us/req p99-ms errors)"
done
compare plain-route api-key-route 0.95 "${PLAIN[@]}" -- "${KEYED[@]}"
kill "$PX_PID"; wait "$PX_PID" 2>/dev/null || true

echo "== B: throttled route, rate $RATE/s burst $BURST, workers: 4 (every loop takes from one bucket); wrk -t2 -c128 -d${DURATION}s"
start_proxy 4 0-1
out=$(wrk -t2 -c128 -d"${DURATION}s" -s "$HERE/wrk/report.lua" "http://127.0.0.1:$PX/limited/hello" | grep '^WRK_JSON' | sed 's/^WRK_JSON //')
python3 - "$out" "$RATE" "$BURST" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); rate = float(sys.argv[2]); burst = int(sys.argv[3])
secs = d["duration_us"] / 1e6; admitted = d["requests"] - d["errors"]["status"]
bound = burst + rate * secs
print(f"   offered {d['rps']:.0f} req/s over {secs:.1f} s; admitted {admitted} ({admitted / secs:.1f}/s), refused {d['errors']['status']} (429)")
print(f"   configured: {rate:.0f}/s + burst {burst} = at most {bound:.0f} in {secs:.1f} s; admitted/bound {admitted / bound:.4f}"
      f" ({(admitted / bound - 1) * 100:+.2f} %; target within 2 %, never above)")
PY
