#!/usr/bin/env bash
# benchmarks/external-authorizer.sh — issue 18's measurements, Portcullis against itself, one run:
#
#  A. cache hits: a route behind a TOKEN authorizer (TTL 300 s, so after the first request every
#     one is a cache hit) beside the plain route of the same process, the same request bytes
#     (Authorization header included) on both, measured alternately: requests/s, CPU per request,
#     p99, and the ratio (target: at least 0.95x the plain route).
#  B. TTL 0: every request calls the authorizer. Reported: calls/s through Portcullis, and the
#     authorizer's own ceiling, measured directly with wrk POSTing the same TOKEN event, for
#     B1. a stub authorizer (nginx answering a fixed Allow policy): what Portcullis adds per call;
#     B2. the workshop's HS256 function behind examples/lambda-authorizer/adapter.py (Python,
#         PyJWT): what a real Lambda-style authorizer allows. Skipped without python3 + PyJWT.
#
# Placement (2 cores): Portcullis and the stub upstream on core 0, wrk on core 1 (as run.sh's
# PIN=wrk); in B the authorizer shares core 1 with wrk, and its direct ceiling is measured with
# it alone on core 0 and wrk on core 1.
#
# Usage: benchmarks/external-authorizer.sh   (after swift build -c release; needs wrk and nginx)
# Knobs: DURATION=10 ROUNDS=3 PORTCULLIS_BIN=.build/release/portcullis
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN=${PORTCULLIS_BIN:-$ROOT/.build/release/portcullis}
DURATION=${DURATION:-10} ROUNDS=${ROUNDS:-3}
UP=18201 PX=18280 AUTH=18290 PYAUTH=18291
[[ -x $BIN ]] || { echo "external-authorizer.sh: build first: swift build -c release" >&2; exit 1; }
command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "external-authorizer.sh: needs wrk and nginx (make bench installs them)" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-extauth.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# The stub upstream (core 0) and the stub authorizer (its own nginx, placed per measurement).
mkdir -p "$WORK/tmp" "$WORK/atmp"
BENCH_DIR=$WORK BENCH_LISTEN_PORT=$UP envsubst '${BENCH_DIR} ${BENCH_LISTEN_PORT}' <"$HERE/conf/stub-upstream-nginx.conf" >"$WORK/nginx.conf"
taskset -c 0 nginx -c "$WORK/nginx.conf" -p "$WORK" &
PIDS+=($!)
ANSWER='{"principalId":"bench-user","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"*"}]},"context":{"tier":"gold"}}'
start_authorizer() {  # start_authorizer CPU
  cat >"$WORK/auth.conf" <<NGINX
worker_processes 1;
daemon off;
pid $WORK/auth.pid;
error_log $WORK/auth-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/atmp/client;
    proxy_temp_path $WORK/atmp/proxy;
    fastcgi_temp_path $WORK/atmp/fastcgi;
    uwsgi_temp_path $WORK/atmp/uwsgi;
    scgi_temp_path $WORK/atmp/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$AUTH;
        default_type application/json;
        location /authorize { return 200 '$ANSWER'; }
    }
}
NGINX
  taskset -c "$1" nginx -c "$WORK/auth.conf" -p "$WORK" &
  AUTH_PID=$!
  PIDS+=($AUTH_PID)
  for _ in $(seq 100); do curl -s -o /dev/null -X POST -d '{}' "http://127.0.0.1:$AUTH/authorize" && return 0; sleep 0.05; done
  echo "external-authorizer.sh: the stub authorizer did not start: $(cat "$WORK/auth-error.log")" >&2; exit 1
}
stop_authorizer() { kill "$AUTH_PID" 2>/dev/null || true; wait "$AUTH_PID" 2>/dev/null || true; }

# A token the workshop function accepts (B2) and the stub ignores: the same bytes everywhere.
TOKEN=$("$BIN" token mint --secret-file "$ROOT/config/secrets/part4-lab.key" --iss portcullis-lab --aud workshop --sub bench --ttl 2h)

cat >"$WORK/p.yaml" <<YAML
workers: 1
access_log: off
listeners: [{ name: bench, listen: "127.0.0.1:$PX" }]
authorizers:
  cached: { type: token, url: "http://127.0.0.1:$AUTH/authorize", identity_source: header.Authorization, cache: { ttl: 300s } }
  uncached: { type: token, url: "http://127.0.0.1:$AUTH/authorize", identity_source: header.Authorization, cache: { ttl: 0s } }
  python: { type: token, url: "http://127.0.0.1:$PYAUTH/authorize", identity_source: header.Authorization, cache: { ttl: 0s } }
