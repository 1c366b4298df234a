#!/usr/bin/env bash
# benchmarks/run.sh — measure Portcullis beside nginx and HAProxy in one run.
#
# One shared upstream (`portcullis echo`), three reverse proxies in front of it (Portcullis,
# nginx, HAProxy; one worker/thread each), the same wrk load against each, sequentially,
# interleaved over ROUNDS rounds; the median req/s and p99 of each target, and the ratios
# Portcullis/nginx and Portcullis/HAProxy, printed as a table and written as JSON into
# benchmarks/results/. Loopback only; every process it starts is stopped on exit.
#
# Usage:   benchmarks/run.sh                      (from anywhere; see benchmarks/README.md)
# Knobs (environment):
#   DURATION=10 ROUNDS=3 WARMUP=3 CONNECTIONS=64 THREADS=1   the wrk load
#   SCENARIOS="plain"      space-separated, or "all"; see the scenario_* functions below
#   TARGETS="portcullis nginx haproxy"
#   UPSTREAM=portcullis    or "stub" (an nginx returning fixed JSON; no Portcullis binary needed)
#   PIN=wrk                CPU pinning: wrk | proxy | none (see pinning below)
#   PORTCULLIS_BIN=.build/release/portcullis
#   PORT_UPSTREAM=18001 PORT_PORTCULLIS=18080 PORT_NGINX=18081 PORT_HAPROXY=18082
#   BUSY_PCT=10 BUSY_RETRIES=2 QUIET_WAIT=30   wait for / re-run rounds beside foreign CPU load
#   RESULTS_DIR=benchmarks/results  KEEP_TMP=1 (keep configs and logs of the run)
#   TLS_RESUME=0           TLS scenarios: 0 = no session resumption anywhere (every new
#                          connection is a full handshake); 1 = tickets + cache on everywhere
#   JWT_TOKENS=50000       jwt_unique: distinct tokens minted and cycled through (more than
#                          Portcullis's FIFO token cache holds, 10,000, so no request hits it)
#   SIGV4_URLS=1000        sigv4: presigned URLs made with `portcullis sign` and cycled through
#   SIGV4_EXPIRES=3600     sigv4: their lifetime in seconds (the scenario must end before it)
#   SIGV4_UNIQUE_URLS=20000  sigv4_unique: presigned URLs made with botocore (tools/sigv4-urls.py),
#                          each sent once per cycle: far more than the verified-request cache
#                          holds (2,048 per loop, cleared when full), so no request hits it
#
# sigv4 and resource_policy are Portcullis against Portcullis: one process, a guarded route and
# a plain route of the same config, each a target of its own (measured alternately, like the
# proxies of the other scenarios); the table's ratios are against the plain route. Run them with
# UPSTREAM=stub so that the upstream costs little beside the proxy.
#
# Exit status: 0 ok; 1 setup failure; 3 the run completed but some target had socket errors
# or non-2xx answers (the figures are written but suspect).

set -Eeuo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"

