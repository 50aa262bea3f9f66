#!/usr/bin/env bash
# The sim suite's scenario set through the command itself: every scenario
# in tests/sim/scenarios/ under every algorithm, the table and the JSON;
# dynmem kills no workload in any of them, and a bad scenario is refused
# with its line.
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
printf 'vms:\n  - {name: a, memory: 1}\n' >"$tmp/bad.yaml"
if "$sim" "$tmp/bad.yaml" 2>"$tmp/err"; then
    echo "FAIL: a bad scenario was accepted"
    fail=1
fi
grep -q 'bad.yaml:2:' "$tmp/err" || { echo "FAIL: no line in: $(cat "$tmp/err")"; fail=1; }
exit $fail
