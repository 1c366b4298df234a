# Shared by the Portcullis-against-itself benchmark scripts (usage-plans.sh,
# external-authorizer.sh, observability.sh); sourced, not run. Sets HERE, ROOT, BIN, WORK, PIDS,
# DURATION and ROUNDS, stops every process in PIDS on exit, and gives:
#   start_stub_upstream PORT          the stub nginx upstream (conf/stub-upstream-nginx.conf) on core 0
#   measure PID URL [wrk args...]     one wrk -t1 -c64 run from core 1: "rps cpu_us_per_req p99_ms errors" (CPU of PID);
#                                     WRK_SCRIPT replaces wrk/report.lua (it must print the same WRK_JSON line)
#   compare NAME_A NAME_B TARGET ROWS_A... -- ROWS_B...   medians, spreads and B/A ratios of measure rows
# shellcheck shell=bash
HERE=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN=${PORTCULLIS_BIN:-$ROOT/.build/release/portcullis}
DURATION=${DURATION:-10} ROUNDS=${ROUNDS:-3}
BENCH_NAME=$(basename "${BASH_SOURCE[1]}")
[[ -x $BIN ]] || { echo "$BENCH_NAME: build first: swift build -c release" >&2; exit 1; }
command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "$BENCH_NAME: needs wrk and nginx (make bench installs them)" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-${BENCH_NAME%.sh}.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

start_stub_upstream() {
  mkdir -p "$WORK/tmp"
  BENCH_DIR=$WORK BENCH_LISTEN_PORT=$1 envsubst '${BENCH_DIR} ${BENCH_LISTEN_PORT}' <"$HERE/conf/stub-upstream-nginx.conf" >"$WORK/nginx.conf"
  taskset -c 0 nginx -c "$WORK/nginx.conf" -p "$WORK" &
  PIDS+=($!)
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

measure() {
  local pid=$1 url=$2 t0 t1 out
  shift 2
  t0=$(cpu_ticks "$pid")
  out=$(taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" --latency -s "${WRK_SCRIPT:-$HERE/wrk/report.lua}" "$@" "$url" | grep '^WRK_JSON' | sed 's/^WRK_JSON //')
  t1=$(cpu_ticks "$pid")
  python3 - "$out" "$t0" "$t1" "$(getconf CLK_TCK)" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); ticks = int(sys.argv[3]) - int(sys.argv[2]); hz = int(sys.argv[4])
e = d["errors"]; errs = e["connect"] + e["read"] + e["write"] + e["timeout"] + e["status"]
print(f'{d["rps"]:.0f} {ticks / hz * 1e6 / max(1, d["requests"]):.1f} {d["p99_us"] / 1000:.2f} {errs}')
PY
}

compare() {
  python3 - "$@" <<'PY'
import sys, statistics as st
name_a, name_b, target = sys.argv[1:4]
a = sys.argv[4:]; i = a.index("--"); rows_a = [r.split() for r in a[:i]]; rows_b = [r.split() for r in a[i + 1:]]
def med(rows, k): return st.median(float(r[k]) for r in rows)
def spread(rows): v = [float(r[0]) for r in rows]; return (max(v) - min(v)) / st.median(v) * 100
x, y = (med(rows_a, 0), med(rows_a, 1), med(rows_a, 2)), (med(rows_b, 0), med(rows_b, 1), med(rows_b, 2))
print(f"   {name_a:16} {x[0]:8.0f} req/s  {x[1]:5.1f} us/req  p99 {x[2]:.2f} ms  spread {spread(rows_a):.1f} %")
print(f"   {name_b:16} {y[0]:8.0f} req/s  {y[1]:5.1f} us/req  p99 {y[2]:.2f} ms  spread {spread(rows_b):.1f} %")
print(f"   {name_b}/{name_a}: req/s {y[0] / x[0]:.2f}x, cpu/req {y[1] / x[1]:.2f}x ({y[1] - x[1]:+.1f} us), p99 {y[2] / x[2]:.2f}x   (target: req/s >= {target}x)")
PY
}
