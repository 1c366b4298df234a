#!/usr/bin/env bash
# benchmarks/observability.sh — issue 19's measurement: the plain proxy with metrics (an admin
# listener) and the access log (JSON lines to a file) on, beside the same proxy with both off, in
# one run: two Portcullis processes on the same config but for those two settings, measured
# alternately (ROUNDS rounds of DURATION s, wrk -t1 -c64, the stub nginx upstream; proxy and
# upstream on core 0, wrk on core 1, as the runner's PIN=wrk). Target: at least 0.95x with both on.
#
# Usage: benchmarks/observability.sh   (after swift build -c release; needs wrk and nginx)
# Knobs: DURATION=10 ROUNDS=3 PORTCULLIS_BIN=.build/release/portcullis
set -euo pipefail
source "$(dirname "$0")/lib.sh"
UP=18301 OFF=18380 ON=18381 ADMIN=18391
start_stub_upstream "$UP"

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
compare "both off" "both on" 0.95 "${A[@]}" -- "${B[@]}"
