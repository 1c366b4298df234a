#!/usr/bin/env bash
# System test (issue 19, "Found when tried as a new user would"): the reload command `make run`
# prints. The gateway runs under a wrapper shell like the one `make run` starts (its command line
# holds "portcullis run", and its trap stops the echo upstream when it ends), so a reload that
# signals by name would end the shell and the upstream. `make reload` must instead:
# - under wrk load, reload a changed config with zero failed requests, and leave the shell and the
#   upstream running;
# - with a broken config, signal nothing (exit 1) and leave the running config serving;
# - with a stale pid file, signal nothing (exit 69);
# and the pid file goes away when the gateway exits.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
time_limit 120
require_bin

START=$SECONDS
ECHO_PORT=$(free_port)
PX_PORT=$(free_port)
export ECHO_PORT PX_PORT
CFG="$WORKDIR/portcullis.yaml"
PIDF="$WORKDIR/portcullis.pid"
BASE="http://127.0.0.1:$PX_PORT/demo"

# What `make run` prints for reloading, and the command `make reload` runs.
printed=$(make -s -n run PORTCULLIS="$BIN" CONFIG="$CFG" PID_FILE="$PIDF" 2>/dev/null | grep -o 'make reload' | head -1 || true)
if [ "$printed" = "make reload" ]; then pass "make run prints \"make reload\" as the way to reload"; else fail "make run does not print \"make reload\""; fi
if make -s -n run PORTCULLIS="$BIN" CONFIG="$CFG" PID_FILE="$PIDF" 2>/dev/null | grep -qF -- "run --config $CFG --pid-file $PIDF"; then
    pass "make run starts the gateway with --pid-file"
else
    fail "make run does not pass --pid-file to the gateway"
fi
reload() { make -s reload PORTCULLIS="$BIN" CONFIG="$CFG" PID_FILE="$PIDF"; }

write_config() { # write_config with-b|without-b|broken
    local extra='' upstream=backend
    case "$1" in
        with-b) extra='      - { path: /b, methods: [GET], upstream: backend }' ;;
        broken) upstream=backnd ;;
    esac
    cat >"$CFG.tmp" <<EOF
workers: 2
access_log: off
listeners:
  - { name: public, listen: "127.0.0.1:\${PX_PORT}" }
apis:
  - name: demo
    stage: demo
    routes:
      - { path: /common, methods: [GET], upstream: $upstream }
$extra
upstreams:
  backend:
    endpoints: ["http://127.0.0.1:\${ECHO_PORT}"]
EOF
    mv -f "$CFG.tmp" "$CFG"
}

# Like `make run`: one shell starts the echo upstream, traps its own end to stop it, and runs the
# gateway in the foreground; its command line names "portcullis run".
write_config without-b
bash -c "\"$BIN\" echo --listen 127.0.0.1:$ECHO_PORT >'$WORKDIR/echo.log' 2>&1 & echo_pid=\$!; \
trap 'kill \$echo_pid 2>/dev/null' EXIT INT TERM HUP; \
\"$BIN\" run --config '$CFG' --pid-file '$PIDF' >'$WORKDIR/portcullis.log' 2>&1; : portcullis run" &
SHELL_PID=$!
PIDS+=("$SHELL_PID")
wait_port "$PX_PORT" "$SHELL_PID" 20 || { fail "portcullis did not listen"; cat "$WORKDIR/portcullis.log"; exit 1; }
wait_port "$ECHO_PORT" "$SHELL_PID" 20 || { fail "echo did not listen"; exit 1; }
GW_PID=$(cat "$PIDF" 2>/dev/null || true)
if [ -n "$GW_PID" ] && [ "$(basename "$(readlink "/proc/$GW_PID/exe")")" = portcullis ] && [ "$GW_PID" != "$SHELL_PID" ]; then
    pass "the pid file names the gateway ($GW_PID), not the shell that started it ($SHELL_PID)"
else
    fail "the pid file holds '${GW_PID}', not the gateway's pid"
fi
st=$(http_status "$BASE/common"); sb=$(http_status "$BASE/b")
if [ "$st$sb" = 200403 ]; then pass "before: /common 200, /b 403"; else fail "before: /common $st, /b $sb"; fi

