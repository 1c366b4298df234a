#!/usr/bin/env bash
# benchmarks/observability.sh — issue 19's measurement: the plain proxy with metrics (an admin
# listener) and the access log (JSON lines to a file) on, beside the same proxy with both off, in
# one run: two Portcullis processes on the same config but for those two settings, measured
# alternately (ROUNDS rounds of DURATION s, wrk -t1 -c64, the stub nginx upstream; proxy and
# upstream on core 0, wrk on core 1, as run.sh's PIN=wrk). Target: at least 0.95x with both on.
#
# Usage: benchmarks/observability.sh   (after swift build -c release; needs wrk and nginx)
# Knobs: DURATION=10 ROUNDS=3 PORTCULLIS_BIN=.build/release/portcullis
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN=${PORTCULLIS_BIN:-$ROOT/.build/release/portcullis}
DURATION=${DURATION:-10} ROUNDS=${ROUNDS:-3}
UP=18301 OFF=18380 ON=18381 ADMIN=18391
[[ -x $BIN ]] || { echo "observability.sh: build first: swift build -c release" >&2; exit 1; }
command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "observability.sh: needs wrk and nginx (make bench installs them)" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-obs.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

mkdir -p "$WORK/tmp"
BENCH_DIR=$WORK BENCH_LISTEN_PORT=$UP envsubst '${BENCH_DIR} ${BENCH_LISTEN_PORT}' <"$HERE/conf/stub-upstream-nginx.conf" >"$WORK/nginx.conf"
taskset -c 0 nginx -c "$WORK/nginx.conf" -p "$WORK" &
PIDS+=($!)

config() {  # config PORT EXTRA
  cat <<YAML
workers: 1
listeners: [{ name: bench, listen: "127.0.0.1:$1" }]
apis:
  - { name: bench, stage: bench, routes: [{ path: "/{proxy+}", methods: [ANY], upstream: backend }] }
upstreams:
  backend: { endpoints: ["http://127.0.0.1:$UP"] }
$2
YAML
}
config "$OFF" "access_log: off" >"$WORK/off.yaml"
config "$ON" "access_log: $WORK/access.log
admin: { listen: \"127.0.0.1:$ADMIN\" }" >"$WORK/on.yaml"

start() {  # start NAME PORT -> pid in STARTED
  taskset -c 0 "$BIN" run --config "$WORK/$1.yaml" --log-level error 2>"$WORK/$1.log" &
  STARTED=$!
  PIDS+=($STARTED)
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$2/bench/hello" && return 0; sleep 0.05; done
  echo "observability.sh: Portcullis ($1) did not start: $(cat "$WORK/$1.log")" >&2; exit 1
}
start off "$OFF"; OFF_PID=$STARTED
start on "$ON"; ON_PID=$STARTED

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
measure() {  # measure PID URL -> "rps cpu_us_per_req p99_ms errors"
  local t0 t1 out
  t0=$(cpu_ticks "$1")
  out=$(taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" --latency -s "$HERE/wrk/report.lua" "$2" | grep '^WRK_JSON' | sed 's/^WRK_JSON //')
  t1=$(cpu_ticks "$1")
  python3 - "$out" "$t0" "$t1" "$(getconf CLK_TCK)" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); ticks = int(sys.argv[3]) - int(sys.argv[2]); hz = int(sys.argv[4])
e = d["errors"]; errs = e["connect"] + e["read"] + e["write"] + e["timeout"] + e["status"]
print(f'{d["rps"]:.0f} {ticks / hz * 1e6 / max(1, d["requests"]):.1f} {d["p99_us"] / 1000:.2f} {errs}')
PY
}

echo "== plain proxy, metrics + access log on vs off; wrk -t1 -c64 -d${DURATION}s, $ROUNDS rounds, proxy+upstream on core 0"
taskset -c 1 wrk -t1 -c64 -d3s "http://127.0.0.1:$OFF/bench/hello" >/dev/null
taskset -c 1 wrk -t1 -c64 -d3s "http://127.0.0.1:$ON/bench/hello" >/dev/null
declare -a A B
for r in $(seq "$ROUNDS"); do
  A+=("$(measure "$OFF_PID" "http://127.0.0.1:$OFF/bench/hello")")
  B+=("$(measure "$ON_PID" "http://127.0.0.1:$ON/bench/hello")")
  echo "   round $r: off ${A[-1]}  |  on ${B[-1]}   (req/s cpu-us/req p99-ms errors)"
done
lines=$(wc -l <"$WORK/access.log")
count=$(curl -s "http://127.0.0.1:$ADMIN/metrics" | awk '/^portcullis_requests_total\{api="bench"/ { s += $2 } END { print s + 0 }')
echo "   access log lines: $lines; portcullis_requests_total for the route: $count"
python3 - "${A[@]}" -- "${B[@]}" <<'PY'
import sys, statistics as st
a = sys.argv[1:]; i = a.index("--"); off = [r.split() for r in a[:i]]; on = [r.split() for r in a[i + 1:]]
def med(rows, k): return st.median(float(r[k]) for r in rows)
def spread(rows): v = [float(r[0]) for r in rows]; return (max(v) - min(v)) / st.median(v) * 100
o, n = (med(off, 0), med(off, 1), med(off, 2)), (med(on, 0), med(on, 1), med(on, 2))
print(f"   both off  {o[0]:8.0f} req/s  {o[1]:5.1f} us/req  p99 {o[2]:.2f} ms  spread {spread(off):.1f} %")
print(f"   both on   {n[0]:8.0f} req/s  {n[1]:5.1f} us/req  p99 {n[2]:.2f} ms  spread {spread(on):.1f} %")
print(f"   on/off: req/s {n[0] / o[0]:.2f}x, cpu/req {n[1] / o[1]:.2f}x ({n[1] - o[1]:+.1f} us), p99 {n[2] / o[2]:.2f}x   (target: req/s >= 0.95x)")
PY
