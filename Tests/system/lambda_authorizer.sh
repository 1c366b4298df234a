#!/usr/bin/env bash
# System test (issue 18, "Must show" 2): the workshop's HS256 custom authorizer, an unchanged
# Python Lambda handler (examples/lambda-authorizer/workshop_authorizer.py, PyJWT), served over
# HTTP by examples/lambda-authorizer/adapter.py, end to end through Portcullis on
# config/part4-lambda-authorizer.yaml (ports rewritten): allow with the context mapped to upstream
# headers, answers cached (one call per token), 401 for a missing, malformed or forged token,
# 403 for the handler's Deny, 500 when the function is gone, while cached tokens keep working.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
time_limit 120
require_bin

if ! python3 -c 'import jwt' 2>/dev/null; then
    fail "PyJWT is not installed (make test-deps installs Tests/requirements.txt)"; exit 1
fi

ECHO_PORT=$(free_port)
AUTHZ_PORT=$(free_port)
PROXY_PORT=$(free_port)
CONFIG="$WORKDIR/lambda.yaml"
sed -e "s/127.0.0.1:9100/127.0.0.1:$AUTHZ_PORT/" -e "s/127.0.0.1:8080/127.0.0.1:$PROXY_PORT/" \
    -e "s/127.0.0.1:9001/127.0.0.1:$ECHO_PORT/" -e "s/^workers: auto/workers: 2/" -e "s/^access_log: stdout/access_log: off/" \
    config/part4-lambda-authorizer.yaml >"$CONFIG"

start_echo "$ECHO_PORT" "$WORKDIR/echo.log"
python3 examples/lambda-authorizer/adapter.py --handler workshop_authorizer:handler --listen "127.0.0.1:$AUTHZ_PORT" \
    >"$WORKDIR/adapter.log" 2>&1 &
ADAPTER_PID=$!
PIDS+=("$ADAPTER_PID")
if ! wait_port "$AUTHZ_PORT" "$ADAPTER_PID" 15; then fail "adapter did not listen"; cat "$WORKDIR/adapter.log"; exit 1; fi
start_proxy "$CONFIG" "$PROXY_PORT" "$WORKDIR/proxy.log"

SECRET=config/secrets/part4-lab.key
mint() { "$BIN" token mint --secret-file "$SECRET" --iss portcullis-lab --aud workshop --ttl 1h "$@"; }
ALICE=$(mint --sub alice --claim role=admin)
BOB=$(mint --sub bob --claim role=reader)
BANNED=$(mint --sub mallory --claim role=banned)
FORGED=$(python3 -c 'import jwt, time; print(jwt.encode({"sub": "eve", "iss": "portcullis-lab", "aud": "workshop", "exp": int(time.time()) + 3600}, "not-the-lab-secret-0123456789abcdef", algorithm="HS256"))')
URL="http://127.0.0.1:$PROXY_PORT/lab/custom"
calls() { grep -c '"POST /authorize' "$WORKDIR/adapter.log" || true; }

s=$(http_status "$URL")
if [ "$s" = 401 ]; then pass "no token: 401 without a call"; else fail "no token: $s, expected 401"; fi
s=$(http_status "$URL" -H "Authorization: Basic YWxpY2U6cHc=")
if [ "$s" = 401 ]; then pass "token failing the validation expression: 401"; else fail "Basic credentials: $s, expected 401"; fi
if [ "$(calls)" = 0 ]; then pass "the authorizer was not called for either"; else fail "authorizer called $(calls) times for requests without a bearer token"; fi

body=$(curl -s --max-time 10 -H "Authorization: Bearer $ALICE" "$URL")
if echo "$body" | python3 -c 'import json, sys; h = json.load(sys.stdin)["headers"]; sys.exit(0 if h.get("x-user-id") == "alice" and h.get("x-user-role") == "admin" else 1)'; then
    pass "alice admitted; principalId and context.role reached the upstream as X-User-Id / X-User-Role"
else
    fail "alice: unexpected upstream view: $body"
fi
for _ in 1 2 3; do http_status "$URL" -H "Authorization: Bearer $ALICE" >/dev/null; done
s=$(http_status "http://127.0.0.1:$PROXY_PORT/lab/custom/admin" -X POST -H "Authorization: Bearer $ALICE")
if [ "$s" = 200 ]; then pass "the stage-wide cached policy admits another method of the API"; else fail "POST /custom/admin: $s, expected 200"; fi
if [ "$(calls)" = 1 ]; then pass "five requests with one token: one authorizer call (cached)"; else fail "expected 1 authorizer call, saw $(calls)"; fi

s=$(http_status "$URL" -H "Authorization: Bearer $FORGED")
if [ "$s" = 401 ]; then pass "forged token: the handler raised Unauthorized, client got 401"; else fail "forged token: $s, expected 401"; fi
deny=$(curl -s --max-time 10 -H "Authorization: Bearer $BANNED" "$URL")
if [ "$deny" = '{"Message":"User is not authorized to access this resource with an explicit deny"}' ]; then
    pass "handler's Deny: 403 with API Gateway's explicit-deny body"
else
    fail "banned: unexpected body $deny"
fi

kill -TERM "$ADAPTER_PID"; wait "$ADAPTER_PID" 2>/dev/null || true; forget_pid "$ADAPTER_PID"
s=$(http_status "$URL" -H "Authorization: Bearer $BOB")
if [ "$s" = 500 ]; then pass "function gone: a new token gets 500 (AUTHORIZER_FAILURE)"; else fail "adapter down, new token: $s, expected 500"; fi
s=$(http_status "$URL" -H "Authorization: Bearer $ALICE")
if [ "$s" = 200 ]; then pass "function gone: the cached token is still admitted"; else fail "adapter down, cached token: $s, expected 200"; fi

finish
