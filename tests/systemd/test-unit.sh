#!/usr/bin/env bash
# The unit as meson built it (default prefix included) passes
# `systemd-analyze verify`, scores 2.0 or better (lower is safer) in
# `systemd-analyze security`, and keeps its state where systemd lets it
# write. Usage: test-unit.sh BUILT_UNIT DYNMEMD MAN_PAGE
set -euo pipefail
unit=$1
dynmemd=$2
man=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() { echo "FAIL: $*" >&2; failed=1; }

if grep -q '@[a-z]*@' "$unit"; then
    fail "unsubstituted placeholder in the unit"
fi

# -- the state directory, on the unit exactly as built
# ProtectSystem=strict leaves only StateDirectory= (always under /var/lib)
# writable; `set --persist` fails anywhere else.
state=$(sed -n 's/^StateDirectory=//p' "$unit")
[ "$state" = dynmem ] || fail "StateDirectory= is '$state', not dynmem"
grep -qx 'ProtectSystem=strict' "$unit" || fail "not ProtectSystem=strict"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
if [[ $exec_start =~ --state-dir[=\ ]([^ ]*) ]]; then
    dir=${BASH_REMATCH[1]}
    # shellcheck disable=SC2016 # systemd expands these, not the shell
    case $dir in
    /var/lib/dynmem | '${STATE_DIRECTORY}' | '$STATE_DIRECTORY') ;;
    *) fail "ExecStart writes state to $dir, read-only under ProtectSystem=strict" ;;
    esac
fi
echo "state directory: ok"

# -- the binary's default and the man page agree, and it is systemd's
default=$("$dynmemd" --help | sed -n 's/.*--state-dir=DIR.*else \(\/[^)]*\)).*/\1/p')
[ "$default" = /var/lib/dynmem ] || fail "dynmemd's default state directory is '$default'"
man_default=$(sed -n '/^\.BI \\-\\-state\\-dir=/,/^\.TP/p' "$man" | grep -o '/var/[a-z/]*' | sort -u)
[ "$man_default" = "$default" ] || fail "dynmemd(8) says '$man_default', dynmemd '$default'"
echo "default state directory: $default (dynmemd(8) agrees)"

# -- the binary takes systemd's $STATE_DIRECTORY (the first of a list): a
# corrupt overrides file there is moved aside at start
mkdir -p "$tmp/state" "$tmp/proc"
printf 'overrides: [\n' >"$tmp/state/overrides.yaml"
printf 'MemTotal: 33554432 kB\nMemAvailable: 25165824 kB\n' >"$tmp/proc/meminfo"
: >"$tmp/policy.yaml"
STATE_DIRECTORY="$tmp/state:$tmp/other" "$dynmemd" --once --dry-run --connect test:///default \
    --config "$tmp/policy.yaml" --proc-root "$tmp/proc" >"$tmp/out" 2>&1 ||
    fail "dynmemd --once: $(cat "$tmp/out")"
aside=("$tmp"/state/overrides.yaml.corrupt-*)
if [ -e "${aside[0]}" ]; then
    echo "\$STATE_DIRECTORY: ok"
else
    fail "\$STATE_DIRECTORY not used: $(ls "$tmp/state"); $(cat "$tmp/out")"
fi

# -- --interval has the policy file's range (a larger one overflowed the
# timer's millisecond cast)
for bad in 2h 99999999999999999999s 50ms; do
    rc=0
    "$dynmemd" --interval "$bad" --connect test:///default --once --dry-run \
        --config "$tmp/policy.yaml" --proc-root "$tmp/proc" >/dev/null 2>"$tmp/err" || rc=$?
    [ "$rc" = 2 ] && grep -q '^dynmemd: --interval: ' "$tmp/err" ||
        fail "--interval $bad: exit $rc, $(cat "$tmp/err")"
done
echo "--interval bounds: ok"

# -- systemd-analyze, on a copy whose ExecStart names the binary just built
# (the installed path does not exist here); nothing else is changed
sed -e "s|^ExecStart=[^ ]*/dynmemd|ExecStart=$dynmemd|" "$unit" >"$tmp/dynmemd.service"
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
grep -qx 'Type=notify' "$unit"
grep -q '^WatchdogSec=' "$unit"
grep -q '^ExecReload=' "$unit"
exit $failed
