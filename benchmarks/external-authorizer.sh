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
# Placement (2 cores): Portcullis and the stub upstream on core 0, wrk on core 1 (as the runner's
# PIN=wrk); in B the authorizer shares core 1 with wrk, and its direct ceiling is measured with
# it alone on core 0 and wrk on core 1.
#
# Usage: benchmarks/external-authorizer.sh   (after swift build -c release; needs wrk and nginx)
# Knobs: DURATION=10 ROUNDS=3 PORTCULLIS_BIN=.build/release/portcullis
set -euo pipefail
source "$(dirname "$0")/lib.sh"
UP=18201 PX=18280 AUTH=18290 PYAUTH=18291

# The stub upstream (core 0) and the stub authorizer (its own nginx, placed per measurement).
start_stub_upstream "$UP"
mkdir -p "$WORK/atmp"
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
compare plain-route cached-route 0.95 "${PLAIN[@]}" -- "${CACHED[@]}"

# The TOKEN event Portcullis sends, for the direct measurements.
cat >"$WORK/event.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"TOKEN","authorizationToken":"Bearer $TOKEN","methodArn":"arn:aws:execute-api:eu-west-1:123456789012:benchapi01/bench/GET/uncached/hello"}'
LUA
cat "$HERE/wrk/report.lua" >>"$WORK/event.lua"

direct() {  # direct PID URL: like measure, wrk POSTing the event (authorizer on core 0, wrk on core 1)
  WRK_SCRIPT="$WORK/event.lua" measure "$1" "$2"
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
