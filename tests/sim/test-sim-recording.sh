#!/usr/bin/env bash
# dynmem-sim --from-recording through the command: the checked-in
# recording replayed directly and through the scenario -o writes (the same
# table), and a malformed recording refused with its file and line.
set -euo pipefail
sim=$1
rec=$SRCDIR/tests/sim/recordings/small.csv
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
rows() { grep -E '^(dynmem|static|hyperv|mom|proxmox|squeezed) ' "$1" || true; }

"$sim" --from-recording "$rec" >"$tmp/direct"
grep -q '^scenario small: 4 VMs' "$tmp/direct" || { echo "FAIL: header: $(head -1 "$tmp/direct")"; fail=1; }
[ "$(rows "$tmp/direct" | wc -l)" = 6 ] || { echo "FAIL: not six rows:"; cat "$tmp/direct"; fail=1; }

"$sim" --from-recording "$rec" -o "$tmp/replay.yaml" >"$tmp/wrote"
grep -q "4 VMs from 107 samples" "$tmp/wrote" || { echo "FAIL: $(cat "$tmp/wrote")"; fail=1; }
for n in 1 2 3 4; do
    [ -s "$tmp/replay.$n.csv" ] || { echo "FAIL: no replay.$n.csv"; fail=1; }
done
"$sim" "$tmp/replay.yaml" >"$tmp/replayed"
if ! diff <(rows "$tmp/direct") <(rows "$tmp/replayed"); then
    echo "FAIL: the written scenario gives another table"
    fail=1
fi
"$sim" --json -a dynmem --from-recording "$rec" | grep -q '"oom_kills"' ||
    { echo "FAIL: no JSON"; fail=1; }

# line 12 of the copy: a sample with a time that is not one
sed '12s/^[0-9.]*,/later,/' "$rec" >"$tmp/bad.csv"
if "$sim" --from-recording "$tmp/bad.csv" >/dev/null 2>"$tmp/err"; then
    echo "FAIL: a malformed recording was accepted"
    fail=1
fi
grep -q "bad.csv:12: time_s: expected seconds" "$tmp/err" || { echo "FAIL: no file:line in: $(cat "$tmp/err")"; fail=1; }

set +e
"$sim" --from-recording "$rec" "$tmp/replay.yaml" 2>/dev/null
[ $? = 2 ] || { echo "FAIL: --from-recording with a scenario is no usage error"; fail=1; }
"$sim" -o "$tmp/x.yaml" "$tmp/replay.yaml" 2>/dev/null
[ $? = 2 ] || { echo "FAIL: -o without --from-recording is no usage error"; fail=1; }
set -e
[ $fail = 0 ] && echo "ok: from-recording"
exit $fail
