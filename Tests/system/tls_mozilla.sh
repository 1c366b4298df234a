#!/usr/bin/env bash
# System test (issue 19, "Found when tried as a new user would"; "Must show" 4): sslyze, an
# independent TLS scanner from PyPI, finds the TLS listener compliant with Mozilla's
# "intermediate" configuration: TLS 1.2 and 1.3 only, its cipher suites, and its key-exchange
# groups X25519, P-256 and P-384 (OpenSSL's own default would also offer X448 and P-521, which it
# flags). The certificate is a fresh dev one from certs/generate.sh (365 days, within Mozilla's
# limit), trusted through sslyze's --certinfo_ca_file.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
time_limit 180
require_bin

if ! python3 -c 'import sslyze' 2>/dev/null; then
    echo "  sslyze not found; installing it from PyPI"
    python3 -m pip install -q --disable-pip-version-check sslyze >/dev/null 2>&1 \
        || python3 -m pip install -q --disable-pip-version-check --break-system-packages sslyze >/dev/null 2>&1 \
        || { fail "could not install sslyze"; exit 1; }
fi

bash certs/generate.sh "$WORKDIR/certs" 2>/dev/null
ECHO_PORT=$(free_port)
TLS_PORT=$(free_port)
cat >"$WORKDIR/portcullis.yaml" <<EOF2
workers: 1
access_log: off
listeners:
  - name: tls
    listen: "127.0.0.1:$TLS_PORT"
    tls: { certificates: [{ cert: $WORKDIR/certs/server.crt, key: $WORKDIR/certs/server.key }] }
apis:
  - { name: demo, stage: demo, routes: [{ path: /public, methods: [GET], upstream: backend }] }
upstreams:
  backend: { endpoints: ["http://127.0.0.1:$ECHO_PORT"] }
EOF2
start_echo "$ECHO_PORT" "$WORKDIR/echo.log"
start_proxy "$WORKDIR/portcullis.yaml" "$TLS_PORT" "$WORKDIR/portcullis.log"

rc=0
timeout 150 python3 -m sslyze --mozilla_config=intermediate --certinfo_ca_file "$WORKDIR/certs/ca.crt" "127.0.0.1:$TLS_PORT" \
    >"$WORKDIR/sslyze.out" 2>&1 || rc=$?
grep -E 'Supported curves|Rejected curves|TLS 1\.[0-3]|Compliant|FAILED|^\s+\* ' "$WORKDIR/sslyze.out" | head -30 | sed 's/^/  | /'
if [ "$rc" -eq 0 ] && grep -q "127.0.0.1:$TLS_PORT: OK - Compliant" "$WORKDIR/sslyze.out"; then
    pass "sslyze: compliant with Mozilla's intermediate configuration"
else
    fail "sslyze: not compliant with Mozilla's intermediate configuration (exit $rc)"
fi
if grep -qE 'Supported curves: +X25519, secp256r1, secp384r1$' "$WORKDIR/sslyze.out"; then
    pass "key-exchange groups offered: exactly X25519, P-256, P-384"
else
    fail "key-exchange groups: $(grep 'Supported curves' "$WORKDIR/sslyze.out" || echo none reported)"
fi
stop_proxy_expect_exit0 "$PROXY_PID"
finish
