#!/usr/bin/env bash
# System test (issue 3, "Must show" 1 and 2), with independent clients (curl, openssl s_client):
#  1. curl --cacert ca.crt https://localhost:PORT/demo/public answers 200 and the upstream sees
#     x-forwarded-proto: https (and the other CA fails verification); s_client with
#     -servername other.local (and a wildcard name) gets the RSA other.local certificate, without
#     SNI or with an unknown name the default localhost one; -tls1_1 is refused with a
#     protocol_version alert; TLS 1.2 and 1.3 both work (ALPN http/1.1); a min_version "1.3"
#     listener refuses TLS 1.2.
#  2. mTLS, client_auth: require: curl without a client certificate fails (no HTTP response, TLS
#     1.3 and 1.2), one from another CA fails, with client.crt it answers 200 and the upstream
#     sees x-client-cert-subject containing CN=demo-client (plus issuer and SHA-256); forged
#     X-Client-Cert-* headers never reach the upstream; client_auth: optional admits both.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
time_limit 120
require_bin

START=$SECONDS
for tool in curl openssl python3; do
    command -v "$tool" >/dev/null 2>&1 || { fail "$tool not found"; exit 1; }
done

# Two independent dev CAs (generate.sh wants an absolute OUTDIR).
CA_A="$WORKDIR/certs-a"
CA_B="$WORKDIR/certs-b"
for d in "$CA_A" "$CA_B"; do
    timeout 60 "$REPO_ROOT/certs/generate.sh" "$d" >"$d.log" 2>&1 || { fail "certs/generate.sh $d failed"; cat "$d.log"; exit 1; }
done

ECHO_PORT=$(free_port)
TLS_PORT=$(free_port)
TLS13_PORT=$(free_port)
MTLS_PORT=$(free_port)
OPT_PORT=$(free_port)
export ECHO_PORT TLS_PORT TLS13_PORT MTLS_PORT OPT_PORT
CFG="$WORKDIR/portcullis.yaml"
cat >"$CFG" <<EOF
# written by Tests/system/tls_cli.sh
workers: 2
access_log: off
listeners:
  - name: secure
    listen: "127.0.0.1:\${TLS_PORT}"
    tls:
      certificates:
        - { cert: $CA_A/server.crt, key: $CA_A/server.key }
        - { cert: $CA_A/other.crt, key: $CA_A/other.key }
      min_version: "1.2"
      client_auth: none
  - name: secure13
    listen: "127.0.0.1:\${TLS13_PORT}"
    tls:
      certificates: [{ cert: $CA_A/server.crt, key: $CA_A/server.key }]
      min_version: "1.3"
  - name: mtls
    listen: "127.0.0.1:\${MTLS_PORT}"
    tls:
      certificates: [{ cert: $CA_A/server.crt, key: $CA_A/server.key }]
      client_auth: require
      client_ca: $CA_A/ca.crt
  - name: mtls-optional
    listen: "127.0.0.1:\${OPT_PORT}"
    tls:
      certificates: [{ cert: $CA_A/server.crt, key: $CA_A/server.key }]
      client_auth: optional
      client_ca: $CA_A/ca.crt
apis:
  - name: demo
    stage: demo
    routes:
      - { path: /public, methods: [GET], upstream: backend }
upstreams:
  backend:
    endpoints: ["http://127.0.0.1:\${ECHO_PORT}"]
EOF
timeout 30 "$BIN" check --config "$CFG" >"$WORKDIR/check.out" 2>&1 \
    && pass "portcullis check accepts the TLS config" \
    || { fail "portcullis check rejects the TLS config"; cat "$WORKDIR/check.out"; exit 1; }

start_echo "$ECHO_PORT" "$WORKDIR/echo.log"
start_proxy "$CFG" "$TLS_PORT" "$WORKDIR/portcullis.log"
for p in "$TLS13_PORT" "$MTLS_PORT" "$OPT_PORT"; do
    wait_port "$p" "$PROXY_PID" 10 || { fail "portcullis did not listen on 127.0.0.1:$p"; cat "$WORKDIR/portcullis.log"; exit 1; }
done
info "echo :$ECHO_PORT; portcullis (pid $PROXY_PID) secure :$TLS_PORT, secure13 :$TLS13_PORT, mtls :$MTLS_PORT, optional :$OPT_PORT"

