# Shared helpers for the shell-level system tests (sourced, not run).
# Every script: cd to the repo root, use BIN=${PORTCULLIS_BIN:-.build/debug/portcullis},
# loopback only, free ports picked at runtime, every started process killed on exit.

# shellcheck shell=bash
SYSTEM_TEST_NAME=$(basename "$0" .sh)
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
REPO_ROOT=$(pwd)
SYSTEM_DIR="$REPO_ROOT/Tests/system"
BIN=${PORTCULLIS_BIN:-.build/debug/portcullis}
case "$BIN" in /*) ;; *) BIN="$REPO_ROOT/$BIN" ;; esac

FAILURES=0
PASSES=0
PIDS=()
WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-${SYSTEM_TEST_NAME}.XXXXXX")

pass() { PASSES=$((PASSES + 1)); echo "PASS: $*"; }
fail() { FAILURES=$((FAILURES + 1)); echo "FAIL: $*"; }
info() { echo "  $*"; }

# Kill every process this script started (by pid, never by name), then remove the work dir.
cleanup() {
    local pid
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "${KEEP_WORKDIR:-0}" = 1 ] || [ "$FAILURES" -gt 0 ]; then
        echo "  (work dir kept: $WORKDIR)"
    else
        rm -rf "$WORKDIR"
    fi
}
trap cleanup EXIT
trap 'echo "FAIL: interrupted"; exit 130' INT TERM

# Hard bound on the whole script: a watchdog that TERMs this shell after $1 seconds.
time_limit() {
    local limit=$1 me=$$
    (
        sp=
        trap 'kill "$sp" 2>/dev/null; exit 0' TERM
        sleep "$limit" & sp=$!
        wait "$sp"
        echo "FAIL: ${SYSTEM_TEST_NAME} exceeded ${limit}s"
        kill -TERM "$me"
    ) 2>/dev/null &
    PIDS+=($!)
}

require_bin() {
    if [ ! -x "$BIN" ]; then
        fail "binary $BIN not found or not executable (set PORTCULLIS_BIN)"
        exit 1
    fi
}

# forget_pid PID: the process has been reaped; cleanup must not signal its (reusable) pid.
forget_pid() {
    local keep=() p
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && [ "$p" != "$1" ] && keep+=("$p"); done
    PIDS=("${keep[@]:-}")
    return 0
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT PID [SECONDS]: wait until 127.0.0.1:PORT accepts, while PID is alive.
wait_port() {
    local port=$1 pid=$2 secs=${3:-15} i
    for ((i = 0; i < secs * 10; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

# established_to PORT: how many TCP connections to 127.0.0.1:PORT are established (client side).
established_to() {
    ss -Htn state established "( dport = :$1 )" 2>/dev/null | wc -l
}

# wait_established PORT MIN PID [SECONDS]: wait until at least MIN connections to 127.0.0.1:PORT are
# established (a load generator is running), while PID is alive.
wait_established() {
    local port=$1 min=$2 pid=$3 secs=${4:-10} i
    for ((i = 0; i < secs * 20; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        if [ "$(established_to "$port")" -ge "$min" ]; then return 0; fi
        sleep 0.05
    done
    return 1
}

# start_echo PORT LOG: start the echo upstream, register its pid, wait for it.
start_echo() {
    local port=$1 log=$2
    "$BIN" echo --listen "127.0.0.1:$port" >"$log" 2>&1 &
    ECHO_PID=$!
    PIDS+=("$ECHO_PID")
    if ! wait_port "$port" "$ECHO_PID" 15; then
        fail "echo upstream did not listen on 127.0.0.1:$port"; cat "$log"; exit 1
    fi
}

# start_proxy CONFIG PORT LOG: start portcullis run, register its pid, wait for it.
start_proxy() {
    local config=$1 port=$2 log=$3
    "$BIN" run --config "$config" >"$log" 2>&1 &
    PROXY_PID=$!
    PIDS+=("$PROXY_PID")
    if ! wait_port "$port" "$PROXY_PID" 20; then
        fail "portcullis did not listen on 127.0.0.1:$port"; cat "$log"; exit 1
    fi
}

# http_status URL [curl args...]: print the status code (000 on connection failure).
http_status() {
    local url=$1; shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$url" || true
}

finish() {
    echo "${SYSTEM_TEST_NAME}: ${PASSES} checks passed, ${FAILURES} failed"
    if [ "$FAILURES" -gt 0 ]; then exit 1; fi
    exit 0
}

# Checks a finished wrk run whose Lua script prints "lua: 2xx N non-2xx M": records PASS/FAIL for
# requests > 0, zero socket errors and zero non-2xx (wrk's count and the Lua counter's).
check_wrk_output() { # FILE [TEXT after "wrk completed N requests"]
    local out="$1" suffix="${2:-}" requests non2xx sock sock_total lua_line lua_ok lua_bad
    requests=$(awk '/requests in/ {print $1}' "$out")
    non2xx=$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' "$out")
    non2xx=${non2xx:-0}
    sock=$(grep -E '^ *Socket errors:' "$out" || true)
    sock_total=0
    if [ -n "$sock" ]; then sock_total=$(echo "$sock" | grep -oE '[0-9]+' | awk '{s += $1} END {print s + 0}'); fi
    lua_line=$(grep -E '^lua: 2xx' "$out" || true)
    lua_ok=$(echo "$lua_line" | awk '{print $3}')
    lua_bad=$(echo "$lua_line" | awk '{print $5}')
    echo "  summary: requests=${requests:-?} rps=$(awk '/Requests\/sec/ {print $2}' "$out") p99=$(awk '$1 == "99%" {print $2}' "$out") socket_errors=$sock_total non2xx(wrk)=$non2xx non2xx(lua)=${lua_bad:-?}"
    if [ -n "${requests:-}" ] && [ "$requests" -gt 0 ]; then pass "wrk completed $requests requests$suffix"; else fail "wrk completed no requests"; fi
    if [ "$sock_total" -eq 0 ]; then pass "zero socket errors"; else fail "socket errors: $sock"; fi
    if [ "$non2xx" -eq 0 ]; then pass "wrk: zero Non-2xx or 3xx responses"; else fail "wrk: $non2xx Non-2xx or 3xx responses"; fi
    if [ -n "$lua_line" ] && [ "$lua_bad" -eq 0 ] && [ "$lua_ok" -gt 0 ]; then pass "lua counter: $lua_ok 2xx, zero non-2xx"
    else fail "lua counter: ${lua_line:-no lua summary printed}"; fi
}

# Sends SIGTERM and records PASS if the proxy drains and exits 0 within 15 s.
stop_proxy_expect_exit0() { # PID
    local pid="$1" rc=0
    kill -TERM "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then fail "portcullis still running 15s after SIGTERM"; return; fi
    wait "$pid" || rc=$?
    forget_pid "$pid"
    if [ "$rc" -eq 0 ]; then pass "SIGTERM: portcullis exited 0"; else fail "SIGTERM: portcullis exited $rc"; fi
}
