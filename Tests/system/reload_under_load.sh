#!/usr/bin/env bash
# System test (issue 2, "Must show" 4): under `wrk -t1 -c64 -d20s`, 20 SIGHUP reloads alternating
# two configs (A: routes /common and /a; B: /common and /b), one of them a deliberately broken
# config, give zero socket errors and zero non-2xx statuses; the broken one is logged exactly as
# `check` prints it and the old config keeps serving; the new routes are live afterwards.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
time_limit 120
require_bin

START=$SECONDS
DURATION=${RELOAD_WRK_DURATION:-20}
RELOADS=20
BROKEN_AT=11   # the 11th SIGHUP loads a broken config (would be A); the old config (B) stays

if ! command -v wrk >/dev/null 2>&1; then
    echo "  wrk not found; installing it with apt-get"
    SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    timeout 300 $SUDO apt-get install -y wrk >/dev/null 2>&1 \
        || { timeout 300 $SUDO apt-get update >/dev/null 2>&1 && timeout 300 $SUDO apt-get install -y wrk >/dev/null 2>&1; } \
        || { fail "could not install wrk"; exit 1; }
fi

ECHO_PORT=$(free_port)
PX_PORT=$(free_port)
export ECHO_PORT PX_PORT
CFG="$WORKDIR/portcullis.yaml"
BASE="http://127.0.0.1:$PX_PORT/demo"

write_config() { # write_config A|B|broken: atomically replace $CFG (temp file + mv)
    local which=$1 routes upstream=backend
    case "$which" in
        A) routes='      - { path: /a, methods: [GET], upstream: backend }' ;;
        B) routes='      - { path: /b, methods: [GET], upstream: backend }' ;;
        broken) routes='      - { path: /a, methods: [GET], upstream: backnd }' ;;
    esac
    cat >"$CFG.tmp" <<EOF
# config $which (written by Tests/system/reload_under_load.sh)
workers: 2
access_log: off
listeners:
  - name: public
    listen: "127.0.0.1:\${PX_PORT}"
apis:
  - name: demo
    stage: demo
    routes:
      - { path: /common, methods: [GET], upstream: $upstream }
$routes
upstreams:
  backend:
    endpoints: ["http://127.0.0.1:\${ECHO_PORT}"]
EOF
    mv -f "$CFG.tmp" "$CFG"
}


write_config A
timeout 30 "$BIN" check --config "$CFG" >/dev/null 2>&1 || { fail "config A does not pass check"; "$BIN" check --config "$CFG" || true; exit 1; }
start_echo "$ECHO_PORT" "$WORKDIR/echo.log"
start_proxy "$CFG" "$PX_PORT" "$WORKDIR/portcullis.log"
info "echo on :$ECHO_PORT, portcullis (pid $PROXY_PID, workers: 2) on :$PX_PORT, config $CFG"

st=$(http_status "$BASE/common"); sa=$(http_status "$BASE/a"); sb=$(http_status "$BASE/b")
if [ "$st$sa$sb" = "200200403" ]; then pass "config A live before load: /common 200, /a 200, /b 403"
else fail "config A before load: /common $st, /a $sa, /b $sb (expected 200, 200, 403)"; fi

# expect_state A|B DEADLINE_MICROSECONDS: poll until the routes match config A or B.
expect_state() {
    local want=$1 usecs=$2 sa sb ea eb end
    if [ "$want" = A ]; then ea=200; eb=403; else ea=403; eb=200; fi
    end=$(( ${EPOCHREALTIME/./} + usecs ))
    while :; do
        sa=$(http_status "$BASE/a"); sb=$(http_status "$BASE/b")
        if [ "$sa" = "$ea" ] && [ "$sb" = "$eb" ]; then STATE="/a $sa, /b $sb"; return 0; fi
        if [ "${EPOCHREALTIME/./}" -ge "$end" ]; then STATE="/a $sa, /b $sb"; return 1; fi
        sleep 0.05
    done
}

before=$(established_to "$PX_PORT")
timeout $((DURATION + 30)) wrk -t1 -c64 -d"${DURATION}s" --latency -s "$SYSTEM_DIR/count.lua" "$BASE/common" \
    >"$WORKDIR/wrk.out" 2>&1 &
WRK_PID=$!
PIDS+=("$WRK_PID")
# The first SIGHUP must find the load running: wait for wrk's connections, not for a fixed time.
if ! wait_established "$PX_PORT" $((before + 1)) "$WRK_PID" 10; then
    fail "wrk did not connect to :$PX_PORT within 10s"; cat "$WORKDIR/wrk.out"; exit 1
fi