BIN=${PORTCULLIS_BIN:-.build/release/portcullis}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN ;; esac

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-3}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-64}
PAUSE=${PAUSE:-1}                 # seconds of rest between two wrk runs
SCENARIOS=${SCENARIOS:-plain}
TARGETS=${TARGETS:-portcullis nginx haproxy}
UPSTREAM=${UPSTREAM:-portcullis}
PIN=${PIN:-wrk}
BENCH_PATH=${BENCH_PATH:-/bench/hello}
# ports the user chose explicitly must be free; defaults move on (+100) when already taken
USER_PORTS=" ${PORT_UPSTREAM+PORT_UPSTREAM} ${PORT_PORTCULLIS+PORT_PORTCULLIS} ${PORT_NGINX+PORT_NGINX} ${PORT_HAPROXY+PORT_HAPROXY} ${PORT_BASE+PORT_BASE} "
PORT_UPSTREAM=${PORT_UPSTREAM:-18001}
PORT_PORTCULLIS=${PORT_PORTCULLIS:-18080}
PORT_NGINX=${PORT_NGINX:-18081}
PORT_HAPROXY=${PORT_HAPROXY:-18082}
PORT_BASE=${PORT_BASE:-18083}
# TARGETS may add portcullis-base: a second Portcullis binary (an earlier commit's release build)
# measured in the same run, for before/after comparisons of a change.
BASE_BIN=${BASE_BIN:-}
case $BASE_BIN in /*|"") ;; *) BASE_BIN=$ROOT/$BASE_BIN ;; esac
RESULTS_DIR=${RESULTS_DIR:-$HERE/results}
START_TIMEOUT=${START_TIMEOUT:-20}  # seconds for a process to answer its first request
STOP_TIMEOUT=${STOP_TIMEOUT:-5}     # seconds between SIGTERM and SIGKILL
BUSY_PCT=${BUSY_PCT:-10}            # a round beside more foreign CPU load than this is re-run...
BUSY_RETRIES=${BUSY_RETRIES:-2}     # ...at most this many times
QUIET_WAIT=${QUIET_WAIT:-30}        # seconds to wait before a round for foreign load to go away
TLS_RESUME=${TLS_RESUME:-0}         # TLS scenarios: 0 full handshakes only, 1 resumption allowed
JWT_TOKENS=${JWT_TOKENS:-50000}     # jwt_unique: distinct tokens cycled through
JWT_ISSUER=bench JWT_AUDIENCE=bench # iss / aud of the tokens and of both verifiers
SIGV4_URLS=${SIGV4_URLS:-1000}      # sigv4: presigned URLs in the pool
SIGV4_EXPIRES=${SIGV4_EXPIRES:-3600} # sigv4: their lifetime (seconds)
SIGV4_UNIQUE_URLS=${SIGV4_UNIQUE_URLS:-20000} # sigv4_unique: distinct presigned URLs (botocore)
PYTHON=${PYTHON:-python3}           # with PyJWT and cryptography (JWT scenarios), botocore (sigv4_unique)
case $TLS_RESUME in 0|1) ;; *) echo "run.sh: TLS_RESUME must be 0 or 1 (got '$TLS_RESUME')" >&2; exit 1 ;; esac

# Every scenario this runner knows; "all" runs them in this order.
ALL_SCENARIOS="plain tls_keepalive tls_handshake jwt_cached jwt_unique sigv4 sigv4_unique resource_policy"

# ---------------------------------------------------------------------------------------------
# CPU pinning (taskset). The machine this was written on has 2 cores shared by wrk, the proxy
# under test and the upstream, so where each runs matters as much as what it does.
#   PIN=wrk   (default) wrk alone on one core; proxy + upstream share the other. The load
#             generator never steals cycles from the system under test, and every target gets
#             exactly one core for itself + the upstream, which that pair saturates: the
#             bottleneck is the system under test. Ratios are compressed toward 1 (the
#             upstream's cost is in every target's time per request; see cpu/req).
#   PIN=proxy the proxy alone on one core; wrk + upstream share the other. Would show "what
#             can one proxy core do", but here wrk + upstream saturate their core first.
#   PIN=none  let the scheduler place everything (threads migrate, everything competes).
# Measured here (README.md): no mode was more stable than another (12-20 % CV per round in
# all three; the noise comes from the host), so the default is chosen for what it measures.
# CPU_WRK / CPU_PROXY / CPU_UPSTREAM (taskset -c lists, e.g. "2-3") override the placement on
# bigger machines.
NCPU=$(nproc 2>/dev/null || echo 1)
case $PIN in
  wrk)   : "${CPU_WRK:=1}" "${CPU_PROXY:=0}" "${CPU_UPSTREAM:=0}" ;;
  proxy) : "${CPU_WRK:=1}" "${CPU_PROXY:=0}" "${CPU_UPSTREAM:=1}" ;;
  none)  CPU_WRK= CPU_PROXY= CPU_UPSTREAM= ;;
  *) echo "run.sh: PIN must be wrk, proxy or none (got '$PIN')" >&2; exit 1 ;;
esac
if [[ $PIN != none && $NCPU -lt 2 ]]; then
  echo "run.sh: only $NCPU CPU: pinning disabled" >&2
  PIN=none CPU_WRK= CPU_PROXY= CPU_UPSTREAM=
fi

pin() {  # pin ROLE -> prints the taskset prefix for that role (or nothing)
  local cpus
  case $1 in wrk) cpus=$CPU_WRK ;; proxy) cpus=$CPU_PROXY ;; upstream) cpus=$CPU_UPSTREAM ;; esac
  [[ -n ${cpus:-} ]] && printf 'taskset -c %s' "$cpus"
  return 0
}

log()  { printf '[bench] %s\n' "$*" >&2; }
die()  { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Tools: install what is missing (CI and new machines start clean).
ensure_tools() {
  local missing=() pair cmd pkg
  for pair in wrk:wrk nginx:nginx-light haproxy:haproxy curl:curl taskset:util-linux \
              setsid:util-linux timeout:coreutils openssl:openssl; do
    cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || [[ -x /usr/sbin/$cmd ]] || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  log "installing: ${missing[*]}"
  local sudo=
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  # RUNLEVEL=1: Debian's invoke-rc.d then does not start the packaged nginx/haproxy services
  # (we never want the system nginx on port 80; we run our own instances).
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq "${missing[@]}" >/dev/null
}
export PATH=$PATH:/usr/sbin:/sbin

# ---------------------------------------------------------------------------------------------
# Processes. Each is started with setsid, so its pid is also its process-group id and stopping
# it stops its children too (nginx master + worker). cleanup() runs on every exit.
declare -A PID=()
STARTED=()
WORK=

cleanup() {
  local rc=$?
  trap - EXIT INT TERM ERR
  local i
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_proc "${STARTED[i]}"; done
  if [[ -n $WORK && -d $WORK ]]; then
    if [[ ${KEEP_TMP:-0} == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "failed (status $?) at line $LINENO: $BASH_COMMAND"' ERR
trap 'exit 130' INT TERM

start_proc() {  # start_proc NAME ROLE CMD... (stdout+stderr to $WORK/NAME.log)
  local name=$1 role=$2; shift 2
  # shellcheck disable=SC2046
  setsid $(pin "$role") "$@" >"$WORK/$name.log" 2>&1 </dev/null &
  PID[$name]=$!
  STARTED+=("$name")
}

stop_proc() {  # SIGTERM the process group, SIGKILL it after STOP_TIMEOUT seconds
  local name=$1 pid=${PID[$1]:-} t
  [[ -n $pid ]] || return 0
  kill -TERM -- "-$pid" 2>/dev/null || true
  for ((t = 0; t < STOP_TIMEOUT * 10; t++)); do
    kill -0 -- "-$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 -- "-$pid" 2>/dev/null; then
    log "$name did not stop within ${STOP_TIMEOUT}s: SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  unset "PID[$name]"
  local i
  for i in "${!STARTED[@]}"; do [[ ${STARTED[i]} == "$name" ]] && unset "STARTED[i]"; done
  STARTED=("${STARTED[@]}")
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

need_port() {  # need_port VAR: make sure the port in $VAR is free (or move a default one)
  local var=$1 p=${!1} tries=0
  while ! port_free "$p"; do
    if [[ $USER_PORTS == *" $var "* ]] || ((++tries > 20)); then
      ss -ltnp "sport = :$p" 2>/dev/null | sed 's/^/    /' >&2 || true
      die "port $p is already in use on 127.0.0.1 (set $var=...)"
    fi
    log "port $p is taken; trying $((p + 100)) for $var"
    p=$((p + 100))
  done
  printf -v "$var" '%s' "$p"
}

wait_ready() {  # wait_ready NAME URL: until URL answers 200, the process dies, or timeout
  local name=$1 url=$2 t code
  for ((t = 0; t < START_TIMEOUT * 10; t++)); do
    if ! kill -0 "${PID[$name]}" 2>/dev/null; then
      log "$name exited during start-up; its output:"; sed 's/^/    /' "$WORK/$name.log" >&2
      die "$name did not start"
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "${CHECK_URL_ARGS[@]}" "$url" 2>/dev/null || true)
    [[ $code == 200 ]] && return 0
    sleep 0.1
  done
  log "$name: no 200 from $url within ${START_TIMEOUT}s (last status: ${code:-none}); its output:"
  sed 's/^/    /' "$WORK/$name.log" >&2
  die "$name did not become ready"
}

# render TEMPLATE OUT VAR...: replace ${VAR} for the named variables only (and those a scenario
# lists in RENDER_VARS: TLS and JWT paths, resumption settings)
RENDER_VARS=()
render() {
  local src=$1 dst=$2 s v; shift 2
  s=$(<"$src")
  for v in "$@" "${RENDER_VARS[@]}"; do s=${s//"\${$v}"/"${!v}"}; done
  local re='\$\{BENCH_[A-Z_]+\}'
  [[ ! $s =~ $re ]] || die "$src: unresolved placeholder ${BASH_REMATCH[0]}"
  printf '%s\n' "$s" >"$dst"
}

# ---------------------------------------------------------------------------------------------
# Servers. Each start_* takes an instance name, a config template and a listen port.
start_nginx() {  # start_nginx NAME TEMPLATE PORT ROLE
  local name=$1 tmpl=$2 BENCH_LISTEN_PORT=$3 role=${4:-proxy}
  local BENCH_DIR=$WORK/$name BENCH_UPSTREAM_PORT=$PORT_UPSTREAM
  mkdir -p "$BENCH_DIR/tmp"
  render "$tmpl" "$BENCH_DIR/nginx.conf" BENCH_DIR BENCH_LISTEN_PORT BENCH_UPSTREAM_PORT
  nginx -t -q -p "$BENCH_DIR" -e "$BENCH_DIR/error.log" -c "$BENCH_DIR/nginx.conf" \
    || die "$name: nginx -t failed on $BENCH_DIR/nginx.conf"
  start_proc "$name" "$role" nginx -p "$BENCH_DIR" -e "$BENCH_DIR/error.log" -c "$BENCH_DIR/nginx.conf"
}

start_haproxy() {  # start_haproxy NAME TEMPLATE PORT
  local name=$1 tmpl=$2 BENCH_LISTEN_PORT=$3
  local BENCH_DIR=$WORK/$name BENCH_UPSTREAM_PORT=$PORT_UPSTREAM
  mkdir -p "$BENCH_DIR"
  render "$tmpl" "$BENCH_DIR/haproxy.cfg" BENCH_DIR BENCH_LISTEN_PORT BENCH_UPSTREAM_PORT
  haproxy -c -q -f "$BENCH_DIR/haproxy.cfg" || die "$name: haproxy -c failed on $BENCH_DIR/haproxy.cfg"
  start_proc "$name" proxy haproxy -db -f "$BENCH_DIR/haproxy.cfg"
}

start_portcullis() {  # start_portcullis NAME TEMPLATE PORT
  local name=$1 tmpl=$2 BENCH_LISTEN_PORT=$3
  local BENCH_DIR=$WORK/$name BENCH_UPSTREAM_PORT=$PORT_UPSTREAM out
  mkdir -p "$BENCH_DIR"
  render "$tmpl" "$BENCH_DIR/portcullis.yaml" BENCH_DIR BENCH_LISTEN_PORT BENCH_UPSTREAM_PORT
  if ! out=$("$BIN" check --config "$BENCH_DIR/portcullis.yaml" 2>&1); then
    log "$BIN check --config $BENCH_DIR/portcullis.yaml failed:"; sed 's/^/    /' <<<"$out" >&2
    die "$name: config rejected"
  fi
  start_proc "$name" proxy "$BIN" run --config "$BENCH_DIR/portcullis.yaml"
}

start_upstream() {
  need_port PORT_UPSTREAM
  case $UPSTREAM in
    portcullis)
      [[ -x $BIN ]] || die "no Portcullis binary at $BIN (swift build -c release, or PORTCULLIS_BIN=...; UPSTREAM=stub TARGETS='nginx haproxy' runs the references alone)"
      start_proc upstream upstream "$BIN" echo --listen "127.0.0.1:$PORT_UPSTREAM" ;;
    stub)
      start_nginx upstream "$HERE/conf/stub-upstream-nginx.conf" "$PORT_UPSTREAM" upstream ;;
    *) die "UPSTREAM must be portcullis or stub (got '$UPSTREAM')" ;;
  esac
  wait_ready upstream "http://127.0.0.1:$PORT_UPSTREAM/hello"
  log "upstream ($UPSTREAM) ready on 127.0.0.1:$PORT_UPSTREAM"
}

# ---------------------------------------------------------------------------------------------
# Measuring. A scenario starts its targets and calls add_target for each, then measure_scenario.
ACTIVE=()              # target names in this scenario, in table order
declare -A URL=()      # target -> URL wrk loads
declare -A TPROC=()    # target -> the process serving it (several routes of one process: sigv4...)
declare -A UPATH=()    # target -> the path the upstream must see in the smoke check (default /hello)
COMPARE_TO="nginx haproxy"   # the reference targets the table divides by, when present
SUBJECTS=portcullis    # the targets whose ratios get a summary line (Portcullis/nginx: ...) and JSON
WRK_EXTRA=()           # extra wrk arguments for this scenario (headers...)
WRK_SCRIPT=            # wrk -s script for this scenario (default wrk/report.lua)
WRK_ENV=()             # NAME=VALUE environment for wrk (read by the scenario's script)
CHECK_URL_ARGS=()      # extra curl arguments for the smoke check (headers, --cacert...)
SMOKE_PROTO=http       # X-Forwarded-Proto the upstream must see
SCENARIO_CHECK=        # a function run after the smoke check (accept/refuse tests...)
LOAD_DESC=             # what the load adds to wrk's defaults, for the table header
SCENARIO_NOTE=         # a line under the table (how to read this scenario)
SCENARIO_JSON_EXTRA=   # more members for this scenario's JSON object
declare -A PLAIN_RPS=() PLAIN_CPU=() PLAIN_P99=()   # scenario plain's medians, for context
CLK_TCK=$(getconf CLK_TCK)
SUSPECT=0
SCENARIO_JSON=()       # one JSON object per scenario, joined at the end

want_target() { [[ " $TARGETS " == *" $1 "* ]]; }

add_target() {  # add_target NAME URL [PROCESS]: PROCESS (default NAME) serves it; CPU is counted on it
  ACTIVE+=("$1"); URL[$1]=$2; TPROC[$1]=${3:-$1}
}

cpu_ticks() {  # cpu_ticks PGID -> utime+stime (clock ticks) of every process in that group
  local pg=$1
  # (processes may vanish between the glob and the read: cat's failure is expected)
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pg="$pg" '
    { line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
      if (f[3] == pg) s += f[12] + f[13] }
    END { print s + 0 }'
}

busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
# CPU of this script's reaped children (wrk, curl, awk...): utime+stime+cutime+cstime of $$
self_ticks() { awk '{ line = $0; sub(/^.*\) /, "", line); split(line, f, " "); print f[12] + f[13] + f[14] + f[15] }' "/proc/$$/stat"; }

# wait_quiet: between rounds the benchmark's own processes are idle, so machine-wide CPU use is
# foreign load. Wait (at most QUIET_WAIT seconds) until a 1-second sample is under BUSY_PCT.
wait_quiet() {
  local b0 b1 pct waited=0
  while :; do
    b0=$(busy_ticks); sleep 1; b1=$(busy_ticks)
    pct=$(awk -v d=$((b1 - b0)) -v hz="$CLK_TCK" -v n="$NCPU" 'BEGIN { printf "%.0f", d / hz / n * 100 }')
    awk -v o="$pct" -v m="$BUSY_PCT" 'BEGIN { exit !(o > m) }' || return 0
    if ((waited >= QUIET_WAIT)); then
      log "machine still ${pct}% busy after ${waited}s of waiting; going on"
      return 0
    fi
    ((waited == 0)) && log "machine ${pct}% busy with something else; waiting up to ${QUIET_WAIT}s for it to calm down"
    sleep 2; waited=$((waited + 3))
  done
}

smoke_check() {  # one request through each target: status 200, path stripped, headers added
  local t body code
  for t in "${ACTIVE[@]}"; do
    body=$(curl -s --max-time 5 -w '\n%{http_code}' "${CHECK_URL_ARGS[@]}" "${URL[$t]}" 2>&1 || true)
    code=${body##*$'\n'}; body=${body%$'\n'*}
    if [[ $code != 200 ]]; then
      log "$t: GET ${URL[$t]} answered ${code:-nothing}: $body"
      log "$t output:"; tail -n 20 "$WORK/${TPROC[$t]}.log" | sed 's/^/    /' >&2
      die "$t does not answer 200; refusing to benchmark error responses"
    fi
    local lc=${body,,} miss=() up=${UPATH[$t]:-/hello}
    [[ $lc == *"\"path\":\"${up,,}"* ]] || miss+=("path not stripped to $up")
    local h
    for h in x-forwarded-for x-forwarded-proto x-forwarded-host x-request-id; do
      [[ $lc == *"$h"* ]] || miss+=("$h missing")
    done
    [[ $lc != *'"x-forwarded-proto"'* || $lc == *"\"x-forwarded-proto\":\"$SMOKE_PROTO\""* ]] \
      || miss+=("x-forwarded-proto is not $SMOKE_PROTO")
    if ((${#miss[@]})); then
      log "WARNING $t: upstream saw: $body"
      log "WARNING $t: $(IFS=';'; echo "${miss[*]}")"
    else
      log "$t ok: upstream saw $up with X-Forwarded-* and X-Request-Id"
    fi
  done
}

run_wrk() {  # run_wrk TARGET SECONDS OUTFILE -> the WRK_JSON object on stdout
  local t=$1 secs=$2 out=$3
  # shellcheck disable=SC2046
  env "${WRK_ENV[@]}" timeout -k 5 $((secs + 30)) $(pin wrk) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --latency \
    -s "${WRK_SCRIPT:-$HERE/wrk/report.lua}" "${WRK_EXTRA[@]}" "${URL[$t]}" >"$out" 2>&1 \
    || { log "wrk against $t failed:"; sed 's/^/    /' "$out" >&2; die "wrk failed"; }
  local j
  j=$(sed -n 's/^WRK_JSON //p' "$out")
  [[ -n $j ]] || die "no WRK_JSON line in $out"
  printf '%s' "$j"
}

jnum() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" <<<"$1"; }          # jnum JSON KEY
jerr() { sed 's/.*"errors":{\([^}]*\)}.*/\1/' <<<"$1" | tr ',' '\n' | awk -F: '{ s += $2 } END { print s + 0 }'; }  # sum of errors

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

