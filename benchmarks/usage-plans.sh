#!/usr/bin/env bash
# benchmarks/usage-plans.sh — issue 17's two measurements, Portcullis against itself, one run:
#
#  A. an API-key route with a generous usage plan (key lookup, plan bucket, stage bucket, quota)
#     beside the plain route of the same process, measured alternately (ROUNDS rounds of
#     DURATION s, wrk -t1 -c64, the stub nginx upstream; proxy and upstream pinned to core 0, wrk
#     to core 1, as run.sh's PIN=wrk): requests/s, CPU per request, p99, and the ratio.
#  B. a throttled route (rate RATE/s, burst BURST) under a load far above its rate from every
#     event loop (workers: 4): the admitted rate wrk measures beside the configured one.
#
# Usage: benchmarks/usage-plans.sh   (after swift build -c release; needs wrk and nginx, as run.sh)
# Knobs: DURATION=10 ROUNDS=3 RATE=2000 BURST=100 PORTCULLIS_BIN=.build/release/portcullis
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN=${PORTCULLIS_BIN:-$ROOT/.build/release/portcullis}
DURATION=${DURATION:-10} ROUNDS=${ROUNDS:-3} RATE=${RATE:-2000} BURST=${BURST:-100}
UP=18101 PX=18180
KEY=bench-key-0123456789abcdefghijklmnopqrstu
[[ -x $BIN ]] || { echo "usage-plans.sh: build first: swift build -c release" >&2; exit 1; }
command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "usage-plans.sh: needs wrk and nginx (make bench installs them)" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-usage.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

mkdir -p "$WORK/tmp"
BENCH_DIR=$WORK BENCH_LISTEN_PORT=$UP envsubst '${BENCH_DIR} ${BENCH_LISTEN_PORT}' <"$HERE/conf/stub-upstream-nginx.conf" >"$WORK/nginx.conf"
taskset -c 0 nginx -c "$WORK/nginx.conf" -p "$WORK" &
PIDS+=($!)

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

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

measure() {  # measure URL -> "rps cpu_us_per_req p99_ms errors"
  local t0 t1 out
  t0=$(cpu_ticks "$PX_PID")
  out=$(taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" --latency -s "$HERE/wrk/report.lua" -H "x-api-key: $KEY" "$1" | grep '^WRK_JSON' | sed 's/^WRK_JSON //')
  t1=$(cpu_ticks "$PX_PID")
  python3 - "$out" "$t0" "$t1" "$(getconf CLK_TCK)" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); ticks = int(sys.argv[3]) - int(sys.argv[2]); hz = int(sys.argv[4])
e = d["errors"]; errs = e["connect"] + e["read"] + e["write"] + e["timeout"] + e["status"]
print(f'{d["rps"]:.0f} {ticks / hz * 1e6 / max(1, d["requests"]):.1f} {d["p99_us"] / 1000:.2f} {errs}')
PY
}

echo "== A: API-key route (generous plan) beside the plain route; wrk -t1 -c64 -d${DURATION}s, $ROUNDS rounds, proxy+upstream on core 0"
start_proxy 1 0
taskset -c 1 wrk -t1 -c64 -d3s "http://127.0.0.1:$PX/bench/hello" >/dev/null
taskset -c 1 wrk -t1 -c64 -d3s -H "x-api-key: $KEY" "http://127.0.0.1:$PX/keyed/hello" >/dev/null
declare -a PLAIN KEYED
for r in $(seq "$ROUNDS"); do
  PLAIN+=("$(measure "http://127.0.0.1:$PX/bench/hello")")
  KEYED+=("$(measure "http://127.0.0.1:$PX/keyed/hello")")
  echo "   round $r: plain ${PLAIN[-1]}  |  api-key ${KEYED[-1]}   (req/s cpu-us/req p99-ms errors)"
done
python3 - "${PLAIN[@]}" -- "${KEYED[@]}" <<'PY'
import sys, statistics as st
a = sys.argv[1:]; i = a.index("--"); plain = [r.split() for r in a[:i]]; keyed = [r.split() for r in a[i + 1:]]
def med(rows, k): return st.median(float(r[k]) for r in rows)
def spread(rows): v = [float(r[0]) for r in rows]; return (max(v) - min(v)) / st.median(v) * 100
p, k = (med(plain, 0), med(plain, 1), med(plain, 2)), (med(keyed, 0), med(keyed, 1), med(keyed, 2))
print(f"   plain-route   {p[0]:8.0f} req/s  {p[1]:5.1f} us/req  p99 {p[2]:.2f} ms  spread {spread(plain):.1f} %")
print(f"   api-key-route {k[0]:8.0f} req/s  {k[1]:5.1f} us/req  p99 {k[2]:.2f} ms  spread {spread(keyed):.1f} %")
print(f"   api-key/plain: req/s {k[0] / p[0]:.2f}x, cpu/req {k[1] / p[1]:.2f}x (+{k[1] - p[1]:.1f} us), p99 {k[2] / p[2]:.2f}x   (target: req/s >= 0.95x)")
PY
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
