#!/usr/bin/env bash
# System test (issue 2, "Must show" 3): `portcullis check` on a config with a typo'd upstream
# name and an unknown key exits 1 and prints, on stderr, one `file:line:column: key.path: message`
# line per problem with a did-you-mean suggestion; the example config/portcullis.yaml passes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
time_limit 60
require_bin

START=$SECONDS
FIXTURE="$WORKDIR/typo.yaml"
# Line and column numbers below are asserted: keep the layout exact.
cat >"$FIXTURE" <<'EOF'
# Fixture for Tests/system/check_typo.sh: line and column numbers are asserted.
workers: 1
listeners:
  - name: public
    listen: "127.0.0.1:8080"
apis:
  - name: demo
    stage: demo
    routes:
      - { path: /public, methods: [GET], upstream: backnd }
      - { path: /ok, methods: [GET], upstream: backend }
upstreams:
  backend:
    endpoints: ["http://127.0.0.1:9001"]
    balanse: round_robin
EOF
# "backnd" is at line 10, column 52; "balanse" at line 15, column 5 (1-based).
EXPECT_UPSTREAM="$FIXTURE:10:52: apis[0].routes[0].upstream: unknown upstream \"backnd\"; did you mean \"backend\"?"
EXPECT_KEY="$FIXTURE:15:5: upstreams.backend.balanse: unknown key \"balanse\"; did you mean \"balance\"?"

rc=0
timeout 30 "$BIN" check --config "$FIXTURE" >"$WORKDIR/check.out" 2>"$WORKDIR/check.err" || rc=$?
echo "--- portcullis check --config $FIXTURE (exit $rc), stderr:"
sed 's/^/  | /' "$WORKDIR/check.err"
if [ -s "$WORKDIR/check.out" ]; then echo "--- stdout:"; sed 's/^/  | /' "$WORKDIR/check.out"; fi

if [ "$rc" -eq 1 ]; then pass "check on the typo config exits 1"; else fail "check on the typo config exited $rc, expected 1"; fi

if grep -qxF -- "$EXPECT_UPSTREAM" "$WORKDIR/check.err"; then
    pass "typo'd upstream reported as file:10:52 with key path and did-you-mean \"backend\""
else
    fail "expected this exact stderr line: $EXPECT_UPSTREAM"
fi
if grep -qxF -- "$EXPECT_KEY" "$WORKDIR/check.err"; then
    pass "unknown key reported as file:15:5 with key path and did-you-mean \"balance\""
else
    fail "expected this exact stderr line: $EXPECT_KEY"
fi
n=$(grep -cE "^$(printf '%s' "$FIXTURE" | sed 's/[][\.*^$/]/\\&/g'):[0-9]+:[0-9]+: " "$WORKDIR/check.err" || true)
if [ "$n" -eq 2 ]; then pass "exactly 2 file:line:column errors listed (every error, nothing spurious)"; else fail "expected 2 file:line:column error lines, got $n"; fi

# The shipped example config must pass.
rc=0
timeout 30 "$BIN" check --config config/portcullis.yaml >"$WORKDIR/example.out" 2>&1 || rc=$?
if [ "$rc" -eq 0 ]; then
    pass "config/portcullis.yaml passes check (exit 0)"
else
    fail "config/portcullis.yaml fails check (exit $rc):"; sed 's/^/  | /' "$WORKDIR/example.out"
fi

info "took $((SECONDS - START))s"
finish