current=A
reload_fail=0
hup_during_load=0
t0=${EPOCHREALTIME/./}
for ((i = 1; i <= RELOADS; i++)); do
    if [ "$i" -eq "$BROKEN_AT" ]; then which=broken
    elif [ $((i % 2)) -eq 0 ]; then which=B
    else which=A; fi
    write_config "$which"
    if [ "$which" = broken ]; then
        timeout 30 "$BIN" check --config "$CFG" >/dev/null 2>"$WORKDIR/broken.check" || true
        errs_before=$(grep -c 'reload failed' "$WORKDIR/portcullis.log" || true)
    fi
    kill -0 "$WRK_PID" 2>/dev/null && hup_during_load=$((hup_during_load + 1))
    kill -HUP "$PROXY_PID"
    if [ "$which" = broken ]; then
        logged=0
        for _ in $(seq 1 40); do
            if [ "$(grep -c 'reload failed' "$WORKDIR/portcullis.log" || true)" -gt "$errs_before" ]; then logged=1; break; fi
            sleep 0.05
        done
        if expect_state "$current" 0; then
            echo "  reload $i: broken config -> still $current ($STATE), reload error logged: $logged"
        else
            echo "  reload $i: broken config -> NOT serving $current any more ($STATE)"; reload_fail=$((reload_fail + 1))
        fi
    else
        if expect_state "$which" 800000; then
            echo "  reload $i: config $which live ($STATE)"
        else
            echo "  reload $i: config $which NOT live after 0.8s ($STATE)"; reload_fail=$((reload_fail + 1))
        fi
        current=$which
    fi
    # next SIGHUP ~0.95 s after the previous slot, all within the wrk run
    next=$((t0 + i * 950000)); now=${EPOCHREALTIME/./}
    if [ "$i" -lt "$RELOADS" ] && [ "$now" -lt "$next" ]; then sleep "$(printf '0.%06d' $((next - now)))"; fi
done

if [ "$hup_during_load" -eq "$RELOADS" ]; then pass "all $RELOADS SIGHUPs sent while wrk was running"
else fail "only $hup_during_load of $RELOADS SIGHUPs were sent while wrk was running"; fi
if [ "$reload_fail" -eq 0 ]; then pass "after every SIGHUP the expected routes answered (A: /a 200 /b 403; B: /b 200 /a 403; broken: old config kept)"
else fail "$reload_fail SIGHUPs did not leave the expected routes live (see the reload lines above)"; fi

wrk_rc=0
wait "$WRK_PID" || wrk_rc=$?
forget_pid "$WRK_PID"
echo "--- wrk -t1 -c64 -d${DURATION}s $BASE/common (exit $wrk_rc):"
sed 's/^/  | /' "$WORKDIR/wrk.out"
[ "$wrk_rc" -eq 0 ] || fail "wrk exited $wrk_rc"

check_wrk_output "$WORKDIR/wrk.out" ""

# After the final reload (config B): the new route answers 200, the removed one 403.
sb=$(http_status "$BASE/b"); sa=$(http_status "$BASE/a"); st=$(http_status "$BASE/common")
if [ "$sb" = 200 ]; then pass "after the final reload the new route /b answers 200"; else fail "after the final reload /b answered $sb, expected 200"; fi
if [ "$sa" = 403 ]; then pass "after the final reload the removed route /a answers 403"; else fail "after the final reload /a answered $sa, expected 403"; fi
if [ "$st" = 200 ]; then pass "/common still answers 200"; else fail "/common answered $st, expected 200"; fi

# The broken config: logged exactly as `check` prints it, and counted once.
echo "--- check on the broken config:"; sed 's/^/  | /' "$WORKDIR/broken.check"
mapfile -t want < <(grep -E '^[^ ]+:[0-9]+:[0-9]+: ' "$WORKDIR/broken.check" || true)
if [ "${#want[@]}" -eq 0 ]; then fail "check printed no file:line:column error for the broken config"; fi
missing=0
for line in "${want[@]}"; do grep -qF -- "$line" "$WORKDIR/portcullis.log" || { missing=1; echo "  not in the log: $line"; }; done
if [ "${#want[@]}" -gt 0 ] && [ "$missing" -eq 0 ]; then pass "the broken reload's error is logged exactly as check prints it"
else fail "the broken reload's error is not logged as check prints it"; fi
nfail=$(grep -c 'reload failed' "$WORKDIR/portcullis.log" || true)
nok=$(grep -c 'config reloaded' "$WORKDIR/portcullis.log" || true)
echo "  log: $nok 'config reloaded', $nfail 'reload failed'"
if [ "$nfail" -eq 1 ] && [ "$nok" -eq $((RELOADS - 1)) ]; then pass "log shows $((RELOADS - 1)) successful reloads and 1 failed"
else fail "log shows $nok successful and $nfail failed reloads, expected $((RELOADS - 1)) and 1"; fi
echo "--- portcullis log (errors and warnings):"
grep -iE 'error|warn|fail' "$WORKDIR/portcullis.log" | head -20 | sed 's/^/  | /' || true

# SIGTERM drains and exits 0.
stop_proxy_expect_exit0 "$PROXY_PID"

info "took $((SECONDS - START))s"
finish