apis:
  - name: bench
    id: benchapi01
    stage: bench
    region: eu-west-1
    account: "123456789012"
    routes:
      - { path: "/plain/{proxy+}", upstream: backend }
      - { path: "/cached/{proxy+}", upstream: backend, auth: [cached] }
      - { path: "/uncached/{proxy+}", upstream: backend, auth: [uncached] }
      - { path: "/python/{proxy+}", upstream: backend, auth: [python] }
upstreams:
  backend: { endpoints: ["http://127.0.0.1:$UP"] }
YAML
"$BIN" check --config "$WORK/p.yaml" >/dev/null

start_proxy() {
  taskset -c 0 "$BIN" run --config "$WORK/p.yaml" --log-level error 2>"$WORK/p.log" &
  PX_PID=$!
  PIDS+=($PX_PID)
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$PX/bench/plain/x" && return 0; sleep 0.05; done
  echo "external-authorizer.sh: Portcullis did not start: $(cat "$WORK/p.log")" >&2; exit 1
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# measure PID URL [wrk args...] -> "rps cpu_us_per_req p99_ms errors" (CPU of PID)
measure() {
  local pid=$1 url=$2 t0 t1 out
  shift 2
  t0=$(cpu_ticks "$pid")
  out=$(taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" --latency -s "$HERE/wrk/report.lua" "$@" "$url" | grep '^WRK_JSON' | sed 's/^WRK_JSON //')
  t1=$(cpu_ticks "$pid")
  python3 - "$out" "$t0" "$t1" "$(getconf CLK_TCK)" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); ticks = int(sys.argv[3]) - int(sys.argv[2]); hz = int(sys.argv[4])
e = d["errors"]; errs = e["connect"] + e["read"] + e["write"] + e["timeout"] + e["status"]
print(f'{d["rps"]:.0f} {ticks / hz * 1e6 / max(1, d["requests"]):.1f} {d["p99_us"] / 1000:.2f} {errs}')
PY
}

AUTHZ=(-H "Authorization: Bearer $TOKEN")

echo "== A: cache hits (TOKEN authorizer, TTL 300 s) beside the plain route; wrk -t1 -c64 -d${DURATION}s, $ROUNDS rounds, proxy+upstream on core 0"
start_authorizer 1
start_proxy
code=$(curl -s -o /dev/null -w '%{http_code}' "${AUTHZ[@]}" "http://127.0.0.1:$PX/bench/cached/x")
[[ $code == 200 ]] || { echo "external-authorizer.sh: the cached route answered $code, not 200" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PX/bench/cached/x")
[[ $code == 401 ]] || { echo "external-authorizer.sh: the cached route without a token answered $code, not 401" >&2; exit 1; }
taskset -c 1 wrk -t1 -c64 -d3s "${AUTHZ[@]}" "http://127.0.0.1:$PX/bench/plain/hello" >/dev/null
taskset -c 1 wrk -t1 -c64 -d3s "${AUTHZ[@]}" "http://127.0.0.1:$PX/bench/cached/hello" >/dev/null
declare -a PLAIN CACHED
for r in $(seq "$ROUNDS"); do
  PLAIN+=("$(measure "$PX_PID" "http://127.0.0.1:$PX/bench/plain/hello" "${AUTHZ[@]}")")
  CACHED+=("$(measure "$PX_PID" "http://127.0.0.1:$PX/bench/cached/hello" "${AUTHZ[@]}")")
  echo "   round $r: plain ${PLAIN[-1]}  |  cached ${CACHED[-1]}   (req/s cpu-us/req p99-ms errors)"
done
python3 - "${PLAIN[@]}" -- "${CACHED[@]}" <<'PY'
import sys, statistics as st
a = sys.argv[1:]; i = a.index("--"); plain = [r.split() for r in a[:i]]; cached = [r.split() for r in a[i + 1:]]
def med(rows, k): return st.median(float(r[k]) for r in rows)
def spread(rows): v = [float(r[0]) for r in rows]; return (max(v) - min(v)) / st.median(v) * 100
p, c = (med(plain, 0), med(plain, 1), med(plain, 2)), (med(cached, 0), med(cached, 1), med(cached, 2))
print(f"   plain-route      {p[0]:8.0f} req/s  {p[1]:5.1f} us/req  p99 {p[2]:.2f} ms  spread {spread(plain):.1f} %")
print(f"   cached-route     {c[0]:8.0f} req/s  {c[1]:5.1f} us/req  p99 {c[2]:.2f} ms  spread {spread(cached):.1f} %")
print(f"   cached/plain: req/s {c[0] / p[0]:.2f}x, cpu/req {c[1] / p[1]:.2f}x (+{c[1] - p[1]:.1f} us), p99 {c[2] / p[2]:.2f}x   (target: req/s >= 0.95x)")
PY

# The TOKEN event Portcullis sends, for the direct measurements.
cat >"$WORK/event.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"TOKEN","authorizationToken":"Bearer $TOKEN","methodArn":"arn:aws:execute-api:eu-west-1:123456789012:benchapi01/bench/GET/uncached/hello"}'
LUA
cat "$HERE/wrk/report.lua" >>"$WORK/event.lua"

direct() {  # direct PID URL -> like measure, wrk POSTing the event (authorizer on core 0, wrk on core 1)
  local pid=$1 url=$2 t0 t1 out
  t0=$(cpu_ticks "$pid")
  out=$(taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" --latency -s "$WORK/event.lua" "$url" | grep '^WRK_JSON' | sed 's/^WRK_JSON //')
  t1=$(cpu_ticks "$pid")
  python3 - "$out" "$t0" "$t1" "$(getconf CLK_TCK)" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); ticks = int(sys.argv[3]) - int(sys.argv[2]); hz = int(sys.argv[4])
e = d["errors"]; errs = e["connect"] + e["read"] + e["write"] + e["timeout"] + e["status"]
print(f'{d["rps"]:.0f} {ticks / hz * 1e6 / max(1, d["requests"]):.1f} {d["p99_us"] / 1000:.2f} {errs}')
PY
}

report_b() {  # report_b NAME THROUGH DIRECT
  python3 - "$@" <<'PY'
import sys
name, through, direct = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
print(f"   {name}: through Portcullis {float(through[0]):.0f} calls/s (p99 {through[2]} ms, Portcullis {through[1]} us/req, errors {through[3]});"
      f" the authorizer alone {float(direct[0]):.0f} calls/s (p99 {direct[2]} ms, errors {direct[3]});"
      f" through/alone {float(through[0]) / float(direct[0]):.2f}x")
PY
}

echo "== B: TTL 0, every request calls the authorizer; wrk -t1 -c64 -d${DURATION}s"
taskset -c 1 wrk -t1 -c64 -d3s "${AUTHZ[@]}" "http://127.0.0.1:$PX/bench/uncached/hello" >/dev/null
B1=$(measure "$PX_PID" "http://127.0.0.1:$PX/bench/uncached/hello" "${AUTHZ[@]}")
stop_authorizer
start_authorizer 0
B1D=$(direct "$AUTH_PID" "http://127.0.0.1:$AUTH/authorize")
stop_authorizer
report_b "B1 stub authorizer (nginx)" "$B1" "$B1D"

if python3 -c 'import jwt' 2>/dev/null; then
  start_py() {  # start_py CPU
    taskset -c "$1" python3 "$ROOT/examples/lambda-authorizer/adapter.py" --handler workshop_authorizer:handler --listen "127.0.0.1:$PYAUTH" \
      >"$WORK/py.log" 2>&1 &
    PY_PID=$!
    PIDS+=($PY_PID)
    for _ in $(seq 200); do curl -s -o /dev/null -X POST -d '{}' "http://127.0.0.1:$PYAUTH/authorize" && return 0; sleep 0.05; done
    echo "external-authorizer.sh: the Python adapter did not start: $(cat "$WORK/py.log")" >&2; exit 1
  }
  start_py 1
  code=$(curl -s -o /dev/null -w '%{http_code}' "${AUTHZ[@]}" "http://127.0.0.1:$PX/bench/python/x")
  [[ $code == 200 ]] || { echo "external-authorizer.sh: the Python-authorized route answered $code, not 200: $(cat "$WORK/py.log")" >&2; exit 1; }
  B2=$(measure "$PX_PID" "http://127.0.0.1:$PX/bench/python/hello" "${AUTHZ[@]}")
  kill "$PY_PID"; wait "$PY_PID" 2>/dev/null || true
  start_py 0
  B2D=$(direct "$PY_PID" "http://127.0.0.1:$PYAUTH/authorize")
  kill "$PY_PID"; wait "$PY_PID" 2>/dev/null || true
  report_b "B2 workshop HS256 function (Python adapter)" "$B2" "$B2D"
else
  echo "   B2 skipped: python3 with PyJWT is needed (pip install pyjwt)"
fi
