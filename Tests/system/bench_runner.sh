#!/usr/bin/env bash
# System test (issue 20): the benchmark runner without a benchmark run. Its unit tests (table,
# ratios, JSON schema, README section; the memory step's idle client, table and markers) pass, and `python3 -m portcullis_bench --dry-run` prints
# the default plan: plain, tls and jwt, each in the pinned (wrk) and unpinned (none) placement,
# nginx and HAProxy beside Portcullis, the stub upstream, and configs rendered into a temp dir
# with no placeholder left. Starts no process; needs no binary, wrk or nginx.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
time_limit 60

START=$SECONDS
rc=0
(cd benchmarks && python3 -m unittest portcullis_bench.test_report portcullis_bench.test_memory) >"$WORKDIR/unit.out" 2>&1 || rc=$?
if [ "$rc" -eq 0 ] && grep -q '^OK' "$WORKDIR/unit.out"; then
    pass "portcullis_bench unit tests: $(grep -o 'Ran [0-9]* tests' "$WORKDIR/unit.out")"
else
    fail "portcullis_bench unit tests (exit $rc):"; sed 's/^/  | /' "$WORKDIR/unit.out"
fi

rc=0
(cd benchmarks && env -u SCENARIOS -u PIN -u TARGETS -u UPSTREAM python3 -m portcullis_bench --dry-run) \
    >"$WORKDIR/plan.out" 2>"$WORKDIR/plan.err" || rc=$?
if [ "$rc" -eq 0 ]; then pass "--dry-run exits 0"; else fail "--dry-run exit $rc:"; sed 's/^/  | /' "$WORKDIR/plan.err"; fi

want() {  # want PATTERN COUNT LABEL
    local n; n=$(grep -cE "$1" "$WORKDIR/plan.out" || true)
    if [ "$n" -eq "$2" ]; then pass "$3"; else fail "$3: expected $2 lines matching '$1', got $n"; sed 's/^/  | /' "$WORKDIR/plan.out"; fi
}
want '^placement (wrk|none):' 2 "two placements: pinned (wrk) and unpinned (none)"
want '^  (plain|tls_keepalive|jwt_cached):' 6 "plain, tls and jwt in each placement"
want '^  upstream stub ' 2 "the stub upstream by default"
want '^    target (portcullis|nginx|haproxy) ' 16 "3 + 3 + 2 targets per placement (nginx has no JWT)"

plan_dir=$(sed -n 's/.*configs rendered into \(.*\)$/\1/p' "$WORKDIR/plan.out")
if [ -n "$plan_dir" ] && [ -d "$plan_dir" ]; then
    n=$(find "$plan_dir" -name 'nginx.conf' -o -name 'haproxy.cfg' -o -name 'portcullis.yaml' | wc -l)
    left=$(grep -rlE '\$\{BENCH_[A-Z_]+\}' "$plan_dir" || true)
    if [ "$n" -ge 16 ] && [ -z "$left" ]; then
        pass "$n configs rendered into the plan's temp dir, no placeholder left"
    else
        fail "$n configs rendered; placeholders left in: $left"
    fi
    rm -rf "$plan_dir"
else
    fail "--dry-run names no config dir"
fi

info "took $((SECONDS - START))s"
finish
