#!/usr/bin/env bash
# System test (issue 3, "Must show" 3): certificate rotation by SIGHUP under load. With workers: 2
# and `wrk -t1 -c32 -d15s` over https on the TLS listener, 10 SIGHUPs alternate the config between
# certificate set A and set B (two independent dev CAs, ~1 s apart, each file replaced atomically
# with mv), and one more SIGHUP in the middle loads a config whose key file is missing: that reload
# fails (logged) and the old certificates keep serving. Asserted: zero socket errors and zero
# non-2xx in wrk; after every reload a fresh handshake shows exactly the expected server.crt
# (SHA-256 fingerprint); a prober doing a fresh handshake every ~50 ms through all reloads never
# fails and only ever sees A's or B's certificate; a keep-alive connection opened (and verified
# against CA A) before the first rotation keeps working, on the same socket with A's certificate,
# after the rotations; at the end curl with the expected CA succeeds and with the other CA fails.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
time_limit 150
require_bin

START=$SECONDS
DURATION=${TLS_ROTATION_WRK_DURATION:-15}
GOOD_RELOADS=10
BROKEN_AT=6    # the 6th of the 11 SIGHUPs loads a config whose key file is missing

for tool in curl openssl python3; do
    command -v "$tool" >/dev/null 2>&1 || { fail "$tool not found"; exit 1; }
done
if ! command -v wrk >/dev/null 2>&1; then
    echo "  wrk not found; installing it with apt-get"
    SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    timeout 300 $SUDO apt-get install -y wrk >/dev/null 2>&1 \
        || { timeout 300 $SUDO apt-get update >/dev/null 2>&1 && timeout 300 $SUDO apt-get install -y wrk >/dev/null 2>&1; } \
        || { fail "could not install wrk"; exit 1; }
fi

# Certificate sets A and B: two independent dev CAs (generate.sh wants an absolute OUTDIR).
declare -A DIR=([A]="$WORKDIR/certs-a" [B]="$WORKDIR/certs-b")
for s in A B; do
    timeout 60 "$REPO_ROOT/certs/generate.sh" "${DIR[$s]}" >"${DIR[$s]}.log" 2>&1 \
        || { fail "certs/generate.sh ${DIR[$s]} failed"; cat "${DIR[$s]}.log"; exit 1; }
done
fp_of() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }
declare -A FP=([A]="$(fp_of "${DIR[A]}/server.crt")" [B]="$(fp_of "${DIR[B]}/server.crt")")
declare -A FP_OTHER=([A]="$(fp_of "${DIR[A]}/other.crt")" [B]="$(fp_of "${DIR[B]}/other.crt")")
[ "${FP[A]}" != "${FP[B]}" ] || { fail "sets A and B have the same server certificate"; exit 1; }
info "server.crt A ${FP[A]:0:23}..., B ${FP[B]:0:23}..."

ECHO_PORT=$(free_port)
TLS_PORT=$(free_port)
export ECHO_PORT TLS_PORT
CFG="$WORKDIR/portcullis.yaml"
URL="https://127.0.0.1:$TLS_PORT/demo/common"

