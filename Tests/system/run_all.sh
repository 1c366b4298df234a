#!/usr/bin/env bash
# Runs every shell-level system test; the last line is exactly "N passed, M failed".
# Uses BIN=${PORTCULLIS_BIN:-.build/debug/portcullis} (relative to the repo root); builds nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

TESTS=(check_typo reload_under_load reload_command big_transfer tls_cli tls_rotation tls_mozilla lambda_authorizer workshop systemd_unit bench_runner)
passed=0
failed=0
failed_names=()
for t in "${TESTS[@]}"; do
    echo "=== $t"
    start=$SECONDS
    rc=0
    timeout --kill-after=10 420 "Tests/system/$t.sh" || rc=$?
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1)); echo "=== PASS: $t ($((SECONDS - start))s)"
    else
        failed=$((failed + 1)); failed_names+=("$t"); echo "=== FAIL: $t (exit $rc, $((SECONDS - start))s)"
    fi
done
if [ "$failed" -gt 0 ]; then echo "failed: ${failed_names[*]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
