#!/usr/bin/env bash
# The sim suite's scenario set through the command itself: every scenario
# in tests/sim/scenarios/ under every algorithm, the table and the JSON;
# dynmem kills no workload in any of them, steady guests make it log
# nothing once settled, and a bad scenario is refused with its line.
set -euo pipefail
sim=$1
dir=$SRCDIR/tests/sim/scenarios
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for f in "$dir"/*.yaml; do
    "$sim" "$f" >"$tmp/table"
    grep -q '^dynmem ' "$tmp/table" || { echo "FAIL: no dynmem row for $f"; fail=1; }
    for a in static hyperv mom proxmox squeezed; do
        grep -q "^$a " "$tmp/table" || { echo "FAIL: no $a row for $f"; fail=1; }
    done
    "$sim" --json -a dynmem "$f" >"$tmp/json"
    kills=$(sed -n 's/.*"oom_kills": \([0-9]*\).*/\1/p' "$tmp/json")
    [ "$kills" = 0 ] || { echo "FAIL: $f: dynmem made $kills OOM kills"; fail=1; }
    echo "ok: $(basename "$f")"
done
# a steady guest makes dynmemd log nothing once settled: the same lines
# (-v: its notices and info) over three hours as over one
steady=$dir/steady.yaml
sed 's/^duration: 1h$/duration: 3h/' "$steady" >"$tmp/steady3.yaml"
grep -q '^duration: 3h$' "$tmp/steady3.yaml" || { echo "FAIL: steady.yaml lasts not 1h"; fail=1; }
one=$("$sim" -v -a dynmem "$steady" 2>&1 >/dev/null | grep -c '^dynmemd:' || true)
three=$("$sim" -v -a dynmem "$tmp/steady3.yaml" 2>&1 >/dev/null | grep -c '^dynmemd:' || true)
if [ "$one" != "$three" ] || [ "$one" = 0 ]; then
    echo "FAIL: steady guests logged $one lines in 1 h and $three in 3 h"
    fail=1
else
    echo "ok: steady guests logged nothing after settling ($one lines in 1 h and in 3 h)"
fi
# output that cannot be written (a full disk, a reader gone) is an error,
# and the run's temporary directory is not left behind
mkdir "$tmp/tmpdir"
if TMPDIR=$tmp/tmpdir "$sim" -a dynmem "$steady" "$steady" >/dev/full 2>"$tmp/err"; then
    echo "FAIL: writing to a full device succeeded"
    fail=1
elif ! grep -q 'writing the results' "$tmp/err" || [ -n "$(ls -A "$tmp/tmpdir")" ]; then
    echo "FAIL: a failed write: '$(cat "$tmp/err")', left: $(ls -A "$tmp/tmpdir")"
    fail=1
else
    echo "ok: a failed write is reported and leaves nothing behind"
fi
if "$sim" -a dynmem --trace-oom /dev/full "$steady" >/dev/null 2>"$tmp/err" ||
    ! grep -q 'writing the trace failed' "$tmp/err"; then
    echo "FAIL: a trace that cannot be written: '$(cat "$tmp/err")'"
    fail=1
else
    echo "ok: a trace that cannot be written is reported"
fi
printf 'vms:\n  - {name: a, memory: 1}\n' >"$tmp/bad.yaml"
if "$sim" "$tmp/bad.yaml" 2>"$tmp/err"; then
    echo "FAIL: a bad scenario was accepted"
    fail=1
fi
grep -q 'bad.yaml:2:' "$tmp/err" || { echo "FAIL: no line in: $(cat "$tmp/err")"; fail=1; }
exit $fail