fmt_us() { awk -v u="$1" 'BEGIN { if (u >= 1000) printf "%.2fms", u / 1000; else printf "%dus", u }'; }
ratio()  { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "null" }'; }

# measure_once TARGET OUTFILE: one wrk run with CPU accounting around it. Sets M_J (wrk's JSON),
# M_CPU / M_UCPU (proxy / upstream CPU microseconds per request) and M_OTHER: the share of the
# machine used by none of proxy, upstream and this script's children (wrk), i.e. foreign load
# (a build, another benchmark...) that makes the round untrustworthy. M_WRK: the load generator's
# CPU use in % of one core (near 100 % with -t1: wrk, not the proxy, is the limit). M_CONN: TCP
# connections accepted on the machine per request (client side + upstream side; about 0 with
# keep-alive, 1 when every request opens a connection and the upstream ones are reused).
passive_opens() { awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "PassiveOpens") c = i; h = 1 } else print $c }' /proc/net/snmp; }
measure_once() {
  local t=$1 out=$2 s0 b0 c0 u0 c1 u1 b1 s1 o0 o1 reqs
  o0=$(passive_opens)
  s0=$(self_ticks); b0=$(busy_ticks)
  c0=$(cpu_ticks "${PID[${TPROC[$t]}]}"); u0=$(cpu_ticks "${PID[upstream]}")
  M_J=$(run_wrk "$t" "$DURATION" "$out")
  c1=$(cpu_ticks "${PID[${TPROC[$t]}]}"); u1=$(cpu_ticks "${PID[upstream]}")
  b1=$(busy_ticks); s1=$(self_ticks)
  o1=$(passive_opens)
  reqs=$(jnum "$M_J" requests)
  M_WRK=$(awk -v d=$((s1 - s0)) -v hz="$CLK_TCK" -v us="$(jnum "$M_J" duration_us)" \
    'BEGIN { printf "%.0f", us ? d / hz / (us / 1e6) * 100 : 0 }')
  M_CONN=$(awk -v d=$((o1 - o0)) -v n="$reqs" 'BEGIN { printf "%.2f", n ? d / n : 0 }')
  M_CPU=$(awk -v d=$((c1 - c0)) -v n="$reqs" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", n ? d / hz * 1e6 / n : 0 }')
  M_UCPU=$(awk -v d=$((u1 - u0)) -v n="$reqs" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", n ? d / hz * 1e6 / n : 0 }')
  M_OTHER=$(awk -v d=$(( (b1 - b0) - (c1 - c0) - (u1 - u0) - (s1 - s0) )) -v hz="$CLK_TCK" \
    -v us="$(jnum "$M_J" duration_us)" -v n="$NCPU" 'BEGIN { v = d / hz / (us / 1e6) / n * 100; printf "%.1f", (v < 0) ? 0 : v }')
}

measure_scenario() {  # measure_scenario NAME DESCRIPTION
  local scen=$1 desc=$2 t r i n=${#ACTIVE[@]}
  local raw=$RUN_DIR/$scen
  mkdir -p "$raw"
  smoke_check
  [[ -z $SCENARIO_CHECK ]] || "$SCENARIO_CHECK"

  log "warm-up: ${WARMUP}s per target"
  for t in "${ACTIVE[@]}"; do run_wrk "$t" "$WARMUP" "$raw/warmup-$t.txt" >/dev/null; sleep "$PAUSE"; done

  declare -A RPS=() P99=() P50=() ERRS=() CPU=() UCPU=() OTHER=() WRKC=() CONN=() ROUNDJ=()
  for ((r = 1; r <= ROUNDS; r++)); do
    # rotate the order every round so no target always runs first (or right after warm-up)
    for ((i = 0; i < n; i++)); do
      t=${ACTIVE[(i + r - 1) % n]}
      local j cpu ucpu other wrkc conn attempt=0
      # A round that ran beside foreign load (more than BUSY_PCT of the machine) is run again,
      # at most BUSY_RETRIES times; the last attempt counts either way and is flagged.
      while :; do
        wait_quiet
        measure_once "$t" "$raw/round$r-$t.txt"
        j=$M_J cpu=$M_CPU ucpu=$M_UCPU other=$M_OTHER wrkc=$M_WRK conn=$M_CONN
        awk -v o="$other" -v m="$BUSY_PCT" 'BEGIN { exit !(o > m) }' || break
        if ((attempt >= BUSY_RETRIES)); then
          log "WARNING: ${other}% of the machine was busy elsewhere during this round; keeping it"
          break
        fi
        attempt=$((attempt + 1))
        log "$t: ${other}% of the machine was busy elsewhere; running this round again ($attempt/$BUSY_RETRIES)"
      done
      RPS[$t]+="$(jnum "$j" rps) "; P99[$t]+="$(jnum "$j" p99_us) "; P50[$t]+="$(jnum "$j" p50_us) "
      CPU[$t]+="$cpu "; UCPU[$t]+="$ucpu "; OTHER[$t]+="$other "; WRKC[$t]+="$wrkc "; CONN[$t]+="$conn "
      local e; e=$(jerr "$j"); ERRS[$t]=$(( ${ERRS[$t]:-0} + e ))
      ROUNDJ[$t]+="${ROUNDJ[$t]:+,}{\"round\":$r,\"proxy_cpu_us_per_req\":$cpu,\"upstream_cpu_us_per_req\":$ucpu,\"wrk_cpu_pct\":$wrkc,\"tcp_accepts_per_req\":$conn,\"other_cpu_pct\":$other,\"attempts\":$((attempt + 1)),\"wrk\":$j}"
      log "$(printf '%-10s round %d/%d: %8.0f req/s  p99 %-8s cpu/req %5sus  wrk %3s%%  conn/req %s  other %4s%%  errors %s' \
        "$t" "$r" "$ROUNDS" "$(jnum "$j" rps)" "$(fmt_us "$(jnum "$j" p99_us)")" "$cpu" "$wrkc" "$conn" "$other" "$e")"
      sleep "$PAUSE"
    done
  done

  # medians, spread and ratios
  declare -A MRPS=() MP99=() MP50=() MCPU=() MUCPU=() MOTHER=() MWRK=() MCONN=() SPREAD=()
  for t in "${ACTIVE[@]}"; do
    MRPS[$t]=$(tr ' ' '\n' <<<"${RPS[$t]}" | grep . | median)
    MP99[$t]=$(tr ' ' '\n' <<<"${P99[$t]}" | grep . | median)
    MP50[$t]=$(tr ' ' '\n' <<<"${P50[$t]}" | grep . | median)
    MCPU[$t]=$(tr ' ' '\n' <<<"${CPU[$t]}" | grep . | median)
    MUCPU[$t]=$(tr ' ' '\n' <<<"${UCPU[$t]}" | grep . | median)
    MWRK[$t]=$(tr ' ' '\n' <<<"${WRKC[$t]}" | grep . | median)
    MCONN[$t]=$(tr ' ' '\n' <<<"${CONN[$t]}" | grep . | median)
    MOTHER[$t]=$(tr ' ' '\n' <<<"${OTHER[$t]}" | grep . | sort -g | tail -n1)   # worst round
    # (max - min) / median of req/s over the rounds: how repeatable this target was
    SPREAD[$t]=$(tr ' ' '\n' <<<"${RPS[$t]}" | grep . | sort -g | awk -v m="${MRPS[$t]}" \
      'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.1f", (m > 0) ? (hi - lo) / m * 100 : 0 }')
    ((ERRS[$t] == 0)) || SUSPECT=1
  done
  if [[ $scen == plain ]]; then
    for t in "${ACTIVE[@]}"; do PLAIN_RPS[$t]=${MRPS[$t]} PLAIN_CPU[$t]=${MCPU[$t]} PLAIN_P99[$t]=${MP99[$t]}; done
  fi

  local refs=() ref tw=11
  for ref in $COMPARE_TO; do [[ -n ${MRPS[$ref]:-} ]] && refs+=("$ref"); done
  for t in "${ACTIVE[@]}"; do ((${#t} <= tw)) || tw=${#t}; done   # target column width
  declare -A RW=()                                                # ratio column widths
  for ref in "${refs[@]}"; do RW[$ref]=$(( ${#ref} + 4 > 11 ? ${#ref} + 4 : 11 )); done

  {
    echo
    echo "== scenario $scen: $desc"
    echo "   wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency${LOAD_DESC:+ $LOAD_DESC}, median of $ROUNDS rounds, pin=$PIN, upstream=$UPSTREAM"
    printf "%-${tw}s %9s %9s %9s %7s %8s %5s %8s %6s" target 'req/s' p99 p50 spread 'cpu/req' wrk conn/req other
    for ref in "${refs[@]}"; do printf " %${RW[$ref]}s %${RW[$ref]}s" "rps/$ref" "p99/$ref"; done
    printf ' %s\n' errors
    for t in "${ACTIVE[@]}"; do
      printf "%-${tw}s %9.0f %9s %9s %6s%% %6sus %4s%% %8s %5s%%" "$t" "${MRPS[$t]}" "$(fmt_us "${MP99[$t]}")" \
        "$(fmt_us "${MP50[$t]}")" "${SPREAD[$t]}" "${MCPU[$t]}" "${MWRK[$t]}" "${MCONN[$t]}" "${MOTHER[$t]}"
      for ref in "${refs[@]}"; do
        printf " %${RW[$ref]}s %${RW[$ref]}s" "$(ratio "${MRPS[$t]}" "${MRPS[$ref]}")" "$(ratio "${MP99[$t]}" "${MP99[$ref]}")"
      done
      printf ' %s\n' "${ERRS[$t]}$( ((ERRS[$t] == 0)) || echo ' (!)')"
    done
    local sub sname
    for sub in $SUBJECTS; do
      [[ -n ${MRPS[$sub]:-} ]] || continue
      sname=$sub
      [[ $sname == portcullis ]] && sname=Portcullis
      for ref in "${refs[@]}"; do
        echo "$sname/$ref: req/s $(ratio "${MRPS[$sub]}" "${MRPS[$ref]}")x, p99 $(ratio "${MP99[$sub]}" "${MP99[$ref]}")x, cpu/req $(ratio "${MCPU[$sub]}" "${MCPU[$ref]}")x$([[ $sub == portcullis ]] || awk -v a="${MCPU[$sub]}" -v b="${MCPU[$ref]}" 'BEGIN { printf " (%+.1fus per request)", a - b }')"
      done
    done
    local sat=() cap=()
    for t in "${ACTIVE[@]}"; do
      awk -v w="${MWRK[$t]}" 'BEGIN { exit !(w >= 90) }' && sat+=("$t")
      cap+=("$t $(awk -v c="${MCPU[$t]}" 'BEGIN { printf "%.0f", (c > 0) ? 1e6 / c : 0 }')/s")
    done
    if ((${#sat[@]})); then
      echo "NOTE: wrk used >= 90% of its core against ${sat[*]}: req/s there is (also) the load generator's limit;"
      echo "      compare cpu/req instead. Per core of proxy CPU (1e6 / cpu/req): $(IFS=,; echo "${cap[*]}" | sed 's/,/, /g')"
    fi
    if [[ $scen != plain ]] && ((${#PLAIN_RPS[@]})); then
      # context: the same proxies without TLS / JWT, measured earlier in this run
      local ctx=()
      for t in portcullis nginx haproxy; do
        [[ -n ${PLAIN_RPS[$t]:-} ]] || continue
        if [[ -n ${MRPS[$t]:-} ]]; then
          ctx+=("$t $(ratio "${MRPS[$t]}" "${PLAIN_RPS[$t]}")x of its plain req/s, cpu/req $(awk -v a="${MCPU[$t]}" -v b="${PLAIN_CPU[$t]}" 'BEGIN { printf "%+.1fus", a - b }')")
        else
          ctx+=("$t (not in this scenario) plain: $(printf '%.0f' "${PLAIN_RPS[$t]}") req/s, ${PLAIN_CPU[$t]}us/req")
        fi
      done
      echo "vs plain (same run): $(IFS=';'; echo "${ctx[*]}" | sed 's/;/; /g')"
    fi
    [[ -z ${SCENARIO_NOTE:-} ]] || echo "$SCENARIO_NOTE"
    echo "(req/s ratio > 1: more requests served than the reference; p99 ratio < 1: shorter tail."
    echo " spread = (max-min)/median of req/s over the rounds; cpu/req = CPU time of the proxy per request;"
    echo " wrk = load generator's CPU, % of its core (~100: wrk is the limit); conn/req = TCP accepts per request;"
    echo " other = worst share of the machine used by processes outside the benchmark during a round)"
  } | tee -a "$RUN_DIR/summary.txt"

  # JSON for this scenario
  local tj="" rj="" pj=""
  for t in "${ACTIVE[@]}"; do
    tj+="${tj:+,}\"$t\":{\"url\":\"${URL[$t]}\",\"rps\":${MRPS[$t]},\"p99_us\":${MP99[$t]},\"p50_us\":${MP50[$t]},\"rps_spread_pct\":${SPREAD[$t]},\"proxy_cpu_us_per_req\":${MCPU[$t]},\"upstream_cpu_us_per_req\":${MUCPU[$t]},\"wrk_cpu_pct\":${MWRK[$t]},\"tcp_accepts_per_req\":${MCONN[$t]},\"max_other_cpu_pct\":${MOTHER[$t]},\"errors\":${ERRS[$t]},\"rounds\":[${ROUNDJ[$t]}]}"
    if [[ $scen != plain && -n ${PLAIN_RPS[$t]:-} ]]; then
      pj+="${pj:+,}\"$t\":{\"rps\":$(ratio "${MRPS[$t]}" "${PLAIN_RPS[$t]}"),\"cpu_us_per_req_delta\":$(awk -v a="${MCPU[$t]}" -v b="${PLAIN_CPU[$t]}" 'BEGIN { printf "%.1f", a - b }')}"
    fi
  done
  local sub
  for sub in $SUBJECTS; do
    [[ -n ${MRPS[$sub]:-} ]] || continue
    for ref in "${refs[@]}"; do
      rj+="${rj:+,}\"$sub/$ref\":{\"rps\":$(ratio "${MRPS[$sub]}" "${MRPS[$ref]}"),\"p99\":$(ratio "${MP99[$sub]}" "${MP99[$ref]}"),\"cpu_per_req\":$(ratio "${MCPU[$sub]}" "${MCPU[$ref]}")}"
    done
  done
  local ld=${LOAD_DESC//\\/\\\\}; ld=${ld//\"/\\\"}
  SCENARIO_JSON+=("\"$scen\":{\"status\":\"measured\",\"description\":\"$desc\",\"load\":\"$ld\",\"targets\":{$tj},\"ratios\":{$rj},\"vs_plain\":{$pj}${SCENARIO_JSON_EXTRA:+,$SCENARIO_JSON_EXTRA}}")
}

skip_scenario() {  # skip_scenario NAME REASON
  log "scenario $1: skipped ($2)"
  echo "== scenario $1: skipped ($2)" >>"$RUN_DIR/summary.txt"
  SCENARIO_JSON+=("\"$1\":{\"status\":\"skipped\",\"reason\":\"$2\"}")
}

stop_targets() {
  local t
  for t in "${ACTIVE[@]}"; do stop_proc "${TPROC[$t]}"; done   # (a process already stopped: no-op)
  ACTIVE=() URL=() TPROC=() UPATH=() WRK_EXTRA=() CHECK_URL_ARGS=() WRK_ENV=() RENDER_VARS=()
  WRK_SCRIPT= SMOKE_PROTO=http SCENARIO_CHECK= LOAD_DESC= SCENARIO_NOTE= SCENARIO_JSON_EXTRA=
  COMPARE_TO="nginx haproxy" SUBJECTS=portcullis
}

# ---------------------------------------------------------------------------------------------
# Scenarios. One function each: start the targets (only those in $TARGETS), add_target them,
# set WRK_EXTRA / CHECK_URL_ARGS if the load differs, measure_scenario, stop_targets.
# Adding a scenario = a scenario_NAME function + its name in ALL_SCENARIOS + its config
# templates in benchmarks/conf/ (and a portcullis-*.yaml).

scenario_plain() {
  if want_target portcullis; then
    need_port PORT_PORTCULLIS
    start_portcullis portcullis "$HERE/portcullis-bench.yaml" "$PORT_PORTCULLIS"
    wait_ready portcullis "http://127.0.0.1:$PORT_PORTCULLIS$BENCH_PATH"
    add_target portcullis "http://127.0.0.1:$PORT_PORTCULLIS$BENCH_PATH"
  fi
  if want_target portcullis-base; then
    [[ -x $BASE_BIN ]] || die "TARGETS names portcullis-base: set BASE_BIN to the Portcullis binary to compare with"
    need_port PORT_BASE
    BIN=$BASE_BIN start_portcullis portcullis-base "$HERE/portcullis-bench.yaml" "$PORT_BASE"
    wait_ready portcullis-base "http://127.0.0.1:$PORT_BASE$BENCH_PATH"
    add_target portcullis-base "http://127.0.0.1:$PORT_BASE$BENCH_PATH"
  fi
  if want_target nginx; then
    need_port PORT_NGINX
    start_nginx nginx "$HERE/conf/nginx-plain.conf" "$PORT_NGINX"
    wait_ready nginx "http://127.0.0.1:$PORT_NGINX$BENCH_PATH"
    add_target nginx "http://127.0.0.1:$PORT_NGINX$BENCH_PATH"
  fi
  if want_target haproxy; then
    need_port PORT_HAPROXY
    start_haproxy haproxy "$HERE/conf/haproxy-plain.cfg" "$PORT_HAPROXY"
    wait_ready haproxy "http://127.0.0.1:$PORT_HAPROXY$BENCH_PATH"
    add_target haproxy "http://127.0.0.1:$PORT_HAPROXY$BENCH_PATH"
  fi
  ((${#ACTIVE[@]})) || die "no target selected (TARGETS='$TARGETS')"
  measure_scenario plain "plain HTTP/1.1, keep-alive both sides, GET $BENCH_PATH"
  stop_targets
}

# ---------------------------------------------------------------------------------------------
# TLS material (tls_* scenarios): one ECDSA P-256 certificate for 127.0.0.1 made by
# certs/generate.sh in the run's temp dir, presented by all three proxies (HAProxy reads
# certificate and key from one file, combined.pem). Resumption set alike on all (TLS_RESUME).
TLS_READY=0
TLS_JSON=
tls_material() {
  ((TLS_READY)) && return 0
  BENCH_TLS_DIR=$WORK/tls
  local out
  out=$("$ROOT/certs/generate.sh" "$BENCH_TLS_DIR" 2>&1) || {
    log "certs/generate.sh $BENCH_TLS_DIR failed:"; sed 's/^/    /' <<<"$out" >&2; die "could not make the TLS certificate"; }
  cat "$BENCH_TLS_DIR/server.crt" "$BENCH_TLS_DIR/server.key" >"$BENCH_TLS_DIR/combined.pem"
  if ((TLS_RESUME)); then   # tickets (2 per handshake, OpenSSL's default) and session caches on
    BENCH_TLS_TICKETS=true BENCH_NGINX_TICKETS=on BENCH_NGINX_SESSION_CACHE=shared:bench:10m BENCH_NUM_TICKETS=2
    BENCH_HAPROXY_TICKETS= BENCH_HAPROXY_CACHESIZE=20000
  else                      # nothing resumable: every new connection is a full handshake
    BENCH_TLS_TICKETS=false BENCH_NGINX_TICKETS=off BENCH_NGINX_SESSION_CACHE=off BENCH_NUM_TICKETS=0
    BENCH_HAPROXY_TICKETS=no-tls-tickets BENCH_HAPROXY_CACHESIZE=0
  fi
  TLS_READY=1
  log "TLS: ECDSA P-256 certificate in $BENCH_TLS_DIR; TLS_RESUME=$TLS_RESUME"
}
TLS_RENDER_VARS=(BENCH_TLS_DIR BENCH_TLS_TICKETS BENCH_NGINX_TICKETS BENCH_NGINX_SESSION_CACHE
                 BENCH_NUM_TICKETS BENCH_HAPROXY_TICKETS BENCH_HAPROXY_CACHESIZE)

# tls_check: on each target, what a handshake negotiates (must be TLS 1.3 with an ECDSA
# signature and a verified certificate), that TLS 1.2 is refused, and that resumption is what
# TLS_RESUME asks for (a second connection offering the first one's session).
tls_check() {
  local t hp out again tickets proto cipher group sig resumed tj="" sess=$WORK/tls/session.pem
  for t in "${ACTIVE[@]}"; do
    hp=${URL[$t]#https://}; hp=${hp%%/*}
    rm -f "$sess"
    out=$(printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$BENCH_PATH" "$hp" \
      | timeout 10 openssl s_client -connect "$hp" -CAfile "$BENCH_TLS_DIR/ca.crt" -verify_ip 127.0.0.1 \
          -verify_return_error -ign_eof -sess_out "$sess" 2>&1) \
      || { sed 's/^/    /' <<<"$out" >&2; die "$t: openssl s_client could not complete a verified TLS handshake"; }
    proto=$(sed -n 's/^\(New\|Reused\), \(TLS[^,]*\), Cipher is \(.*\)$/\2/p' <<<"$out" | head -n1)
    cipher=$(sed -n 's/^\(New\|Reused\), \(TLS[^,]*\), Cipher is \(.*\)$/\3/p' <<<"$out" | head -n1)
    group=$(sed -n 's/^Server Temp Key: \([^,]*\).*/\1/p' <<<"$out" | head -n1)
    sig=$(sed -n 's/^Peer signature type: \(.*\)/\1/p' <<<"$out" | head -n1)
    tickets=$(grep -c 'New Session Ticket arrived' <<<"$out" || true)
    [[ $proto == TLSv1.3 && $sig == ECDSA ]] || { sed 's/^/    /' <<<"$out" >&2; die "$t: negotiated '$proto' with a '$sig' signature, expected TLSv1.3 and ECDSA"; }
    resumed=no
    if [[ -s $sess ]]; then
      again=$(printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$BENCH_PATH" "$hp" \
        | timeout 10 openssl s_client -connect "$hp" -CAfile "$BENCH_TLS_DIR/ca.crt" -ign_eof -sess_in "$sess" 2>&1 || true)
      grep -q '^Reused, ' <<<"$again" && resumed=yes
    fi
    if timeout 10 openssl s_client -connect "$hp" -tls1_2 </dev/null >/dev/null 2>&1; then
      die "$t: accepted a TLS 1.2 handshake (min_version 1.3 expected)"
    fi
    log "$t: $proto $cipher, $group, $sig signature, certificate verified, TLS 1.2 refused; $tickets ticket(s), resumption: $resumed"
    if { [[ $resumed == yes ]] && ((!TLS_RESUME)); } || { [[ $resumed == no ]] && ((TLS_RESUME)); }; then
      die "$t: resumption is '$resumed' but TLS_RESUME=$TLS_RESUME"
    fi
    tj+="${tj:+,}\"$t\":{\"protocol\":\"$proto\",\"cipher\":\"$cipher\",\"group\":\"$group\",\"signature\":\"$sig\",\"tickets_sent\":$tickets,\"resumed\":$([[ $resumed == yes ]] && echo true || echo false)}"
  done
  SCENARIO_JSON_EXTRA="\"tls\":{\"resume\":$TLS_RESUME,\"negotiated\":{$tj}}"
}

# tls_targets SCENARIO: start the three TLS-terminating proxies on the shared certificate
tls_targets() {
  tls_material
  RENDER_VARS=("${TLS_RENDER_VARS[@]}")
  CHECK_URL_ARGS=(--cacert "$BENCH_TLS_DIR/ca.crt")
  SMOKE_PROTO=https
  SCENARIO_CHECK=tls_check
  if want_target portcullis; then
    need_port PORT_PORTCULLIS
    start_portcullis portcullis "$HERE/portcullis-tls.yaml" "$PORT_PORTCULLIS"
    wait_ready portcullis "https://127.0.0.1:$PORT_PORTCULLIS$BENCH_PATH"
    add_target portcullis "https://127.0.0.1:$PORT_PORTCULLIS$BENCH_PATH"
  fi
  if want_target nginx; then
    need_port PORT_NGINX
    start_nginx nginx "$HERE/conf/nginx-tls.conf" "$PORT_NGINX"
    wait_ready nginx "https://127.0.0.1:$PORT_NGINX$BENCH_PATH"
    add_target nginx "https://127.0.0.1:$PORT_NGINX$BENCH_PATH"
  fi
  if want_target haproxy; then
    need_port PORT_HAPROXY
    start_haproxy haproxy "$HERE/conf/haproxy-tls.cfg" "$PORT_HAPROXY"
    wait_ready haproxy "https://127.0.0.1:$PORT_HAPROXY$BENCH_PATH"
    add_target haproxy "https://127.0.0.1:$PORT_HAPROXY$BENCH_PATH"
  fi
  ((${#ACTIVE[@]})) || die "no target selected (TARGETS='$TARGETS')"
}

# TLS termination, TLS 1.3 ECDSA P-256, keep-alive (wrk reuses its 64 connections): the cost of
# record encryption/decryption on top of "plain"; handshakes happen only at connect.
scenario_tls_keepalive() {
  tls_targets
  measure_scenario tls_keepalive "TLS 1.3 (ECDSA P-256, X25519) termination, keep-alive both sides, GET $BENCH_PATH"
  stop_targets
}

# TLS handshake rate: same proxies, but every request on a new connection (the client asks
# "Connection: close"; the proxies keep their upstream connections). req/s = handshakes/s.
scenario_tls_handshake() {
  tls_targets
  WRK_EXTRA=(-H "Connection: close")
  LOAD_DESC='-H "Connection: close"'
  local kind="full handshakes (no resumption)"
  ((TLS_RESUME)) && kind="resumed handshakes (TLS 1.3 tickets, PSK + X25519)"
  SCENARIO_NOTE="(one request per TLS connection: req/s = $kind per second; p50/p99 exclude the handshake, wrk starts its clock once connected)"
  measure_scenario tls_handshake "TLS 1.3 $kind, a new connection per request, GET $BENCH_PATH"
  stop_targets
}

# ---------------------------------------------------------------------------------------------
# JWT material (jwt_* scenarios): an RSA-2048 key pair (openssl), the token for jwt_cached
# (`portcullis token mint` when the binary has it), a set of good and bad tokens for the
# accept/refuse check and, for jwt_unique, JWT_TOKENS distinct tokens (tools/jwt-tokens.py,
# PyJWT). Portcullis and HAProxy verify with the same public key, issuer and audience.
JWT_READY=0
jwt_material() {
  ((JWT_READY)) && return 0
  "$PYTHON" -c 'import jwt, cryptography' 2>/dev/null \
    || die "the JWT scenarios need $PYTHON with PyJWT and cryptography (pip install pyjwt cryptography; or PYTHON=...)"
  local d=$WORK/jwt out
  mkdir -p "$d"
  for k in jwt other; do
    out=$(openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/$k.key" 2>&1) \
      || { sed 's/^/    /' <<<"$out" >&2; die "openssl genpkey failed"; }
  done
  openssl pkey -in "$d/jwt.key" -pubout -out "$d/jwt.pub.pem" 2>/dev/null || die "openssl pkey -pubout failed"
  BENCH_JWT_PUBKEY=$d/jwt.pub.pem BENCH_JWT_ISSUER=$JWT_ISSUER BENCH_JWT_AUDIENCE=$JWT_AUDIENCE
  "$PYTHON" "$HERE/tools/jwt-tokens.py" check --key "$d/jwt.key" --other-key "$d/other.key" \
    --pub "$d/jwt.pub.pem" --out "$d/check" --iss "$JWT_ISSUER" --aud "$JWT_AUDIENCE" \
    || die "tools/jwt-tokens.py check failed"
  if out=$("$BIN" token mint --key "$d/jwt.key" --alg RS256 --iss "$JWT_ISSUER" --aud "$JWT_AUDIENCE" \
             --sub bench-user --ttl 6h 2>&1) && [[ $out == *.*.* ]]; then
    JWT_TOKEN=$out JWT_TOKEN_BY="portcullis token mint"
  else
    log "portcullis token mint is not available ($(head -n1 <<<"$out")); the cached token comes from PyJWT"
    JWT_TOKEN=$(<"$d/check/valid") JWT_TOKEN_BY=PyJWT
  fi
  JWT_READY=1
  log "JWT: RSA-2048 key pair in $d; the jwt_cached token made by $JWT_TOKEN_BY (${#JWT_TOKEN} bytes)"
}
JWT_RENDER_VARS=(BENCH_JWT_PUBKEY BENCH_JWT_ISSUER BENCH_JWT_AUDIENCE)

JWT_BULK=
jwt_bulk() {  # JWT_TOKENS distinct valid tokens, one per line, for jwt_unique
  [[ -n $JWT_BULK ]] && return 0
  local f=$WORK/jwt/tokens.txt t0 n u
  log "minting $JWT_TOKENS RS256 tokens with PyJWT ($NCPU processes)..."
  t0=$(date +%s)
  "$PYTHON" "$HERE/tools/jwt-tokens.py" bulk --key "$WORK/jwt/jwt.key" --count "$JWT_TOKENS" --out "$f" \
    --iss "$JWT_ISSUER" --aud "$JWT_AUDIENCE" --procs "$NCPU" || die "tools/jwt-tokens.py bulk failed"
  n=$(grep -c . "$f"); u=$(sort -u "$f" | grep -c .)
  ((n == JWT_TOKENS && u == n)) || die "$f has $n tokens ($u distinct), expected $JWT_TOKENS distinct"
  log "minted $n distinct tokens in $(( $(date +%s) - t0 ))s ($(( $(stat -c %s "$f") / 1048576 )) MiB)"
  JWT_BULK=$f
}

# jwt_check: every target must accept the valid tokens (200) and refuse, with 401, a missing
# token and every bad one: tampered signature, another key, expired, wrong iss, wrong aud,
# alg none, HS256 signed with the RSA public key as secret.
JWT_GOOD=()   # more tokens that must pass (the scenario's own)
jwt_check() {
  local t f name code want bad=0 line
  for t in "${ACTIVE[@]}"; do
    line=()
    for f in "$WORK/jwt/check/"* missing "${JWT_GOOD[@]/#/good:}"; do
      local args=()
      case $f in
        missing) name=missing want=401 ;;
        good:*) name=load want=200; args=(-H "Authorization: Bearer ${f#good:}") ;;
        *) name=${f##*/}; args=(-H "Authorization: Bearer $(<"$f")")
           if [[ $name == valid ]]; then want=200; else want=401; fi ;;
      esac
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${args[@]}" "${URL[$t]}" || true)
      line+=("$name $code")
      if [[ $code != "$want" ]]; then log "$t: token '$name' answered ${code:-nothing}, expected $want"; bad=1; fi
    done
    log "$t: $(IFS=,; echo "${line[*]}" | sed 's/,/, /g')"
  done
  ((bad == 0)) || die "a target does not accept exactly the valid tokens; refusing to benchmark it"
  log "JWT check passed: valid tokens 200, missing/forged/expired/wrong-claim tokens 401 on every target"
}

# jwt_targets: Portcullis with the jwt authorizer, HAProxy with jwt_verify. nginx (Debian's
# nginx-light: no njs, no auth_jwt) cannot verify a JWT, so it sits these scenarios out; the
# plain scenario's figures are the context.
jwt_targets() {
  jwt_material
  RENDER_VARS=("${JWT_RENDER_VARS[@]}")
  CHECK_URL_ARGS=(-H "Authorization: Bearer $JWT_TOKEN")
  SCENARIO_CHECK=jwt_check
  if want_target portcullis; then
    need_port PORT_PORTCULLIS
    start_portcullis portcullis "$HERE/portcullis-jwt.yaml" "$PORT_PORTCULLIS"
    wait_ready portcullis "http://127.0.0.1:$PORT_PORTCULLIS$BENCH_PATH"
    add_target portcullis "http://127.0.0.1:$PORT_PORTCULLIS$BENCH_PATH"
  fi
  want_target nginx && log "nginx: no JWT verification (Debian's nginx has neither njs nor auth_jwt): not in this scenario"
  if want_target haproxy; then
    need_port PORT_HAPROXY
    start_haproxy haproxy "$HERE/conf/haproxy-jwt.cfg" "$PORT_HAPROXY"
    wait_ready haproxy "http://127.0.0.1:$PORT_HAPROXY$BENCH_PATH"
    add_target haproxy "http://127.0.0.1:$PORT_HAPROXY$BENCH_PATH"
  fi
  ((${#ACTIVE[@]})) || die "no JWT-capable target selected (TARGETS='$TARGETS'; nginx cannot verify JWTs)"
  SCENARIO_NOTE="(nginx: no JWT verification, not measured; HAProxy 2.6 has no verified-token cache: it checks the RS256 signature on every request)"
}

# JWT RS256, one token reused (Portcullis: authorizer cache hit after the first request) vs
# HAProxy's jwt_verify (verifies every request).
scenario_jwt_cached() {
  jwt_targets
  WRK_EXTRA=(-H "Authorization: Bearer $JWT_TOKEN")
  LOAD_DESC='-H "Authorization: Bearer <one RS256 token>"'
  SCENARIO_JSON_EXTRA="\"jwt\":{\"tokens\":1,\"token_bytes\":${#JWT_TOKEN},\"minted_by\":\"$JWT_TOKEN_BY\"}"
  measure_scenario jwt_cached "JWT RS256, the same token on every request, plain HTTP keep-alive, GET $BENCH_PATH"
  stop_targets
}

# JWT RS256, a different token per request (wrk/jwt-unique.lua cycles through JWT_TOKENS
# tokens; more than Portcullis's cache holds, so every request verifies a signature).
scenario_jwt_unique() {
  if (( JWT_TOKENS / THREADS <= 10000 )); then
    log "WARNING: JWT_TOKENS=$JWT_TOKENS over $THREADS wrk thread(s) repeats a token within 10,000 requests: Portcullis's token cache (10,000 entries) may hit"
  fi
  jwt_targets
  jwt_bulk
  JWT_GOOD=("$(head -n1 "$JWT_BULK")" "$(tail -n1 "$JWT_BULK")")
  WRK_SCRIPT=$HERE/wrk/jwt-unique.lua
  WRK_ENV=(BENCH_TOKENS="$JWT_BULK" BENCH_WRK_THREADS="$THREADS")
  LOAD_DESC="-s wrk/jwt-unique.lua ($JWT_TOKENS distinct RS256 tokens, cycled)"
  SCENARIO_JSON_EXTRA="\"jwt\":{\"tokens\":$JWT_TOKENS,\"minted_by\":\"PyJWT\"}"
  measure_scenario jwt_unique "JWT RS256, a different token on every request, plain HTTP keep-alive, GET $BENCH_PATH"
  JWT_GOOD=()
  stop_targets
}

# ---------------------------------------------------------------------------------------------
# Portcullis against Portcullis (sigv4, resource_policy): one process, a guarded route and a
# plain route of one config, each its own target (the runner measures them alternately and
# counts the same process's CPU for whichever is under load). The plain route is the reference
# of the table (COMPARE_TO), the guarded one its subject. nginx and HAProxy have no SigV4 or IAM
# policies: they are not in these scenarios.
route_targets() {  # route_targets SCENARIO TEMPLATE: start the Portcullis process both targets share
  if ! want_target portcullis; then
    return 1
  fi
  [[ $UPSTREAM == stub ]] || log "$1: UPSTREAM=$UPSTREAM; UPSTREAM=stub keeps the upstream's cost small beside the proxy's"
  need_port PORT_PORTCULLIS
  start_portcullis portcullis "$2" "$PORT_PORTCULLIS"
  COMPARE_TO=plain-route
}

expect_status() {  # expect_status WANT LABEL CURL-ARGS...: one request; logs and returns 1 when the status differs
  local want=$1 label=$2 code; shift 2
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" || true)
  if [[ $code != "$want" ]]; then
    log "$label: answered ${code:-nothing}, expected $want"
    return 1
  fi
  CHECKED+=("$label $code")
}
CHECKED=()

# SigV4 material (scenario sigv4): SIGV4_URLS presigned URLs for /bench/sigv4/item-N?x=N, made
# with the gateway's own `portcullis sign` (one process each, NCPU at a time), for the key of
# portcullis-sigv4.yaml. A presigned URL may be sent again and again within its lifetime, and
# the gateway caches the signing key per key, day and region, so each request costs a canonical
# request, a SHA-256 and one HMAC: cycling a pool is what many clients reusing URLs look like.
SIGV4_KEY=AKIAPORTCULLISBENCH1
SIGV4_SECRET=bench-secret-0123456789abcdefghijklmnop   # as in portcullis-sigv4.yaml
SIGV4_REGION=eu-west-1
sigv4_sign() {  # sigv4_sign SECRET EXPIRES URL -> a presigned URL on stdout
  "$BIN" sign --access-key "$SIGV4_KEY" --secret "$1" --region "$SIGV4_REGION" --presign --expires "$2" "$3"
}

sigv4_lifetime_check() {  # the URLs must outlive the scenario: worst case every round waits QUIET_WAIT and is re-run
  local worst=$(( 2 * (WARMUP + PAUSE) + ROUNDS * 2 * (1 + BUSY_RETRIES) * (DURATION + PAUSE + QUIET_WAIT + 2) + 60 ))
  ((worst < SIGV4_EXPIRES)) \
    || die "sigv4: the scenario may last up to ${worst}s, longer than the presigned URLs (SIGV4_EXPIRES=$SIGV4_EXPIRES); raise SIGV4_EXPIRES (at most 604800)"
}

sigv4_pool() {  # sigv4_pool BASE -> SIGV4_POOL: a file of path?query lines (BASE = http://host:port)
  local base=$1 d=$WORK/sigv4 t0 n u secs
  sigv4_lifetime_check
  mkdir -p "$d"
  sigv4_sign "$SIGV4_SECRET" "$SIGV4_EXPIRES" "$base/bench/sigv4/item-1?x=1" >/dev/null || die "portcullis sign failed (does $BIN have the sign command?)"
  log "sigv4: signing $SIGV4_URLS presigned URLs with portcullis sign ($NCPU at a time)..."
  t0=$(date +%s%N)
  seq 1 "$SIGV4_URLS" | xargs -P "$NCPU" -I{} "$BIN" sign --access-key "$SIGV4_KEY" --secret "$SIGV4_SECRET" \
      --region "$SIGV4_REGION" --presign --expires "$SIGV4_EXPIRES" "$base/bench/sigv4/item-{}?x={}" \
    | sed "s#^$base##" >"$d/urls.txt" || die "portcullis sign failed while making the pool"
  secs=$(awk -v ns=$(( $(date +%s%N) - t0 )) 'BEGIN { printf "%.1f", ns / 1e9 }')
  n=$(grep -c '^/bench/sigv4/item-[0-9]*?x=[0-9]*&X-Amz-' "$d/urls.txt" || true); u=$(sort -u "$d/urls.txt" | grep -c . || true)
  ((n == SIGV4_URLS && u == n)) || die "$d/urls.txt has $n presigned targets ($u distinct), expected $SIGV4_URLS"
  log "sigv4: $n presigned URLs in ${secs}s (valid ${SIGV4_EXPIRES}s; ~$(awk '{ s += length($0) } END { printf "%d", s / NR }' "$d/urls.txt") bytes of path and query each)"
  SIGV4_POOL=$d/urls.txt
}

# sigv4_unique_pool BASE -> SIGV4_POOL: SIGV4_UNIQUE_URLS presigned URLs for
# /bench/sigv4/item-N?x=N, signed by botocore (tools/sigv4-urls.py; one `portcullis sign`
# process per URL would take minutes for 20,000), same key, region and lifetime as sigv4's.
sigv4_unique_pool() {
  local base=$1 d=$WORK/sigv4-unique t0 n u secs
  sigv4_lifetime_check
  "$PYTHON" -c 'import botocore' 2>/dev/null \
    || die "sigv4_unique needs $PYTHON with botocore (pip install botocore; or PYTHON=...)"
  mkdir -p "$d"
  log "sigv4_unique: signing $SIGV4_UNIQUE_URLS presigned URLs with botocore..."
  t0=$(date +%s%N)
  "$PYTHON" "$HERE/tools/sigv4-urls.py" --base "$base" --count "$SIGV4_UNIQUE_URLS" --out "$d/urls.txt" \
    --access-key "$SIGV4_KEY" --secret "$SIGV4_SECRET" --region "$SIGV4_REGION" --expires "$SIGV4_EXPIRES" \
    || die "tools/sigv4-urls.py failed"
  secs=$(awk -v ns=$(( $(date +%s%N) - t0 )) 'BEGIN { printf "%.1f", ns / 1e9 }')
  n=$(grep -c '^/bench/sigv4/item-[0-9]*?x=[0-9]*&X-Amz-.*&X-Amz-Signature=[0-9a-f]\{64\}$' "$d/urls.txt" || true)
  u=$(sort -u "$d/urls.txt" | grep -c . || true)
  ((n == SIGV4_UNIQUE_URLS && u == n)) || die "$d/urls.txt has $n presigned targets ($u distinct), expected $SIGV4_UNIQUE_URLS"
  log "sigv4_unique: $n presigned URLs in ${secs}s (valid ${SIGV4_EXPIRES}s; ~$(awk '{ s += length($0) } END { printf "%d", s / NR }' "$d/urls.txt") bytes of path and query each)"
  SIGV4_POOL=$d/urls.txt
}

# sigv4_check: the guarded route answers 200 to presigned URLs of the pool and 403 to a tampered
# signature (one hex digit changed), to no signature, to a signature of another path, to a
# signature by a wrong secret and to an expired URL; the plain route answers 200 without any.
sigv4_check() {
  local base=${URL[sigv4-route]%%/bench/*} first last sig bad=0 other expired
  first=$(head -n1 "$SIGV4_POOL") last=$(tail -n1 "$SIGV4_POOL")
  sig=${first##*X-Amz-Signature=}
  local flip=${sig:0:${#sig}-1}$([[ ${sig: -1} == 0 ]] && echo 1 || echo 0)
  other=$(sigv4_sign "not-the-$SIGV4_SECRET" 600 "$base/bench/sigv4/item-1?x=1") || die "portcullis sign failed"
  expired=$(sigv4_sign "$SIGV4_SECRET" 1 "$base/bench/sigv4/item-1?x=1") || die "portcullis sign failed"
  CHECKED=()
  expect_status 200 "presigned (first of the pool)" "$base$first" || bad=1
  expect_status 200 "presigned (last of the pool)" "$base$last" || bad=1
  expect_status 403 "signature with one digit changed" "$base${first%X-Amz-Signature=*}X-Amz-Signature=$flip" || bad=1
  expect_status 403 "no signature" "$base${first%%\?*}" || bad=1
  expect_status 403 "signature of another path" "$base${last%%\?*}?${first#*\?}" || bad=1
  expect_status 403 "signed with a wrong secret" "$other" || bad=1
  sleep 2
  expect_status 403 "expired (X-Amz-Expires=1, 2s ago)" "$expired" || bad=1
  expect_status 200 "plain route, no signature" "$base/bench/plain/item-1" || bad=1
  log "sigv4 check: $(printf '%s; ' "${CHECKED[@]}")"
  ((bad == 0)) || die "the sigv4 route does not accept exactly the valid presigned URLs; refusing to benchmark it"
  log "sigv4 check passed: presigned URLs 200; tampered, unsigned, other-path, wrong-secret and expired ones 403"
}

# SigV4, presigned URLs (query-string signatures) on /bench/sigv4/{proxy+}, against the plain
# route /bench/plain/{proxy+} of the same process with the same URLs (the query, signature
# included, is sent to both and forwarded upstream by both): the difference is the verification.
scenario_sigv4() {
  route_targets sigv4 "$HERE/portcullis-sigv4.yaml" || { skip_scenario sigv4 "Portcullis against Portcullis: TARGETS has no portcullis"; return 0; }
  local base="http://127.0.0.1:$PORT_PORTCULLIS" first item
  wait_ready portcullis "$base/bench/plain/hello"
  sigv4_pool "$base"
  first=$(head -n1 "$SIGV4_POOL"); item=${first#/bench/sigv4/}; item=${item%%\?*}
  add_target plain-route "$base/bench/plain/${first#/bench/sigv4/}" portcullis
  add_target sigv4-route "$base$first" portcullis
  UPATH[plain-route]=/plain/$item UPATH[sigv4-route]=/sigv4/$item
  SUBJECTS=sigv4-route
  SCENARIO_CHECK=sigv4_check
  WRK_SCRIPT=$HERE/wrk/url-pool.lua
  WRK_ENV=(BENCH_URLS="$SIGV4_POOL" BENCH_WRK_THREADS="$THREADS")
  LOAD_DESC="-s wrk/url-pool.lua ($SIGV4_URLS presigned URLs, cycled; the same targets under /bench/plain/ for plain-route)"
  SCENARIO_NOTE="(one Portcullis process, two routes of one API measured alternately: /bench/plain/{proxy+} without authorizer, /bench/sigv4/{proxy+} with type: sigv4; identical requests apart from that path segment)"
  SCENARIO_JSON_EXTRA="\"sigv4\":{\"presigned_urls\":$SIGV4_URLS,\"expires_s\":$SIGV4_EXPIRES,\"signed_by\":\"portcullis sign\"}"
  measure_scenario sigv4 "SigV4 presigned URLs (HMAC-SHA256) vs the same requests on a route without authorizer, one process, plain HTTP keep-alive"
  stop_targets
}

# SigV4 with a fresh signature on every request (what AWS SDKs send: each call signed anew):
# SIGV4_UNIQUE_URLS distinct presigned URLs cycled, so a URL comes back only after
# SIGV4_UNIQUE_URLS requests, when the verified-request cache (2,048 entries per loop, cleared
# when full) has long forgotten it: every request is verified in full (query parsed, canonical
# request, SHA-256, HMAC). Same routes and same comparison as sigv4.
scenario_sigv4_unique() {
  route_targets sigv4_unique "$HERE/portcullis-sigv4.yaml" || { skip_scenario sigv4_unique "Portcullis against Portcullis: TARGETS has no portcullis"; return 0; }
  local base="http://127.0.0.1:$PORT_PORTCULLIS" first item
  if (( SIGV4_UNIQUE_URLS / THREADS <= 4096 )); then
    log "WARNING: SIGV4_UNIQUE_URLS=$SIGV4_UNIQUE_URLS over $THREADS wrk thread(s) repeats a URL within 4,096 requests: the verified-request cache may hit"
  fi
  wait_ready portcullis "$base/bench/plain/hello"
  sigv4_unique_pool "$base"
  first=$(head -n1 "$SIGV4_POOL"); item=${first#/bench/sigv4/}; item=${item%%\?*}
  add_target plain-route "$base/bench/plain/${first#/bench/sigv4/}" portcullis
  add_target sigv4-route "$base$first" portcullis
  UPATH[plain-route]=/plain/$item UPATH[sigv4-route]=/sigv4/$item
  SUBJECTS=sigv4-route
  SCENARIO_CHECK=sigv4_check
  WRK_SCRIPT=$HERE/wrk/url-pool.lua
  WRK_ENV=(BENCH_URLS="$SIGV4_POOL" BENCH_WRK_THREADS="$THREADS")
  LOAD_DESC="-s wrk/url-pool.lua ($SIGV4_UNIQUE_URLS distinct presigned URLs, cycled: none repeats within the verified-request cache's reach; the same targets under /bench/plain/ for plain-route)"
  SCENARIO_NOTE="(one Portcullis process, two routes of one API measured alternately; every sigv4-route request carries a signature the gateway has not seen lately, so each is verified in full)"
  SCENARIO_JSON_EXTRA="\"sigv4\":{\"presigned_urls\":$SIGV4_UNIQUE_URLS,\"expires_s\":$SIGV4_EXPIRES,\"signed_by\":\"botocore\",\"cache_hits_expected\":0}"
  measure_scenario sigv4_unique "SigV4 presigned URLs, a fresh signature on every request (HMAC-SHA256, no verified-request cache hit) vs the same requests on a route without authorizer, one process, plain HTTP keep-alive"
  stop_targets
}

# resource_policy_check: the guarded API refuses (403) what its Deny statements name and callers
# outside its networks (X-Forwarded-For from a trusted 127.0.0.1), and admits the load's request
# and a partner's GET; the API without policy and the allow-all one admit all of them.
POLICY_UA="portcullis-bench/1.0 (wrk)"
resource_policy_check() {
  local base=${URL[policy-route]%%/guard/*} bad=0
  CHECKED=()
  expect_status 200 "guarded: GET from 127.0.0.1" -A "$POLICY_UA" "$base/guard/hello" || bad=1
  expect_status 403 "guarded: User-Agent some-bad-bot (DenyBadBots)" -A "some-bad-bot/2.1" "$base/guard/hello" || bad=1
  expect_status 403 "guarded: User-Agent sqlmap (DenyBadBots)" -A "sqlmap/1.7.2#stable" "$base/guard/hello" || bad=1
  expect_status 403 "guarded: DELETE (DenyDeletes)" -A "$POLICY_UA" -X DELETE "$base/guard/hello" || bad=1
  expect_status 403 "guarded: from 203.0.113.7 (no Allow; DenyUnknownNetworks)" -A "$POLICY_UA" -H "X-Forwarded-For: 203.0.113.7" "$base/guard/hello" || bad=1
  expect_status 200 "guarded: GET from partner 198.51.100.7 (AllowPartnerReadOnly)" -A "$POLICY_UA" -H "X-Forwarded-For: 198.51.100.7" "$base/guard/hello" || bad=1
  expect_status 403 "guarded: PUT from partner 198.51.100.7 (GET only)" -A "$POLICY_UA" -X PUT -H "X-Forwarded-For: 198.51.100.7" "$base/guard/hello" || bad=1
  expect_status 200 "plain: User-Agent some-bad-bot" -A "some-bad-bot/2.1" "$base/bench/hello" || bad=1
  expect_status 200 "plain: DELETE from 203.0.113.7" -X DELETE -H "X-Forwarded-For: 203.0.113.7" "$base/bench/hello" || bad=1
  expect_status 200 "allow-all: DELETE from 203.0.113.7 by some-bad-bot" -A "some-bad-bot/2.1" -X DELETE -H "X-Forwarded-For: 203.0.113.7" "$base/allow/hello" || bad=1
  log "resource policy check: $(printf '%s; ' "${CHECKED[@]}")"
  ((bad == 0)) || die "the resource policy does not decide as written; refusing to benchmark it"
  log "resource policy check passed: each statement decides as written; the API without policy admits everything"
}

# Resource policy: five statements (conf/resource-policy-bench.json: two Allows, three Denies,
# each with a resource or condition to test per request) on API "guarded" (/guard), against
# API "bench" (/bench) without a policy, same process, same route, same request. A third target,
# API "allow-all" (/allow, one unconditional Allow), separates what any policy phase costs
# (the admission path, the method ARN) from what evaluating the five statements adds.
scenario_resource_policy() {
  BENCH_CONF_DIR=$HERE/conf
  RENDER_VARS=(BENCH_CONF_DIR)
  route_targets resource_policy "$HERE/portcullis-policy.yaml" || { skip_scenario resource_policy "Portcullis against Portcullis: TARGETS has no portcullis"; return 0; }
  local base="http://127.0.0.1:$PORT_PORTCULLIS"
  CHECK_URL_ARGS=(-A "$POLICY_UA")
  wait_ready portcullis "$base$BENCH_PATH"
  add_target plain-route "$base$BENCH_PATH" portcullis
  add_target policy-route "$base/guard${BENCH_PATH#/bench}" portcullis
  add_target allow1-route "$base/allow${BENCH_PATH#/bench}" portcullis
  UPATH[plain-route]=${BENCH_PATH#/bench} UPATH[policy-route]=${BENCH_PATH#/bench} UPATH[allow1-route]=${BENCH_PATH#/bench}
  SUBJECTS="policy-route allow1-route"
  SCENARIO_CHECK=resource_policy_check
  WRK_EXTRA=(-H "User-Agent: $POLICY_UA")
  LOAD_DESC="-H \"User-Agent: $POLICY_UA\""
  SCENARIO_NOTE="(one Portcullis process, the same open route in three APIs measured in turn: /bench without resource policy, /guard with the 5 statements of conf/resource-policy-bench.json, /allow with one unconditional Allow; the caller is anonymous, 127.0.0.1)"
  SCENARIO_JSON_EXTRA="\"resource_policy\":{\"file\":\"benchmarks/conf/resource-policy-bench.json\",\"statements\":5,\"allow1_route\":\"one unconditional Allow, inline in portcullis-policy.yaml\"}"
  measure_scenario resource_policy "IAM resource policy (5 statements, anonymous caller) vs the same route of an API without one, one process, plain HTTP keep-alive, GET ${BENCH_PATH#/bench}"
  stop_targets
}

# ---------------------------------------------------------------------------------------------
main() {
  [[ $SCENARIOS == all ]] && SCENARIOS=$ALL_SCENARIOS
  local s
  for s in $SCENARIOS; do
    declare -F "scenario_$s" >/dev/null || die "unknown scenario '$s' (known: $ALL_SCENARIOS)"
  done
  if want_target portcullis || [[ $UPSTREAM == portcullis ]]; then
    [[ -x $BIN ]] || die "no Portcullis binary at $BIN (swift build -c release, or PORTCULLIS_BIN=...; UPSTREAM=stub TARGETS='nginx haproxy' runs the references alone)"
  fi
  ensure_tools

  WORK=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-bench.XXXXXX")
  local stamp; stamp=$(date -u +%Y%m%dT%H%M%SZ)
  mkdir -p "$RESULTS_DIR"
  RUN_DIR=$RESULTS_DIR/$stamp
  mkdir -p "$RUN_DIR"

  local pver=null
  [[ -x $BIN ]] && pver="\"$({ "$BIN" version 2>&1 || true; } | head -n1 | tr -d '"\\')\""
  log "pin=$PIN (wrk: ${CPU_WRK:-any}, proxy: ${CPU_PROXY:-any}, upstream: ${CPU_UPSTREAM:-any}); $NCPU CPUs; raw output in $RUN_DIR"

  start_upstream
  for s in $SCENARIOS; do "scenario_$s"; done

  local cpu_model
  cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo | tr -d '"\\')
  {
    printf '{"date":"%s","host":{"cpus":%d,"cpu_model":"%s","kernel":"%s"},' \
      "$stamp" "$NCPU" "$cpu_model" "$(uname -r)"
    printf '"versions":{"portcullis":%s,"nginx":"%s","haproxy":"%s","wrk":"%s"},' "$pver" \
      "$(nginx -v 2>&1 | sed 's/.*version: //')" "$(haproxy -v | awk 'NR == 1 { print $3 }')" \
      "$({ wrk -v 2>&1 || true; } | awk 'NR == 1 { print $2 }')"
    printf '"load":{"tool":"wrk","threads":%d,"connections":%d,"duration_s":%d,"warmup_s":%d,"rounds":%d,"path":"%s"},' \
      "$THREADS" "$CONNECTIONS" "$DURATION" "$WARMUP" "$ROUNDS" "$BENCH_PATH"
    printf '"pinning":{"mode":"%s","wrk":"%s","proxy":"%s","upstream":"%s"},"upstream":"%s",' \
      "$PIN" "${CPU_WRK:-}" "${CPU_PROXY:-}" "${CPU_UPSTREAM:-}" "$UPSTREAM"
    printf '"scenarios":{%s}}\n' "$(IFS=,; echo "${SCENARIO_JSON[*]}")"
  } >"$RESULTS_DIR/$stamp.json"
  cp "$RESULTS_DIR/$stamp.json" "$RESULTS_DIR/latest.json"
  log "results: $RESULTS_DIR/$stamp.json (raw wrk output and summary.txt in $RUN_DIR/)"
  if ((SUSPECT)); then
    log "WARNING: some target had socket errors or non-2xx answers; see the errors column"
    exit 3
  fi
}

main "$@"
