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
USER_PORTS=" ${PORT_UPSTREAM+PORT_UPSTREAM} ${PORT_PORTCULLIS+PORT_PORTCULLIS} ${PORT_NGINX+PORT_NGINX} ${PORT_HAPROXY+PORT_HAPROXY} "
PORT_UPSTREAM=${PORT_UPSTREAM:-18001}
PORT_PORTCULLIS=${PORT_PORTCULLIS:-18080}
PORT_NGINX=${PORT_NGINX:-18081}
PORT_HAPROXY=${PORT_HAPROXY:-18082}
RESULTS_DIR=${RESULTS_DIR:-$HERE/results}
START_TIMEOUT=${START_TIMEOUT:-20}  # seconds for a process to answer its first request
STOP_TIMEOUT=${STOP_TIMEOUT:-5}     # seconds between SIGTERM and SIGKILL
BUSY_PCT=${BUSY_PCT:-10}            # a round beside more foreign CPU load than this is re-run...
BUSY_RETRIES=${BUSY_RETRIES:-2}     # ...at most this many times
QUIET_WAIT=${QUIET_WAIT:-30}        # seconds to wait before a round for foreign load to go away

# Every scenario this runner knows; "all" runs them in this order.
ALL_SCENARIOS="plain tls_keepalive tls_handshake jwt_cached jwt_unique"

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
              setsid:util-linux timeout:coreutils; do
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
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null || true)
    [[ $code == 200 ]] && return 0
    sleep 0.1
  done
  log "$name: no 200 from $url within ${START_TIMEOUT}s (last status: ${code:-none}); its output:"
  sed 's/^/    /' "$WORK/$name.log" >&2
  die "$name did not become ready"
}