# tls_curl NAME PORT [curl args...]: GET https://localhost:PORT/demo/public (localhost pinned to
# 127.0.0.1); body in $WORKDIR/NAME.body, stderr in NAME.err; sets CODE (HTTP status, 000 if
# none) and CURL_RC.
tls_curl() {
    local name=$1 port=$2; shift 2
    CURL_RC=0
    CODE=$(curl -sS -o "$WORKDIR/$name.body" -w '%{http_code}' --max-time 10 \
        --resolve "localhost:$port:127.0.0.1" "$@" "https://localhost:$port/demo/public" 2>"$WORKDIR/$name.err") || CURL_RC=$?
    CODE=${CODE:-000}
}
# upstream_header NAME HEADER: the header (lower-case) as the echo upstream saw it, or "".
upstream_header() {
    python3 - "$WORKDIR/$1.body" "$2" <<'EOF' 2>/dev/null || true
import json, sys
try:
    print(json.load(open(sys.argv[1]))["headers"].get(sys.argv[2], ""))
except Exception:
    print("")
EOF
}
# s_client NAME PORT [openssl s_client args...]: output in $WORKDIR/NAME.sc; sets SC_RC.
s_client() {
    local name=$1 port=$2; shift 2
    SC_RC=0
    timeout 15 openssl s_client -connect "127.0.0.1:$port" "$@" </dev/null >"$WORKDIR/$name.sc" 2>&1 || SC_RC=$?
}
# peer_cert NAME: subject and SAN of the certificate in s_client output NAME, on one line.
peer_cert() {
    openssl x509 -in "$WORKDIR/$1.sc" -noout -subject -ext subjectAltName 2>/dev/null | tr -s ' \n' ' ' || true
}
fp_of() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }

echo "--- 1. TLS listener (min_version 1.2, SNI: localhost default + other.local)"
tls_curl public "$TLS_PORT" --cacert "$CA_A/ca.crt"
proto=$(upstream_header public x-forwarded-proto)
if [ "$CODE" = 200 ] && [ "$proto" = https ]; then
    pass "curl --cacert ca.crt https://localhost:$TLS_PORT/demo/public: 200, upstream sees x-forwarded-proto: https"
else fail "curl --cacert ca.crt: status $CODE, curl exit $CURL_RC, x-forwarded-proto '$proto' ($(cat "$WORKDIR/public.err"))"; fi

tls_curl wrongca "$TLS_PORT" --cacert "$CA_B/ca.crt"
if [ "$CODE" = 000 ] && [ "$CURL_RC" -eq 60 ]; then pass "curl with the other CA's ca.crt fails certificate verification (exit 60)"
else fail "curl with the other CA: status $CODE, curl exit $CURL_RC (expected 000, exit 60)"; fi

s_client sni_other "$TLS_PORT" -servername other.local -CAfile "$CA_A/ca.crt" -verify_hostname other.local
cert=$(peer_cert sni_other)
if [[ "$cert" == *"CN = other.local"* && "$cert" == *"DNS:other.local"* && "$cert" == *"DNS:*.other.local"* ]] \
    && grep -q 'Verify return code: 0 (ok)' "$WORKDIR/sni_other.sc"; then
    pass "s_client -servername other.local gets the other.local certificate, verified for other.local ($cert)"
else fail "s_client -servername other.local: exit $SC_RC, certificate '$cert', $(grep -m1 'Verify return code' "$WORKDIR/sni_other.sc" || echo 'no verify result')"; fi
if [ "$(openssl x509 -in "$WORKDIR/sni_other.sc" -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2)" = "$(fp_of "$CA_A/other.crt")" ] \
    && openssl x509 -in "$WORKDIR/sni_other.sc" -noout -text 2>/dev/null | grep -q 'rsaEncryption'; then
    pass "  ... and it is exactly other.crt (SHA-256 fingerprint), an RSA certificate"
else fail "the certificate served for other.local is not other.crt (RSA)"; fi

s_client sni_wild "$TLS_PORT" -servername api.other.local
cert=$(peer_cert sni_wild)
if [[ "$cert" == *"CN = other.local"* ]]; then pass "s_client -servername api.other.local gets other.local through its *.other.local SAN"
else fail "s_client -servername api.other.local: exit $SC_RC, certificate '$cert' (expected the *.other.local one)"; fi

s_client nosni "$TLS_PORT" -noservername -CAfile "$CA_A/ca.crt" -verify_ip 127.0.0.1
cert=$(peer_cert nosni)
if [[ "$cert" == *"CN = localhost"* && "$cert" == *"DNS:localhost"* && "$cert" == *"IP Address:127.0.0.1"* ]] \
    && grep -q 'Verify return code: 0 (ok)' "$WORKDIR/nosni.sc" \
    && [ "$(openssl x509 -in "$WORKDIR/nosni.sc" -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2)" = "$(fp_of "$CA_A/server.crt")" ]; then
    pass "s_client without -servername gets the default localhost certificate (server.crt, verified for 127.0.0.1)"
else fail "s_client without SNI: exit $SC_RC, certificate '$cert', $(grep -m1 'Verify return code' "$WORKDIR/nosni.sc" || echo 'no verify result')"; fi

