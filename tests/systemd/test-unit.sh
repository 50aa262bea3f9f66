#!/usr/bin/env bash
# The shipped unit passes `systemd-analyze verify` and scores 2.0 or better
# (lower is safer) in `systemd-analyze security`. Usage: test-unit.sh UNIT.in DYNMEMD
set -euo pipefail
unit_in=$1
dynmemd=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The unit as installed, but pointing at the binary we just built.
sed -e "s|@sbindir@/dynmemd|$dynmemd|; s|@sysconfdir@|/etc|; s|@localstatedir@|/var|" \
    "$unit_in" > "$tmp/dynmemd.service"
if grep -q '@[a-z]*@' "$tmp/dynmemd.service"; then
    echo "FAIL: unsubstituted placeholder in the unit" >&2
    exit 1
fi
systemd-analyze verify --man=no "$tmp/dynmemd.service"
echo "verify: ok"
score=$(systemd-analyze security --offline=true "$tmp/dynmemd.service" | sed -n 's/.*exposure level for dynmemd.service: \([0-9.]*\).*/\1/p')
echo "security exposure: $score"
[ -n "$score" ] || { echo "FAIL: no exposure score" >&2; exit 1; }
# --threshold is in tenths: 20 = 2.0
systemd-analyze security --offline=true --threshold=20 "$tmp/dynmemd.service" >/dev/null
echo "security: ok (<= 2.0)"
# Type=notify needs the daemon to send READY=1; make sure the unit asks for
# what the code implements.
grep -qx 'Type=notify' "$tmp/dynmemd.service"
grep -q '^WatchdogSec=' "$tmp/dynmemd.service"
grep -q '^ExecReload=' "$tmp/dynmemd.service"