# render TEMPLATE OUT VAR...: replace ${VAR} for the named variables only
render() {
  local src=$1 dst=$2 s v; shift 2
  s=$(<"$src")
  for v in "$@"; do s=${s//"\${$v}"/"${!v}"}; done
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
WRK_EXTRA=()           # extra wrk arguments for this scenario (headers, scripts...)
CHECK_URL_ARGS=()      # extra curl arguments for the smoke check (headers, --cacert...)
CLK_TCK=$(getconf CLK_TCK)
SUSPECT=0
SCENARIO_JSON=()       # one JSON object per scenario, joined at the end

want_target() { [[ " $TARGETS " == *" $1 "* ]]; }

add_target() {  # add_target NAME URL
  ACTIVE+=("$1"); URL[$1]=$2
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
      log "$t output:"; tail -n 20 "$WORK/$t.log" | sed 's/^/    /' >&2
      die "$t does not answer 200; refusing to benchmark error responses"
    fi
    local lc=${body,,} miss=()
    [[ $lc == *'"/hello'* && $lc != *'/bench/hello'* ]] || miss+=("path not stripped to /hello")
    local h
    for h in x-forwarded-for x-forwarded-proto x-forwarded-host x-request-id; do
      [[ $lc == *"$h"* ]] || miss+=("$h missing")
    done
    if ((${#miss[@]})); then
      log "WARNING $t: upstream saw: $body"
      log "WARNING $t: $(IFS=';'; echo "${miss[*]}")"
    else
      log "$t ok: upstream saw /hello with X-Forwarded-* and X-Request-Id"
    fi
  done
}

run_wrk() {  # run_wrk TARGET SECONDS OUTFILE -> the WRK_JSON object on stdout
  local t=$1 secs=$2 out=$3
  # shellcheck disable=SC2046
  timeout -k 5 $((secs + 30)) $(pin wrk) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --latency \
    -s "$HERE/wrk/report.lua" "${WRK_EXTRA[@]}" "${URL[$t]}" >"$out" 2>&1 \
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
# (a build, another benchmark...) that makes the round untrustworthy.
measure_once() {
  local t=$1 out=$2 s0 b0 c0 u0 c1 u1 b1 s1 reqs
  s0=$(self_ticks); b0=$(busy_ticks)
  c0=$(cpu_ticks "${PID[$t]}"); u0=$(cpu_ticks "${PID[upstream]}")
  M_J=$(run_wrk "$t" "$DURATION" "$out")
  c1=$(cpu_ticks "${PID[$t]}"); u1=$(cpu_ticks "${PID[upstream]}")
  b1=$(busy_ticks); s1=$(self_ticks)
  reqs=$(jnum "$M_J" requests)
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

  log "warm-up: ${WARMUP}s per target"
  for t in "${ACTIVE[@]}"; do run_wrk "$t" "$WARMUP" "$raw/warmup-$t.txt" >/dev/null; sleep "$PAUSE"; done

  declare -A RPS=() P99=() P50=() ERRS=() CPU=() UCPU=() OTHER=() ROUNDJ=()
  for ((r = 1; r <= ROUNDS; r++)); do
    # rotate the order every round so no target always runs first (or right after warm-up)
    for ((i = 0; i < n; i++)); do
      t=${ACTIVE[(i + r - 1) % n]}
      local j cpu ucpu other attempt=0
      # A round that ran beside foreign load (more than BUSY_PCT of the machine) is run again,
      # at most BUSY_RETRIES times; the last attempt counts either way and is flagged.
      while :; do
        wait_quiet
        measure_once "$t" "$raw/round$r-$t.txt"
        j=$M_J cpu=$M_CPU ucpu=$M_UCPU other=$M_OTHER
        awk -v o="$other" -v m="$BUSY_PCT" 'BEGIN { exit !(o > m) }' || break
        if ((attempt >= BUSY_RETRIES)); then
          log "WARNING: ${other}% of the machine was busy elsewhere during this round; keeping it"
          break
        fi
        attempt=$((attempt + 1))
        log "$t: ${other}% of the machine was busy elsewhere; running this round again ($attempt/$BUSY_RETRIES)"
      done
      RPS[$t]+="$(jnum "$j" rps) "; P99[$t]+="$(jnum "$j" p99_us) "; P50[$t]+="$(jnum "$j" p50_us) "
      CPU[$t]+="$cpu "; UCPU[$t]+="$ucpu "; OTHER[$t]+="$other "
      local e; e=$(jerr "$j"); ERRS[$t]=$(( ${ERRS[$t]:-0} + e ))
      ROUNDJ[$t]+="${ROUNDJ[$t]:+,}{\"round\":$r,\"proxy_cpu_us_per_req\":$cpu,\"upstream_cpu_us_per_req\":$ucpu,\"other_cpu_pct\":$other,\"attempts\":$((attempt + 1)),\"wrk\":$j}"
      log "$(printf '%-10s round %d/%d: %8.0f req/s  p99 %-8s cpu/req %5sus  other %4s%%  errors %s' \
        "$t" "$r" "$ROUNDS" "$(jnum "$j" rps)" "$(fmt_us "$(jnum "$j" p99_us)")" "$cpu" "$other" "$e")"
      sleep "$PAUSE"
    done
  done

  # medians, spread and ratios
  declare -A MRPS=() MP99=() MP50=() MCPU=() MUCPU=() MOTHER=() SPREAD=()
  for t in "${ACTIVE[@]}"; do
    MRPS[$t]=$(tr ' ' '\n' <<<"${RPS[$t]}" | grep . | median)
    MP99[$t]=$(tr ' ' '\n' <<<"${P99[$t]}" | grep . | median)
    MP50[$t]=$(tr ' ' '\n' <<<"${P50[$t]}" | grep . | median)
    MCPU[$t]=$(tr ' ' '\n' <<<"${CPU[$t]}" | grep . | median)
    MUCPU[$t]=$(tr ' ' '\n' <<<"${UCPU[$t]}" | grep . | median)
    MOTHER[$t]=$(tr ' ' '\n' <<<"${OTHER[$t]}" | grep . | sort -g | tail -n1)   # worst round
    # (max - min) / median of req/s over the rounds: how repeatable this target was
    SPREAD[$t]=$(tr ' ' '\n' <<<"${RPS[$t]}" | grep . | sort -g | awk -v m="${MRPS[$t]}" \
      'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.1f", (m > 0) ? (hi - lo) / m * 100 : 0 }')
    ((ERRS[$t] == 0)) || SUSPECT=1
  done

  local refs=() ref
  for ref in nginx haproxy; do [[ -n ${MRPS[$ref]:-} ]] && refs+=("$ref"); done

  {
    echo
    echo "== scenario $scen: $desc"
    echo "   wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency, median of $ROUNDS rounds, pin=$PIN, upstream=$UPSTREAM"
    printf '%-11s %9s %9s %9s %7s %8s %6s' target 'req/s' p99 p50 spread 'cpu/req' other
    for ref in "${refs[@]}"; do printf ' %11s %11s' "rps/$ref" "p99/$ref"; done
    printf ' %s\n' errors
    for t in "${ACTIVE[@]}"; do
      printf '%-11s %9.0f %9s %9s %6s%% %6sus %5s%%' "$t" "${MRPS[$t]}" "$(fmt_us "${MP99[$t]}")" \
        "$(fmt_us "${MP50[$t]}")" "${SPREAD[$t]}" "${MCPU[$t]}" "${MOTHER[$t]}"
      for ref in "${refs[@]}"; do
        printf ' %11s %11s' "$(ratio "${MRPS[$t]}" "${MRPS[$ref]}")" "$(ratio "${MP99[$t]}" "${MP99[$ref]}")"
      done
      printf ' %s\n' "${ERRS[$t]}$( ((ERRS[$t] == 0)) || echo ' (!)')"
    done
    if [[ -n ${MRPS[portcullis]:-} ]]; then
      for ref in "${refs[@]}"; do
        echo "Portcullis/$ref: req/s $(ratio "${MRPS[portcullis]}" "${MRPS[$ref]}")x, p99 $(ratio "${MP99[portcullis]}" "${MP99[$ref]}")x"
      done
    fi
    echo "(req/s ratio > 1: more requests served than the reference; p99 ratio < 1: shorter tail."
    echo " spread = (max-min)/median of req/s over the rounds; cpu/req = CPU time of the proxy per request;"
    echo " other = worst share of the machine used by processes outside the benchmark during a round)"
  } | tee -a "$RUN_DIR/summary.txt"

  # JSON for this scenario
  local tj="" rj=""
  for t in "${ACTIVE[@]}"; do
    tj+="${tj:+,}\"$t\":{\"url\":\"${URL[$t]}\",\"rps\":${MRPS[$t]},\"p99_us\":${MP99[$t]},\"p50_us\":${MP50[$t]},\"rps_spread_pct\":${SPREAD[$t]},\"proxy_cpu_us_per_req\":${MCPU[$t]},\"upstream_cpu_us_per_req\":${MUCPU[$t]},\"max_other_cpu_pct\":${MOTHER[$t]},\"errors\":${ERRS[$t]},\"rounds\":[${ROUNDJ[$t]}]}"
  done
  if [[ -n ${MRPS[portcullis]:-} ]]; then
    for ref in "${refs[@]}"; do
      rj+="${rj:+,}\"portcullis/$ref\":{\"rps\":$(ratio "${MRPS[portcullis]}" "${MRPS[$ref]}"),\"p99\":$(ratio "${MP99[portcullis]}" "${MP99[$ref]}")}"
    done
  fi
  SCENARIO_JSON+=("\"$scen\":{\"status\":\"measured\",\"description\":\"$desc\",\"targets\":{$tj},\"ratios\":{$rj}}")
}

skip_scenario() {  # skip_scenario NAME REASON
  log "scenario $1: skipped ($2)"
  echo "== scenario $1: skipped ($2)" >>"$RUN_DIR/summary.txt"
  SCENARIO_JSON+=("\"$1\":{\"status\":\"skipped\",\"reason\":\"$2\"}")
}

stop_targets() {
  local t
  for t in "${ACTIVE[@]}"; do stop_proc "$t"; done
  ACTIVE=() URL=() WRK_EXTRA=() CHECK_URL_ARGS=()
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

# TLS termination, TLS 1.3 ECDSA P-256, keep-alive (wrk reuses its 64 connections).
scenario_tls_keepalive() { skip_scenario tls_keepalive "not implemented yet: needs TLS termination in Portcullis"; }
# TLS handshake rate: same, but a new connection per request (WRK_EXTRA=(-H 'Connection: close')).
scenario_tls_handshake() { skip_scenario tls_handshake "not implemented yet: needs TLS termination in Portcullis"; }
# JWT RS256, one token reused (authorizer cache hit) vs HAProxy's jwt_verify.
scenario_jwt_cached()    { skip_scenario jwt_cached "not implemented yet: needs the JWT authorizer"; }
# JWT RS256, a different token per request (a wrk Lua script; every request verifies a signature).
scenario_jwt_unique()    { skip_scenario jwt_unique "not implemented yet: needs the JWT authorizer"; }

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
