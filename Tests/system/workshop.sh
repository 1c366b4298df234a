#!/usr/bin/env bash
# System test (issue 19, "The workshop, runnable"): every file in config/ passes `portcullis check`,
# and every allow and deny case of docs/WORKSHOP.md runs as written there, against real servers:
# once on the part's own config and once on config/workshop.yaml (what `make demo` runs), each
# with the echo upstream and the Lambda-style authorizer adapter, on free loopback ports (the
# page's ports 8080/8090/8091/9001/9100 are rewritten in the configs and the commands alike).
#
# Each case's last request is kept as data, one JSON line per case and run in $WORKDIR/cases.jsonl
# (or $WORKSHOP_CASES_OUT): part, case, title, doc_line, config (the file in config/ as the page
# names it), listener (by name), method, url (with the page's port), headers (as sent, signatures
# included), body, client_ip (the connection's address; X-Forwarded-For stays among the headers),
# expect_status, got_status, tags, and explain's verdict and status.
#
# Each case's last request is also explained (issue 19, "`explain` agrees with the server"):
# `portcullis explain --json --online` on the config copy the gateway runs, with the same
# listener, client address, method, URL, headers (signatures and tokens as sent) and body, must
# answer what the server answered: admitted, or refused with its status, x-amzn-ErrorType and
# body (and an admitted request's upstream path and X-User-* headers must be what the echo
# upstream received). Cases tagged `state` on the page are refused by the running server because
# of what earlier requests did to it (a throttle bucket emptied by a loop); explain sees buckets
# as a fresh process does, so their status is not compared: an info line says so, and explain
# must admit them with the counting phases passing. The quota case does agree: the copies get a
# state_dir, and explain runs once the store holds the spent quota (see explain_case).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
time_limit 400
require_bin

if ! python3 -c 'import jwt' 2>/dev/null; then
    fail "PyJWT is not installed (make test-deps installs Tests/requirements.txt)"; exit 1
fi

DOC=docs/WORKSHOP.md
CASES_PY="python3 $SYSTEM_DIR/workshop_cases.py"
CASES="$WORKDIR/page"
if $CASES_PY extract "$DOC" "$CASES"; then pass "$DOC: $(wc -l <"$CASES/cases.tsv") cases in $(wc -l <"$CASES/parts.tsv") parts"
else fail "$DOC could not be read"; exit 1; fi

