#!/usr/bin/env bash
# System test (issue 19, "Must show" 2): `make install` stages the binary, the systemd unit and a
# starter config (an existing config is kept); `systemd-analyze verify` finds the installed unit
# clean; the starter config passes `portcullis check`, which the unit runs before start and reload.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
time_limit 300
require_bin

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "  systemd-analyze not found; installing systemd with apt-get"
    SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    timeout 240 $SUDO apt-get install -y -qq systemd >/dev/null 2>&1 \
        || { timeout 240 $SUDO apt-get update -qq >/dev/null 2>&1 && timeout 240 $SUDO apt-get install -y -qq systemd >/dev/null 2>&1; } \
        || { fail "could not install systemd (for systemd-analyze)"; exit 1; }
fi

ROOT="$WORKDIR/root"
make -s install-files DESTDIR="$ROOT" BUILT="$BIN" >"$WORKDIR/install.out" 2>&1 || { fail "make install-files failed"; cat "$WORKDIR/install.out"; exit 1; }
UNIT="$ROOT/etc/systemd/system/portcullis.service"
CFG="$ROOT/etc/portcullis/portcullis.yaml"
if [ -x "$ROOT/usr/local/bin/portcullis" ] && [ -f "$UNIT" ] && [ -f "$CFG" ]; then pass "make install stages bin/portcullis, the unit and /etc/portcullis/portcullis.yaml"
else fail "make install did not stage every file: $(find "$ROOT" -type f | tr '\n' ' ')"; fi

# A second install keeps the operator's config.
echo "# edited by the operator" >>"$CFG"
make -s install-files DESTDIR="$ROOT" BUILT="$BIN" >"$WORKDIR/install2.out" 2>&1
if tail -1 "$CFG" | grep -q 'edited by the operator' && grep -q 'kept the existing' "$WORKDIR/install2.out"; then pass "a second install keeps the existing config"
else fail "a second install replaced the operator's config"; fi

# The unit, with its paths pointing into the staging root (verify checks that ExecStart exists).
sed "s#/usr/local/bin/portcullis#$ROOT/usr/local/bin/portcullis#g" "$UNIT" >"$WORKDIR/portcullis.service"
rc=0
systemd-analyze verify "$WORKDIR/portcullis.service" >"$WORKDIR/verify.out" 2>&1 || rc=$?
if [ "$rc" -eq 0 ] && [ ! -s "$WORKDIR/verify.out" ]; then pass "systemd-analyze verify: clean"
else fail "systemd-analyze verify (exit $rc):"; sed 's/^/  | /' "$WORKDIR/verify.out"; fi
for want in 'Type=notify' 'WatchdogSec=' 'SystemCallFilter=@system-service' 'StateDirectory=portcullis' 'ConfigurationDirectory=portcullis' \
    'LimitNOFILE=' 'Restart=on-failure' 'ExecStartPre=/usr/local/bin/portcullis check' 'ExecReload=/usr/local/bin/portcullis check'; do
    grep -q "^$want" "$UNIT" || { fail "the unit lacks $want"; missing=1; }
done
[ "${missing:-0}" = 1 ] || pass "the unit has notify, watchdog, syscall filter, state and config directories, check before start and reload"

if "$BIN" check --config "$CFG" >"$WORKDIR/check.out" 2>&1; then pass "the installed starter config passes check"
else fail "the installed starter config fails check:"; sed 's/^/  | /' "$WORKDIR/check.out"; fi
finish