s_client sni_unknown "$TLS_PORT" -servername unknown.example
cert=$(peer_cert sni_unknown)
if [[ "$cert" == *"CN = localhost"* ]]; then pass "s_client -servername unknown.example falls back to the default localhost certificate"
else fail "s_client -servername unknown.example: exit $SC_RC, certificate '$cert' (expected the default localhost one)"; fi

# The client must really offer TLS 1.1 (OpenSSL 3 refuses it client-side at security level >= 1),
# so the refusal seen here is the server's.
s_client tls11 "$TLS_PORT" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'
if [ "$SC_RC" -ne 0 ] && grep -q 'alert protocol version' "$WORKDIR/tls11.sc" && grep -q 'no peer certificate available' "$WORKDIR/tls11.sc"; then
    pass "s_client -tls1_1 is refused by the server (protocol_version alert, no certificate sent)"
else fail "s_client -tls1_1: exit $SC_RC, $(grep -m1 -E 'alert|Protocol *:' "$WORKDIR/tls11.sc" || echo 'no alert')"; fi

s_client tls13 "$TLS_PORT" -tls1_3 -alpn http/1.1
if [ "$SC_RC" -eq 0 ] && grep -qE '(Protocol *: |New, )TLSv1\.3' "$WORKDIR/tls13.sc" && grep -q 'ALPN protocol: http/1.1' "$WORKDIR/tls13.sc"; then
    pass "s_client -tls1_3 -alpn http/1.1: TLSv1.3 with ALPN http/1.1"
else fail "s_client -tls1_3: exit $SC_RC, $(grep -m2 -E 'Protocol *:|ALPN' "$WORKDIR/tls13.sc" | tr '\n' ' ')"; fi
s_client tls12 "$TLS_PORT" -tls1_2
if [ "$SC_RC" -eq 0 ] && grep -qE '(Protocol *: |New, )TLSv1\.2' "$WORKDIR/tls12.sc"; then pass "s_client -tls1_2: TLSv1.2 accepted (min_version 1.2)"
else fail "s_client -tls1_2 on the min_version 1.2 listener: exit $SC_RC, $(grep -m1 -E 'alert|Protocol *:' "$WORKDIR/tls12.sc" || true)"; fi
tls_curl curl13 "$TLS_PORT" --cacert "$CA_A/ca.crt" --tlsv1.3
if [ "$CODE" = 200 ]; then pass "curl --tlsv1.3 through the proxy: 200"
else fail "curl --tlsv1.3: status $CODE, curl exit $CURL_RC"; fi

s_client min13_12 "$TLS13_PORT" -tls1_2
s12=$SC_RC
s_client min13_13 "$TLS13_PORT" -tls1_3
if [ "$s12" -ne 0 ] && grep -q 'alert protocol version' "$WORKDIR/min13_12.sc" && [ "$SC_RC" -eq 0 ] && grep -qE '(Protocol *: |New, )TLSv1\.3' "$WORKDIR/min13_13.sc"; then
    pass "min_version \"1.3\" listener: -tls1_2 refused (protocol_version alert), -tls1_3 accepted"
else fail "min_version 1.3 listener: -tls1_2 exit $s12 ($(grep -m1 -E 'alert|Protocol *:' "$WORKDIR/min13_12.sc" || true)), -tls1_3 exit $SC_RC"; fi

tls_curl forged "$TLS_PORT" --cacert "$CA_A/ca.crt" -H 'X-Client-Cert-Subject: CN=forged' -H 'X-Client-Cert-SHA256: 00'
if [ "$CODE" = 200 ] && [ -z "$(upstream_header forged x-client-cert-subject)" ] && [ -z "$(upstream_header forged x-client-cert-sha256)" ]; then
    pass "client_auth none: forged X-Client-Cert-* request headers are stripped before the upstream"
else fail "client_auth none, forged headers: status $CODE, upstream saw subject '$(upstream_header forged x-client-cert-subject)'"; fi

echo "--- 2. mTLS listener (client_auth: require, client_ca = CA A)"
tls_curl nocert13 "$MTLS_PORT" --cacert "$CA_A/ca.crt"
if [ "$CODE" = 000 ] && [ "$CURL_RC" -ne 0 ] && grep -qiE 'certificate required|handshake failure' "$WORKDIR/nocert13.err"; then
    pass "curl without a client certificate (TLS 1.3): no HTTP response, exit $CURL_RC: $(tr -d '\n' <"$WORKDIR/nocert13.err" | sed 's/.*routines:://')"
else fail "curl without a client certificate (TLS 1.3): status $CODE, exit $CURL_RC, $(cat "$WORKDIR/nocert13.err")"; fi
tls_curl nocert12 "$MTLS_PORT" --cacert "$CA_A/ca.crt" --tls-max 1.2
if [ "$CODE" = 000 ] && [ "$CURL_RC" -eq 35 ]; then
    pass "curl without a client certificate (TLS 1.2): the handshake fails (exit 35: $(tr -d '\n' <"$WORKDIR/nocert12.err" | sed 's/.*routines:://'))"