# --- Every file in config/ passes `portcullis check` (config/portcullis.yaml needs the dev certs and
# the Cognito examples the demo pool's key set, made as `make certs` makes them).
bash certs/generate.sh >"$WORKDIR/certs.log" 2>&1   # keeps what exists; the demo pool's key set too
for f in config/*.yaml; do
    if "$BIN" check --config "$f" >"$WORKDIR/check.out" 2>&1; then pass "portcullis check $f"
    else fail "portcullis check $f:"; sed 's/^/  | /' "$WORKDIR/check.out"; fi
done

# --- Every config is a part of the page, or says here why not.
declare -A NOT_A_PART=(
    [portcullis.yaml]="make run's demo (TLS, mTLS, an ip authorizer), not a workshop part"
    [workshop.yaml]="every part at once: the second run below"
    [part1-cognito.yaml]="a real user pool (fetches its key set); part1-cognito-local.yaml is its runnable twin"
)
for f in config/*.yaml; do
    name=$(basename "$f")
    if cut -f2 "$CASES/parts.tsv" | grep -qx "config/$name"; then continue; fi
    if [ -n "${NOT_A_PART[$name]:-}" ]; then info "$f: ${NOT_A_PART[$name]}"; continue; fi
    fail "$f is in no workshop-start block of $DOC"
done

# --- Each part shows at least one allow and one refusal.
while IFS=$'\t' read -r part config; do
    allow=$(awk -F'\t' -v p="$part" '$2 == p && $4 < 300' "$CASES/cases.tsv" | wc -l)
    deny=$(awk -F'\t' -v p="$part" '$2 == p && $4 >= 400' "$CASES/cases.tsv" | wc -l)
    if [ "$allow" -ge 1 ] && [ "$deny" -ge 1 ]; then pass "$config: $allow allowed and $deny refused cases"
    else fail "$config: $allow allowed and $deny refused cases; each part needs both"; fi
done <"$CASES/parts.tsv"

# --- Servers, ports, the commands' environment.
PUB=$(free_port); VPC=$(free_port); OTHER=$(free_port); ECHO_PORT=$(free_port); AUTHZ_PORT=$(free_port)
DOC_PORTS=("$PUB=8080" "$VPC=8090" "$OTHER=8091")
# The page's ports, moved: in configs (listeners, upstream, authorizer) and in commands.
moved() {
    sed -E -e "s/:8080\b/:$PUB/g" -e "s/:8090\b/:$VPC/g" -e "s/:8091\b/:$OTHER/g" \
        -e "s/:9001\b/:$ECHO_PORT/g" -e "s/:9100\b/:$AUTHZ_PORT/g" "$@"
}
cp -r config "$WORKDIR/config"      # the runs' configs beside the files they reference
ln -s "$PWD/certs" "$WORKDIR/certs" # ../certs from the copies: the demo pool's key set
mkdir -p "$WORKDIR/bin" && ln -s "$BIN" "$WORKDIR/bin/portcullis"
export PATH="$WORKDIR/bin:$PATH"    # the page's `portcullis` is the binary under test

start_echo "$ECHO_PORT" "$WORKDIR/echo.log"
python3 examples/lambda-authorizer/adapter.py --handler workshop_authorizer:handler --listen "127.0.0.1:$AUTHZ_PORT" \
    >"$WORKDIR/adapter.log" 2>&1 &
ADAPTER_PID=$!
PIDS+=("$ADAPTER_PID")
if ! wait_port "$AUTHZ_PORT" "$ADAPTER_PID" 15; then fail "the authorizer adapter did not listen"; cat "$WORKDIR/adapter.log"; exit 1; fi

# The setup blocks, run once in page order in one shell; env-K.sh is the state after the K-th.
{
    echo 'declare -A _seen=(); for _v in $(compgen -v); do _seen[$_v]=1; done'
    echo '_dump() { declare -f; for _v in $(compgen -v); do [ -n "${_seen[$_v]:-}" ] || [ "$_v" = _v ] || declare -p "$_v"; done; }'
    echo ": >'$CASES/env-0.sh'"
    for ((k = 1; k <= $(find "$CASES" -name 'setup-*.sh' | wc -l); k++)); do
        moved "$CASES/setup-$k.sh"
        echo "_dump >'$CASES/env-$k.sh'"
    done
} >"$WORKDIR/setup-all.sh"
if bash "$WORKDIR/setup-all.sh" >"$WORKDIR/setup.log" 2>&1; then pass "the page's setup blocks ran"
else fail "the page's setup blocks failed:"; sed 's/^/  | /' "$WORKDIR/setup.log"; exit 1; fi

# make demo's environment file: every setup block at once, as `make demo` writes .build/demo.env.
# The workshop.yaml run below uses it, as a reader of `make demo`'s printout does.
if $CASES_PY env "$DOC" | bash >"$WORKDIR/demo.env" 2>"$WORKDIR/demo-env.log"; then pass "make demo's env file (workshop_cases.py env)"
else fail "workshop_cases.py env:"; sed 's/^/  | /' "$WORKDIR/demo-env.log"; fi
printed=$($CASES_PY print "$DOC" | grep -c '^# => ' || true)
if [ "$printed" = "$(wc -l <"$CASES/cases.tsv")" ]; then pass "make demo's printout has all $printed cases"
else fail "make demo's printout has $printed cases, the page $(wc -l <"$CASES/cases.tsv")"; fi

# The commands' curl: runs as written, but keeps the answer (head, body) and the request's
# arguments in $CASE_OUT instead of printing them; a case's last request is what counts.
cat >"$WORKDIR/curl.sh" <<'EOF'
curl() {
    local args=()
    while [ $# -gt 0 ]; do
        case "$1" in
            -i | -s | -S | -sS | -is | -si | --include | --silent | --show-error) ;;
            -o | -w | -m | --output | --write-out | --max-time) shift ;;
            *) args+=("$1") ;;
        esac
        shift
    done
    rm -f "$CASE_OUT/head" "$CASE_OUT/body"     # no answer is no answer, not the previous one
    printf '%s\0' "${args[@]}" >"$CASE_OUT/request.args"
    command curl -sS --max-time 10 -D "$CASE_OUT/head" -o "$CASE_OUT/body" "${args[@]}"
}
EOF

CASES_OUT=${WORKSHOP_CASES_OUT:-$WORKDIR/cases.jsonl}
: >"$CASES_OUT"

state_dir_of() { echo "$WORKDIR/config/state-$(basename "$1" .yaml)"; }   # a run's quota store
STATE_REASON="its answer depends on what earlier requests did to the running server; explain sees buckets as a fresh process does"

# explain_case OUT WHERE COPY TAGS LISTENER-ARGS...: `portcullis explain` on the last request the
# case sent, against COPY (the file the gateway runs); a pass when it answers as the server did.
explain_case() {
    local out=$1 where=$2 copy=$3 tags=$4; shift 4
    local args=() erc=0 state=()
    if [ ! -f "$out/request.args" ]; then fail "$where: explain: the case sent no request"; return; fi
    mapfile -d '' args < <($CASES_PY explain-args "$@" "$out/request.args")
    "$BIN" explain --config "$copy" --json --online "${args[@]}" >"$out/explain.json" 2>"$out/explain.err" || erc=$?
    # A quota the server refused is spent in its store once it has written its counts (once a
    # second): explain seeds its counters from that store, so it runs again once the store shows it.
    if grep -qi '^x-amzn-ErrorType: LimitExceededException' "$out/head" 2>/dev/null; then
        if $CASES_PY wait-quota "$out/explain.json" "$(state_dir_of "$copy")" >"$out/wait-quota" 2>&1; then
            erc=0; "$BIN" explain --config "$copy" --json --online "${args[@]}" >"$out/explain.json" 2>"$out/explain.err" || erc=$?
        else
            fail "$where: explain: $(cat "$out/wait-quota")"; return
        fi
    fi
    if [[ ",$tags," == *,state,* ]]; then
        state=(--state)
        info "$where: status not compared with explain (tagged state): $STATE_REASON"
    fi
    if $CASES_PY agree --exit "$erc" "${state[@]}" "$out/explain.json" "$out/head" "$out/body" >"$out/agree" 2>&1; then
        pass "$where: $(cat "$out/agree")"
    else
        fail "$where: $(cat "$out/agree")"
        info "explain: portcullis explain --config $copy --json --online$(printf ' %q' "${args[@]}")"
        if [ -s "$out/explain.err" ]; then info "explain stderr: $(head -c 400 "$out/explain.err")"; fi
    fi
}

# run_case RUN N CONFIG COPY LISTENER-ARGS...: one case of the page against the running gateway
# (on COPY, CONFIG with its ports moved), in the state of the setup blocks above it (or in
# $CASE_ENV), then explained.
run_case() {
    local run=$1 n=$2 config=$3 copy=$4; shift 4
    local out="$WORKDIR/$run/case-$n" part setups status line tags title got rc=0
    IFS=$'\t' read -r _ part setups status line tags title < <(awk -F'\t' -v n="$n" '$1 == n' "$CASES/cases.tsv")
    mkdir -p "$out"
    moved "$CASES/case-$n.sh" >"$out/script.sh"
    CASE_OUT="$out" bash -c 'source "$1"; source "$2"; source "$3"' _ \
        "$WORKDIR/curl.sh" "${CASE_ENV:-$CASES/env-$setups.sh}" "$out/script.sh" >"$out/stdout" 2>"$out/stderr" || rc=$?
    got=$(awk 'NR == 1 { print $2 }' "$out/head" 2>/dev/null || true)
    local where="$run: $DOC:$line $title"
    if [ "$got" = "$status" ] && $CASES_PY match "$CASES/case-$n.body" "$out/body"; then
        pass "$where: $got"
    else
        fail "$where: got ${got:-no answer} (exit $rc), expected $status $(cat "$CASES/case-$n.body")"
        info "body: $(head -c 400 "$out/body" 2>/dev/null)"
        info "stderr: $(head -c 400 "$out/stderr")"
    fi
    explain_case "$out" "$where" "$copy" "$tags" "$@"
    $CASES_PY record --config "$config" "$@" --got "${got:-0}" --explain "$out/explain.json" "$CASES/case-$n.json" "$out/request.args" >>"$CASES_OUT"
}

# run_config RUN CONFIG PART...: start portcullis on CONFIG (ports moved), run the cases of PARTs, stop it.
run_config() {
    local run=$1 config=$2; shift 2
    local copy="$WORKDIR/config/run-$run.yaml" port name listeners=() p n
    moved -e 's/^workers: auto/workers: 2/' "$config" >"$copy"
    # A quota store of the run's own, so that explain, a second process, sees the counts the
    # server made (the page's configs keep them in memory); nothing else reads state_dir.
    printf '\nstate_dir: "%s"\n' "$(state_dir_of "$copy")" >>"$copy"
    "$BIN" run --config "$copy" >"$WORKDIR/$run.log" 2>&1 &
    PROXY_PID=$!
    PIDS+=("$PROXY_PID")
    while read -r port name; do
        listeners+=(--listener "$port=$name")
        if ! wait_port "$port" "$PROXY_PID" 20; then
            fail "$run: portcullis did not listen on $port"; cat "$WORKDIR/$run.log"
            kill -TERM "$PROXY_PID" 2>/dev/null || true; wait "$PROXY_PID" 2>/dev/null || true; forget_pid "$PROXY_PID"
            return
        fi
    done < <($CASES_PY listeners "$copy")
    for p in "${DOC_PORTS[@]}"; do listeners+=(--port "$p"); done
    for part in "$@"; do
        for n in $(awk -F'\t' -v p="$part" '$2 == p { print $1 }' "$CASES/cases.tsv"); do
            run_case "$run" "$n" "$config" "$copy" "${listeners[@]}"
        done
    done
    stop_proxy_expect_exit0 "$PROXY_PID"
}

# --- Each part on its own config, then every part on config/workshop.yaml.
ALL_PARTS=()
while IFS=$'\t' read -r part config; do
    ALL_PARTS+=("$part")
    run_config "$part" "$config" "$part"
done <"$CASES/parts.tsv"
CASE_ENV="$WORKDIR/demo.env" run_config workshop config/workshop.yaml "${ALL_PARTS[@]}"

info "cases as data: $CASES_OUT ($(wc -l <"$CASES_OUT") requests)"
finish