# A reload under load: zero failed requests.
before=$(established_to "$PX_PORT")
timeout 60 wrk -t1 -c32 -d6s -s "$SYSTEM_DIR/count.lua" "$BASE/common" >"$WORKDIR/wrk.out" 2>&1 &
WRK_PID=$!
PIDS+=("$WRK_PID")
wait_established "$PX_PORT" $((before + 1)) "$WRK_PID" 10 || { fail "wrk did not connect"; exit 1; }
write_config with-b
rc=0; reload >"$WORKDIR/reload.out" 2>&1 || rc=$?
sed 's/^/  | /' "$WORKDIR/reload.out"
if [ "$rc" -eq 0 ] && grep -q "reload signalled to pid $GW_PID" "$WORKDIR/reload.out"; then pass "make reload: exit 0, signalled pid $GW_PID"
else fail "make reload exited $rc"; fi
live=0
for _ in $(seq 1 100); do [ "$(http_status "$BASE/b")" = 200 ] && { live=1; break; }; sleep 0.05; done
if [ "$live" = 1 ]; then pass "the new route /b answers 200 after the reload"; else fail "/b is not live after the reload"; fi
wait "$WRK_PID" || true
forget_pid "$WRK_PID"
check_wrk_output "$WORKDIR/wrk.out" " during the reload"
if kill -0 "$SHELL_PID" 2>/dev/null && kill -0 "$GW_PID" 2>/dev/null; then pass "the shell that started the gateway and the gateway still run"
else fail "the reload ended the starting shell or the gateway"; fi
if [ "$(http_status "$BASE/common")" = 200 ]; then pass "the upstream still answers through the gateway"; else fail "the upstream is gone after the reload"; fi

# A broken config: nothing is signalled, the running config keeps serving.
write_config broken
rc=0; reload >"$WORKDIR/broken.out" 2>&1 || rc=$?
sed 's/^/  | /' "$WORKDIR/broken.out"
if [ "$rc" -ne 0 ] && grep -q 'nothing was reloaded' "$WORKDIR/broken.out" && grep -qE 'portcullis.yaml:[0-9]+:[0-9]+: ' "$WORKDIR/broken.out"; then
    pass "make reload with a broken config: exit $rc, the error at file:line:column, nothing reloaded"
else
    fail "make reload with a broken config exited $rc"
fi
if ! grep -q 'reload failed' "$WORKDIR/portcullis.log" && [ "$(http_status "$BASE/b")" = 200 ]; then
    pass "the gateway got no signal and serves the last good config"
else
    fail "the broken config reached the gateway"
fi

# A stale pid file (the starting shell's pid): nothing is signalled.
write_config with-b
echo "$SHELL_PID" >"$WORKDIR/stale.pid"
rc=0; make -s reload PORTCULLIS="$BIN" CONFIG="$CFG" PID_FILE="$WORKDIR/stale.pid" >"$WORKDIR/stale.out" 2>&1 || rc=$?
sed 's/^/  | /' "$WORKDIR/stale.out"
if grep -q 'is not a running `portcullis run`' "$WORKDIR/stale.out" && kill -0 "$SHELL_PID" 2>/dev/null; then
    pass "a pid file naming another program: refused ($rc), that program not signalled"
else
    fail "a stale pid file was not refused (exit $rc)"
fi

# Another config file than the gateway runs: it would reload its own, unchecked file; refused.
cp "$CFG" "$WORKDIR/other.yaml"
rc=0; "$BIN" reload --config "$WORKDIR/other.yaml" --pid-file "$PIDF" >"$WORKDIR/other.out" 2>&1 || rc=$?
sed 's/^/  | /' "$WORKDIR/other.out"
if [ "$rc" -eq 1 ] && grep -q "runs $CFG, not $WORKDIR/other.yaml" "$WORKDIR/other.out"; then
    pass "reload --config naming another file than the gateway runs: refused (exit 1), nothing signalled"
else
    fail "reload with another config file exited $rc"
fi

# SIGTERM: the gateway exits 0 and removes its pid file.
kill -TERM "$GW_PID"
for _ in $(seq 1 150); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.1; done
wait "$SHELL_PID" || true
forget_pid "$SHELL_PID"
if [ ! -e "$PIDF" ]; then pass "the pid file is removed when the gateway exits"; else fail "the pid file is left behind"; fi

info "took $((SECONDS - START))s"
finish
