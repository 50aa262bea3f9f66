#!/usr/bin/env bash
# Admission over D-Bus (docs/admission.md): dynmemd on a private
# dbus-daemon and libvirt's test driver. Admit with a domain's definition
# is granted at once when the memory is free, refused with a reason (and
# StartRefused) when no start of its weight could have it; the startup
# size comes from the definition's own metadata; a reservation is held in
# the budget (Reserved, ListReservations, dynmemctl status) until Release;
# only root may Admit or Release; a malformed or oversized definition
# changes nothing; dynmemctl admit --dry-run answers what-ifs; warn and off
# allow every start.
set -uo pipefail
: "${DYNMEMD:?}" "${DYNMEMCTL:?}" "${SRCDIR:?}" "${BUS_HELPER:?}"
# shellcheck source=../lib/common.sh
. "$SRCDIR/tests/lib/common.sh"
here=$SRCDIR/tests/dbus

for tool in dbus-daemon busctl gdbus setpriv; do
    command -v "$tool" >/dev/null || skip_or_fail "$tool is missing"
done

tmp=$(mktemp -d /tmp/dynmem-admission-test.XXXXXX)
chmod 755 "$tmp"
daemon_pid= watch_pid=
cleanup() {
    local p
    for p in $watch_pid $daemon_pid; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    stop_private_bus
    if [ "$failures" -gt 0 ] || [ "${KEEP_TMP:-}" ]; then
        sed 's/^/  | /' "$tmp"/daemon*.log >&2 2>/dev/null
    fi
    rm -rf "$tmp"
    print_failures
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mkdir -p "$tmp/proc"
cp "$here/meminfo" "$tmp/proc/meminfo"
policy() { # policy ADMISSION
    sed "s|^  overhead: 0$|  overhead: 0\n  admission: $1\n  admission-wait: 5s|" \
        "$here/policy.yaml" >"$tmp/policy.yaml"
    printf '  - match: "gold-*"\n    weight: 9000\n' >>"$tmp/policy.yaml"
}
policy enforce

# definition NAME UUID MIB [METADATA]: what libvirt hands its hooks
definition() {
    cat <<XML
<domain type='test'>
  <name>$1</name>
  <uuid>$2</uuid>
  <memory unit='MiB'>$3</memory>
  <currentMemory unit='MiB'>$3</currentMemory>
  <metadata>${4:-}</metadata>
  <devices><memballoon model='virtio'/></devices>
</domain>
XML
}
uuid1=6a1e0c1e-2222-4b4b-8c8c-000000000101
uuid2=6a1e0c1e-2222-4b4b-8c8c-000000000102
uuid3=6A1E0C1E-2222-4B4B-8C8C-000000000103

# admit [as_nobody] XML: gdbus's answer, e.g. "(true, '')", or the error's name
admit() {
    local out
    if out=$("$@" 2>&1); then
        echo "$out"
    else
        sed -n 's/.*GDBus\.Error:\([A-Za-z0-9_.]*\):.*/\1/p' <<<"$out" | head -1
    fi
}
admit_call() {
    gdbus call --system --dest org.dynmem1 --object-path /org/dynmem1 \
        --method org.dynmem1.Manager.Admit "$1"
}
release_call() {
    gdbus call --system --dest org.dynmem1 --object-path /org/dynmem1 \
        --method org.dynmem1.Manager.Release "$1"
}
reservations() {
    busctl --system call org.dynmem1 /org/dynmem1 org.dynmem1.Manager ListReservations
}
reserved() { busctl --system get-property org.dynmem1 /org/dynmem1 org.dynmem1.Manager Reserved; }
reserved_is() { [ "$(reserved)" = "t $1" ]; }
cycles() { "$DYNMEMCTL" dump | sed -n 's/^cycles: //p'; }
daemon_has_cycled() { [ "$(cycles)" -ge 1 ] 2>/dev/null; }
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
daemon_runs=0
start_daemon() {
    daemon_runs=$((daemon_runs + 1))
    "$DYNMEMD" --config "$tmp/policy.yaml" --connect "test://$here/node.xml" \
        --proc-root "$tmp/proc" --require-bus "$@" >"$tmp/daemon$daemon_runs.log" 2>&1 &
    daemon_pid=$!
    wait_until 15 daemon_has_cycled || {
        fail "dynmemd did not come up on the bus"
        exit 1
    }
}
stop_daemon() {
    kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
    daemon_pid=
}

start_private_bus "$tmp" "$bus_rules_open" || exit 1
: >"$tmp/signals"
"$BUS_HELPER" watch >"$tmp/signals" 2>&1 &
watch_pid=$!
wait_until 10 grep -qx READY "$tmp/signals" || fail "signal watcher did not start"
start_daemon

# -- free memory: granted at once, held in the budget until released
out=$(admit admit_call "$(definition newvm "$uuid1" 2048)")
expect "a start whose memory is free is admitted at once" "(true, '')" "$out"
reservations | grep -q "\"newvm\" \"$uuid1\" \"reserved\" 2147483648 5000 " &&
    pass "ListReservations shows it reserved with its size and weight" ||
    fail "ListReservations: $(reservations)"
wait_until 10 sh -c "[ \"\$(busctl --system get-property org.dynmem1 /org/dynmem1 \
    org.dynmem1.Manager Reserved)\" = 't 2147483648' ]" &&
    pass "Reserved counts it in the budget" || fail "Reserved: $(reserved)"
"$DYNMEMCTL" status | grep -qE "^ newvm +reserved +2 GiB " &&
    pass "dynmemctl status shows the starting domain as reserved" ||
    fail "dynmemctl status: $("$DYNMEMCTL" status)"
"$DYNMEMCTL" --json status | grep -q '{"name": "newvm", "uuid": "'"$uuid1"'", "state": "reserved", "size": 2147483648' &&
    pass "dynmemctl --json status lists it" || fail "json: $("$DYNMEMCTL" --json status | tail -2)"

# -- the same domain asking again replaces its reservation; Release drops it
out=$(admit admit_call "$(definition newvm "$uuid1" 1024)")
expect "a retried start is admitted again" "(true, '')" "$out"
expect "one reservation per domain" 1 "$(reservations | grep -o '"newvm"' | wc -l)"
release_call newvm >/dev/null
wait_until 10 sh -c "[ \"\$(busctl --system get-property org.dynmem1 /org/dynmem1 \
    org.dynmem1.Manager Reserved)\" = 't 0' ]" &&
    pass "Release gives the memory back" || fail "after Release: $(reserved)"
release_call nosuchvm >/dev/null && pass "Release of an unknown domain is no error" ||
    fail "Release of an unknown domain failed"

# -- more than a start may take: refused at once, with its reason
out=$(admit admit_call "$(definition bigvm "$uuid2" 65536)")
grep -qE "^\(false, 'cannot start bigvm: needs 64 GiB at startup; 1[5-9]\.[0-9] GiB could be freed from guests of lower or equal weight'\)$" <<<"$out" &&
    pass "an impossible start is refused with its reason" || fail "refusal: $out"
wait_until 10 grep -q "^StartRefused bigvm $uuid2 68719476736 cannot start bigvm" "$tmp/signals" &&
    pass "StartRefused signalled" || fail "no StartRefused: $(cat "$tmp/signals" | tail -3)"
reservations | grep -q '"bigvm" .* "refused" ' &&
    pass "ListReservations keeps the refusal for operators" || fail "refusal not listed"
"$DYNMEMCTL" status | grep -q "bigvm, [0-9]*s ago: cannot start bigvm: needs 64 GiB" &&
    pass "dynmemctl status shows the refused start and why" || fail "status: $("$DYNMEMCTL" status)"
wait_until 10 reserved_is 0 && pass "a refused start holds nothing" ||
    fail "after the refusal: $(reserved)"

# -- the definition's own metadata names its startup size; UUIDs any case
meta='<dynmem:policy xmlns:dynmem="urn:dynmem:policy:1"><dynmem:startup>1GiB</dynmem:startup><dynmem:weight>9000</dynmem:weight></dynmem:policy>'
out=$(admit admit_call "$(definition metavm "$uuid3" 65536 "$meta")")
expect "its metadata's startup is what it asks for" "(true, '')" "$out"
reservations | grep -q "\"metavm\" \"${uuid3,,}\" \"reserved\" 1073741824 9000 " &&
    pass "reserved at its metadata's startup and weight, UUID as libvirt writes it" ||
    fail "metavm: $(reservations)"
release_call metavm >/dev/null

# -- bad callers and bad input change nothing
expect "nobody may not Admit" org.freedesktop.DBus.Error.AccessDenied \
    "$(admit as_nobody gdbus call --system --dest org.dynmem1 --object-path /org/dynmem1 \
        --method org.dynmem1.Manager.Admit "$(definition x "$uuid1" 1)")"
expect "nobody may not Release" org.freedesktop.DBus.Error.AccessDenied \
    "$(admit as_nobody gdbus call --system --dest org.dynmem1 --object-path /org/dynmem1 \
        --method org.dynmem1.Manager.Release x)"
for bad in "not xml" "<domain><name>x</name></domain>" \
    "<domain><name>x</name><uuid>nope</uuid><memory>1</memory></domain>" \
    "<domain><uuid>$uuid1</uuid><memory>1</memory></domain>" \
    "$(definition x "$uuid1" 1 | sed 's/<memory unit=.MiB.>1</<memory unit="parsecs">1</')"; do
    expect "malformed definition refused: ${bad:0:40}" org.dynmem1.Error.InvalidArgument \
        "$(admit admit_call "$bad")"
done
expect "an oversized definition is refused" "error org.dynmem1.Error.InvalidArgument" \
    "$("$BUS_HELPER" admit 5000000)"
wait_until 10 reserved_is 0 && pass "bad input reserved nothing" || fail "reserved: $(reserved)"

# -- what-if, by anyone: dynmemctl admit --dry-run
out=$(as_nobody "$DYNMEMCTL" admit --dry-run some-vm 1GiB)
rc=$?
expect "dry-run of a start that fits: exit 0" 0 "$rc"
grep -q "^some-vm would start at once: 1 GiB is free$" <<<"$out" &&
    pass "dry-run says it would start at once" || fail "dry-run: $out"
out=$(as_nobody "$DYNMEMCTL" admit --dry-run some-vm 64GiB)
rc=$?
expect "dry-run of an impossible start: exit 1" 1 "$rc"
grep -q "^would be refused: cannot start some-vm: needs 64 GiB at startup" <<<"$out" &&
    pass "dry-run says why it would be refused" || fail "dry-run: $out"
# more than is free, less than a start of weight 9000 may take: the
# guests' buffers (20 % of their use) are what would be trimmed
free_mib=$(($(busctl --system get-property org.dynmem1 /org/dynmem1 org.dynmem1.Manager Budget |
    cut -d' ' -f2) / 1048576 - $(busctl --system get-property org.dynmem1 /org/dynmem1 \
    org.dynmem1.Manager Assigned | cut -d' ' -f2) / 1048576))
out=$("$DYNMEMCTL" --json admit --dry-run gold-vm "$((free_mib + 256))MiB")
grep -qE '^\{"verdict": "after-trims", "message": "gold-vm would start once [1-3] guest\(s\) are trimmed", "trims": \[' <<<"$out" &&
    grep -q '"name": "bravo", "bytes": [1-9]' <<<"$out" &&
    pass "dry-run --json names the guests it would trim" || fail "dry-run json: $out"
"$DYNMEMCTL" admit some-vm 1GiB >/dev/null 2>&1
expect "admit without --dry-run is a usage error" 2 $?
"$DYNMEMCTL" admit --dry-run some-vm 12parsecs >/dev/null 2>&1
expect "admit with a bad size is a usage error" 2 $?
"$DYNMEMCTL" status --dry-run >/dev/null 2>&1
expect "--dry-run elsewhere is a usage error" 2 $?

# -- warn: allowed, and said; off: not checked
policy warn
"$DYNMEMCTL" reload
out=$(admit admit_call "$(definition bigvm "$uuid2" 65536)")
grep -q "^(true, 'allowed (host.admission is warn); would be refused: cannot start bigvm" <<<"$out" &&
    pass "warn: an impossible start is allowed and the answer says so" || fail "warn: $out"
grep -q "start allowed (host.admission is warn)" "$tmp/daemon$daemon_runs.log" &&
    pass "warn: the log says what would have been refused" || fail "warn: not logged"
release_call bigvm >/dev/null
policy off
"$DYNMEMCTL" reload
out=$(admit admit_call "$(definition bigvm "$uuid2" 65536)")
expect "off: every start allowed, not checked" "(true, 'not checked: host.admission is off')" "$out"
wait_until 10 reserved_is 0 && pass "off: nothing reserved" || fail "off: $(reserved)"

# -- stopping with a start unanswered is not possible to observe here (the
# test driver cannot make room); a stop with reservations held exits 0
policy enforce
"$DYNMEMCTL" reload
admit admit_call "$(definition newvm "$uuid1" 2048)" >/dev/null
kill "$daemon_pid"
wait "$daemon_pid"
expect "dynmemd stops cleanly holding a reservation" 0 $?
daemon_pid=
exit 0