else fail "curl without a client certificate (TLS 1.2): status $CODE, exit $CURL_RC (expected 000, exit 35), $(cat "$WORKDIR/nocert12.err")"; fi
s_client nocert_sc "$MTLS_PORT" -tls1_2 -CAfile "$CA_A/ca.crt"
if [ "$SC_RC" -ne 0 ] && grep -qE 'alert (handshake failure|certificate required)' "$WORKDIR/nocert_sc.sc"; then
    pass "s_client without a client certificate (TLS 1.2): handshake refused by the server"
else fail "s_client without a client certificate: exit $SC_RC, $(grep -m1 -E 'alert|Protocol *:' "$WORKDIR/nocert_sc.sc" || true)"; fi

tls_curl withcert "$MTLS_PORT" --cacert "$CA_A/ca.crt" --cert "$CA_A/client.crt" --key "$CA_A/client.key" -H 'X-Client-Cert-Subject: CN=forged'
subject=$(upstream_header withcert x-client-cert-subject)
issuer=$(upstream_header withcert x-client-cert-issuer)
sha=$(upstream_header withcert x-client-cert-sha256)
want_sha=$(fp_of "$CA_A/client.crt" | tr -d ':' | tr 'A-F' 'a-f')
if [ "$CODE" = 200 ] && [[ "$subject" == *"CN=demo-client"* ]] && [[ "$subject" != *forged* ]]; then
    pass "curl --cert client.crt --key client.key: 200, upstream sees x-client-cert-subject: $subject (forged copy replaced)"
else fail "curl with the client certificate: status $CODE, exit $CURL_RC, x-client-cert-subject '$subject' ($(cat "$WORKDIR/withcert.err"))"; fi
if [[ "$issuer" == *"CN=Portcullis Dev CA"* ]] && [ "$(echo "$sha" | tr 'A-F' 'a-f' | tr -d ':')" = "$want_sha" ]; then
    pass "  ... x-client-cert-issuer: $issuer; x-client-cert-sha256 matches client.crt"
else fail "x-client-cert-issuer '$issuer', x-client-cert-sha256 '$sha' (expected $want_sha)"; fi
other_hdrs=$(python3 -c 'import json,sys; h=json.load(open(sys.argv[1]))["headers"]; print(" ".join(sorted(k for k in h if k.startswith("x-client-cert-"))))' "$WORKDIR/withcert.body" 2>/dev/null || true)
info "upstream saw: $other_hdrs"
missing=""
for h in subject issuer serial san not-before not-after sha256; do [[ " $other_hdrs " == *" x-client-cert-$h "* ]] || missing="$missing $h"; done
if [ -z "$missing" ]; then pass "all seven X-Client-Cert-* headers reach the upstream"
else fail "X-Client-Cert-* headers missing at the upstream:$missing"; fi

tls_curl othercacert "$MTLS_PORT" --cacert "$CA_A/ca.crt" --cert "$CA_B/client.crt" --key "$CA_B/client.key"
if [ "$CODE" = 000 ] && [ "$CURL_RC" -ne 0 ]; then pass "a client certificate from another CA is rejected (exit $CURL_RC: $(tr -d '\n' <"$WORKDIR/othercacert.err" | sed 's/.*routines:://'))"
else fail "client certificate from another CA: status $CODE, exit $CURL_RC (expected no response)"; fi

echo "--- 2b. client_auth: optional"
tls_curl opt_none "$OPT_PORT" --cacert "$CA_A/ca.crt"
c_none=$CODE; s_none=$(upstream_header opt_none x-client-cert-subject)
tls_curl opt_cert "$OPT_PORT" --cacert "$CA_A/ca.crt" --cert "$CA_A/client.crt" --key "$CA_A/client.key"
c_cert=$CODE; s_cert=$(upstream_header opt_cert x-client-cert-subject)
if [ "$c_none" = 200 ] && [ -z "$s_none" ] && [ "$c_cert" = 200 ] && [[ "$s_cert" == *"CN=demo-client"* ]]; then
    pass "optional: without a certificate 200 and no subject header, with one 200 and subject $s_cert"
else fail "optional: without cert status $c_none subject '$s_none'; with cert status $c_cert subject '$s_cert'"; fi

kill -0 "$PROXY_PID" 2>/dev/null && pass "portcullis still running after all handshake failures" || fail "portcullis died"
echo "--- portcullis log (errors and warnings):"
grep -iE 'error|warn|fail|crit' "$WORKDIR/portcullis.log" | head -20 | sed 's/^/  | /' || true

stop_proxy_expect_exit0 "$PROXY_PID"

info "took $((SECONDS - START))s"
finish