write_config() { # write_config A|B|broken-A|broken-B: atomically replace $CFG (temp file + mv)
    local which=$1 set key
    set=${which#broken-}
    key="${DIR[$set]}/server.key"
    [ "$which" = "$set" ] || key="${DIR[$set]}/missing-server.key"
    cat >"$CFG.tmp" <<EOF
# cert set $which (written by Tests/system/tls_rotation.sh)
workers: 2
access_log: off
limits:
  idle_timeout: 60s
listeners:
  - name: secure
    listen: "127.0.0.1:\${TLS_PORT}"
    tls:
      certificates:
        - { cert: ${DIR[$set]}/server.crt, key: $key }
        - { cert: ${DIR[$set]}/other.crt, key: ${DIR[$set]}/other.key }
      min_version: "1.2"
apis:
  - name: demo
    stage: demo
    routes:
      - { path: /common, methods: [GET], upstream: backend }
upstreams:
  backend:
    endpoints: ["http://127.0.0.1:\${ECHO_PORT}"]
EOF
    mv -f "$CFG.tmp" "$CFG"
}

# live_fp [SERVERNAME]: SHA-256 fingerprint of the certificate a fresh handshake gets ("" if none).
live_fp() {
    local sni=(-noservername)
    [ -z "${1:-}" ] || sni=(-servername "$1")
    timeout 10 openssl s_client -connect "127.0.0.1:$TLS_PORT" "${sni[@]}" </dev/null 2>/dev/null \
        | openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2 || true
}
set_of() { # set_of FINGERPRINT: A, B or ?
    if [ "$1" = "${FP[A]}" ]; then echo A; elif [ "$1" = "${FP[B]}" ]; then echo B; else echo "?"; fi
}
# expect_cert A|B DEADLINE_MICROSECONDS: poll fresh handshakes until they show set A's or B's server.crt.
expect_cert() {
    local want=$1 usecs=$2 end fp
    end=$(( ${EPOCHREALTIME/./} + usecs ))
    while :; do
        fp=$(live_fp); GOT=$(set_of "$fp")
        [ "$GOT" = "$want" ] && return 0
        [ "${EPOCHREALTIME/./}" -ge "$end" ] && return 1
        sleep 0.05
    done
}


# Fresh handshake + GET every ~50 ms until STOP exists; prints a JSON summary on exit.
cat >"$WORKDIR/prober.py" <<'EOF'
import hashlib, json, os, socket, ssl, sys, time
port, stop, fps = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE          # the certificate is checked by fingerprint below
res = {"ok": 0, "failed": 0, "seen": {}, "errors": []}
def fp(der): return ":".join("%02X" % b for b in hashlib.sha256(der).digest())
while not os.path.exists(stop):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                f = fp(s.getpeercert(binary_form=True))
                s.sendall(b"GET /demo/common HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk: break
                    data += chunk
                status = data.split(b"\r\n", 1)[0]
                name = "A" if f == fps[0] else "B" if f == fps[1] else "other:" + f
                res["seen"][name] = res["seen"].get(name, 0) + 1
                if status.startswith(b"HTTP/1.1 2"):
                    res["ok"] += 1
                else:
                    res["failed"] += 1; res["errors"].append("%.3f status %r" % (time.time(), status[:60]))
    except Exception as e:
        res["failed"] += 1; res["errors"].append("%.3f %s: %s" % (time.time(), type(e).__name__, e))
    time.sleep(0.05)
res["errors"] = res["errors"][:10]
print(json.dumps(res))
EOF

# One keep-alive connection, verified against CA A, opened before the first rotation: a request
# now, then one each time the file GO.N appears; prints one JSON line per request.
cat >"$WORKDIR/keepalive.py" <<'EOF'
import hashlib, http.client, json, os, ssl, sys, time
port, cafile, go = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)      # verifies the chain and 127.0.0.1 (IP SAN)
conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
def request(n):
    out = {"n": n}
    try:
        conn.request("GET", "/demo/common")
        r = conn.getresponse(); r.read()
        out.update(status=r.status, local_port=conn.sock.getsockname()[1], sock=id(conn.sock),
                   fp=":".join("%02X" % b for b in hashlib.sha256(conn.sock.getpeercert(binary_form=True)).digest()))
    except Exception as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(out), flush=True)
request(0)
for n in (1, 2):
    deadline = time.time() + 60
    while not os.path.exists("%s.%d" % (go, n)) and time.time() < deadline: time.sleep(0.02)
    request(n)
EOF

write_config A
timeout 30 "$BIN" check --config "$CFG" >"$WORKDIR/check.out" 2>&1 || { fail "config A does not pass check"; cat "$WORKDIR/check.out"; exit 1; }
start_echo "$ECHO_PORT" "$WORKDIR/echo.log"
start_proxy "$CFG" "$TLS_PORT" "$WORKDIR/portcullis.log"
info "echo on :$ECHO_PORT, portcullis (pid $PROXY_PID, workers: 2) on :$TLS_PORT, config $CFG"

if expect_cert A 2000000; then pass "before the load a fresh handshake shows set A's server.crt"
else fail "before the load a fresh handshake shows set $GOT, expected A"; fi

python3 "$WORKDIR/keepalive.py" "$TLS_PORT" "${DIR[A]}/ca.crt" "$WORKDIR/go" >"$WORKDIR/keepalive.out" 2>&1 &
KA_PID=$!
PIDS+=("$KA_PID")
for _ in $(seq 1 200); do [ -s "$WORKDIR/keepalive.out" ] && break; sleep 0.05; done
if [ ! -s "$WORKDIR/keepalive.out" ]; then fail "the keep-alive client printed nothing within 10s"; exit 1; fi
info "keep-alive connection, request 0: $(head -1 "$WORKDIR/keepalive.out")"

before=$(established_to "$TLS_PORT")
timeout $((DURATION + 30)) wrk -t1 -c32 -d"${DURATION}s" --latency -s "$SYSTEM_DIR/count.lua" "$URL" \
    >"$WORKDIR/wrk.out" 2>&1 &
WRK_PID=$!
PIDS+=("$WRK_PID")
python3 "$WORKDIR/prober.py" "$TLS_PORT" "$WORKDIR/prober.stop" "${FP[A]}" "${FP[B]}" >"$WORKDIR/prober.out" 2>&1 &
PROBER_PID=$!
PIDS+=("$PROBER_PID")
# The first rotation must find the load running: wait for wrk's connections, not for a fixed time.
if ! wait_established "$TLS_PORT" $((before + 1)) "$WRK_PID" 10; then
    fail "wrk did not connect to :$TLS_PORT within 10s"; cat "$WORKDIR/wrk.out"; exit 1
fi

current=A
reload_fail=0
hup_during_load=0
broken_logged=0
g=0
t0=${EPOCHREALTIME/./}
total=$((GOOD_RELOADS + 1))
for ((i = 1; i <= total; i++)); do
    if [ "$i" -eq "$BROKEN_AT" ]; then
        if [ "$current" = A ]; then which=broken-B; else which=broken-A; fi
    else
        g=$((g + 1))
        if [ $((g % 2)) -eq 1 ]; then which=B; else which=A; fi
    fi
    write_config "$which"
    errs_before=$(grep -c 'reload failed' "$WORKDIR/portcullis.log" || true)
    kill -0 "$WRK_PID" 2>/dev/null && hup_during_load=$((hup_during_load + 1))
    kill -HUP "$PROXY_PID"
    case "$which" in
        broken-*)
            for _ in $(seq 1 40); do
                if [ "$(grep -c 'reload failed' "$WORKDIR/portcullis.log" || true)" -gt "$errs_before" ]; then broken_logged=1; break; fi
                sleep 0.05
            done
            if expect_cert "$current" 0; then
                echo "  reload $i: $which (missing key) -> fresh handshakes still get set $current, failure logged: $broken_logged"
            else
                echo "  reload $i: $which (missing key) -> fresh handshake shows set $GOT, NOT $current"; reload_fail=$((reload_fail + 1))
            fi
            ;;
        *)
            if expect_cert "$which" 800000; then
                echo "  reload $i: set $which live for fresh handshakes"
            else
                echo "  reload $i: set $which NOT live after 0.8s (fresh handshake shows set $GOT)"; reload_fail=$((reload_fail + 1))
            fi
            current=$which
            ;;
    esac
    # The keep-alive connection (made under set A) is used again once set B is live.
    [ "$i" -eq 1 ] && touch "$WORKDIR/go.1"
    # next SIGHUP ~1.1 s after the previous slot, all within the wrk run
    next=$((t0 + i * 1100000)); now=${EPOCHREALTIME/./}
    if [ "$i" -lt "$total" ] && [ "$now" -lt "$next" ]; then sleep "$(printf '0.%06d' $((next - now)))"; fi
done
touch "$WORKDIR/go.2" "$WORKDIR/prober.stop"

if [ "$hup_during_load" -eq "$total" ]; then pass "all $total SIGHUPs sent while wrk was running"
else fail "only $hup_during_load of $total SIGHUPs were sent while wrk was running"; fi
if [ "$reload_fail" -eq 0 ]; then pass "after every SIGHUP fresh handshakes showed the expected server.crt (new set on success, old set on the failed reload)"
else fail "$reload_fail SIGHUPs did not leave the expected certificate live (see the reload lines above)"; fi
if [ "$broken_logged" -eq 1 ]; then pass "the reload with a missing key file failed and was logged"
else fail "no 'reload failed' logged for the missing key file"; fi

wrk_rc=0
wait "$WRK_PID" || wrk_rc=$?
forget_pid "$WRK_PID"
echo "--- wrk -t1 -c32 -d${DURATION}s $URL (exit $wrk_rc):"
sed 's/^/  | /' "$WORKDIR/wrk.out"
[ "$wrk_rc" -eq 0 ] || fail "wrk exited $wrk_rc"
check_wrk_output "$WORKDIR/wrk.out" " over https"

for _ in $(seq 1 100); do kill -0 "$PROBER_PID" 2>/dev/null || break; sleep 0.1; done
wait "$PROBER_PID" 2>/dev/null || true
forget_pid "$PROBER_PID"
probe=$(tail -1 "$WORKDIR/prober.out")
echo "  prober (fresh handshake + GET every ~50 ms): $probe"
read -r p_ok p_failed p_a p_b p_other < <(python3 -c '
import json, sys
r = json.loads(sys.argv[1]); s = r["seen"]
print(r["ok"], r["failed"], s.get("A", 0), s.get("B", 0), sum(v for k, v in s.items() if k not in ("A", "B")))' "$probe" 2>/dev/null || echo "0 -1 0 0 0")
if [ "$p_failed" -eq 0 ] && [ "$p_ok" -gt 0 ]; then pass "prober: $p_ok fresh handshakes during the rotations, none failed"
else fail "prober: $p_ok ok, $p_failed failed ($probe)"; fi
if [ "$p_a" -gt 0 ] && [ "$p_b" -gt 0 ] && [ "$p_other" -eq 0 ]; then pass "prober saw only the two server certificates: A $p_a times, B $p_b times"
else fail "prober certificates: A $p_a, B $p_b, other $p_other"; fi

for _ in $(seq 1 100); do kill -0 "$KA_PID" 2>/dev/null || break; sleep 0.1; done
wait "$KA_PID" 2>/dev/null || true
forget_pid "$KA_PID"
echo "  keep-alive connection:"; sed 's/^/  | /' "$WORKDIR/keepalive.out"
ka=$(python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
ok = len(rows) == 3 and all(r.get("status") == 200 for r in rows)
same = ok and len({(r["local_port"], r["sock"]) for r in rows}) == 1
fpa = ok and all(r["fp"] == sys.argv[2] for r in rows)
print("ok" if ok and same and fpa else "bad", "%d/3-ok" % sum(r.get("status") == 200 for r in rows), "same-socket" if same else "socket-changed", "cert-A" if fpa else "cert-not-A")
' "$WORKDIR/keepalive.out" "${FP[A]}" 2>/dev/null || echo "bad unparsable")
if [ "${ka%% *}" = ok ]; then pass "keep-alive connection opened under set A: 3 requests (before, after the first rotation, after the last) on one socket, 200 each, still presenting A's certificate"
else fail "keep-alive connection across rotations: $ka"; fi

# After the last reload (set $current): fresh handshakes, verified by independent clients.
fp=$(live_fp)
if [ "$fp" = "${FP[$current]}" ]; then pass "after the last reload a fresh handshake shows set $current's server.crt ($fp)"
else fail "after the last reload the fresh handshake shows '$fp' (set $(set_of "$fp")), expected set $current"; fi
fp=$(live_fp other.local)
if [ "$fp" = "${FP_OTHER[$current]}" ]; then pass "after the last reload SNI other.local gets set $current's other.crt"
else fail "after the last reload SNI other.local got '$fp', expected set $current's other.crt"; fi
old=A; [ "$current" = A ] && old=B
s_new=$(http_status "https://localhost:$TLS_PORT/demo/common" --resolve "localhost:$TLS_PORT:127.0.0.1" --cacert "${DIR[$current]}/ca.crt")
s_old=$(http_status "https://localhost:$TLS_PORT/demo/common" --resolve "localhost:$TLS_PORT:127.0.0.1" --cacert "${DIR[$old]}/ca.crt")
if [ "$s_new" = 200 ] && [ "$s_old" = 000 ]; then pass "curl --cacert CA $current: 200; curl --cacert CA $old: verification fails"
else fail "curl --cacert CA $current: $s_new (expected 200); --cacert CA $old: $s_old (expected 000)"; fi

echo "--- reload failure in the log:"
grep -E 'reload failed|missing-server.key' "$WORKDIR/portcullis.log" | head -5 | sed 's/^/  | /' || true
if grep -q 'missing-server.key' "$WORKDIR/portcullis.log"; then pass "the failed reload's error names the missing key file"
else fail "the failed reload's log does not name the missing key file"; fi
nfail=$(grep -c 'reload failed' "$WORKDIR/portcullis.log" || true)
nok=$(grep -c 'config reloaded' "$WORKDIR/portcullis.log" || true)
echo "  log: $nok 'config reloaded', $nfail 'reload failed'"
if [ "$nfail" -eq 1 ] && [ "$nok" -eq "$GOOD_RELOADS" ]; then pass "log shows $GOOD_RELOADS successful reloads and 1 failed"
else fail "log shows $nok successful and $nfail failed reloads, expected $GOOD_RELOADS and 1"; fi

# SIGTERM drains and exits 0.
stop_proxy_expect_exit0 "$PROXY_PID"

info "took $((SECONDS - START))s"
finish
