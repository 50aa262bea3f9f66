#!/usr/bin/env bash
# dynmem-hook, libvirt's qemu hook for admission control (dynmem-hook(8)),
# against fake-dynmemd on a PRIVATE dbus-daemon with the shipped bus policy:
# admitted, refused, no reply in time, a late reply, a daemon that leaves
# or answers nonsense, no daemon, no bus, admission off, a policy file with
# errors, Release on stop, other operations untouched, stdin always drained,
# bad arguments and hostile names. Every run checks that the hook wrote
# nothing on stdout (in qemu.d/ that would replace the domain XML).
#
# Synchronisation is by polling with deadlines; everything started here is
# stopped by PID on exit.
set -uo pipefail

: "${DYNMEM_HOOK:?}" "${FAKE_DYNMEMD:?}" "${SRCDIR:?}"
# shellcheck source=../lib/common.sh
. "$SRCDIR/tests/lib/common.sh"

for tool in dbus-daemon sha256sum; do
    command -v "$tool" >/dev/null || skip_or_fail "$tool is missing"
done
# the shipped bus policy lets only root own org.dynmem1 and call Admit
[ "$(id -u)" -eq 0 ] || skip_or_fail "the fake daemon owns org.dynmem1, which only root may"

tmp=$(mktemp -d /tmp/dynmem-hook-test.XXXXXX)
fake_pid=

stop_fake() {
    [ -n "$fake_pid" ] || return 0
    kill "$fake_pid" 2>/dev/null
    wait "$fake_pid" 2>/dev/null
    fake_pid=
}
cleanup() {
    stop_fake
    stop_private_bus
    if [ "$failures" -gt 0 ] || [ -n "${KEEP_TMP:-}" ]; then
        echo "---- fake daemon's stderr:" >&2
        cat "$tmp"/fake.err >&2 2>/dev/null
    fi
    [ -n "${KEEP_TMP:-}" ] && echo "---- kept: $tmp" >&2 || rm -rf "$tmp"
    print_failures
}
trap cleanup EXIT
trap 'exit 1' INT TERM

start_private_bus "$tmp" "$(bus_rules_shipped)" || exit 1
bus=$DBUS_SYSTEM_BUS_ADDRESS

# start_fake MODE [ARG]: a fresh record, and the fake on the bus.
start_fake() {
    stop_fake
    : >"$tmp/record"
    : >"$tmp/fake.out"
    "$FAKE_DYNMEMD" "$tmp/record" "$@" >"$tmp/fake.out" 2>>"$tmp/fake.err" &
    fake_pid=$!
    if ! wait_until 10 grep -qx READY "$tmp/fake.out"; then
        fail "fake-dynmemd $* did not come up"
        exit 1
    fi
}

# ---- inputs -------------------------------------------------------------------

cat >"$tmp/vm1.xml" <<'EOF'
<domain type='qemu'>
  <name>vm1</name>
  <uuid>0d5b2f6e-1111-4a4a-9b9b-000000000001</uuid>
  <memory unit='KiB'>1048576</memory>
  <currentMemory unit='KiB'>1048576</currentMemory>
  <devices>
    <memballoon model='virtio' autodeflate='on'/>
  </devices>
</domain>
EOF
# about 5 MiB: under the hook's 8 MiB, far over a pipe's buffer
{
    printf "<domain type='qemu'>\n  <name>big</name>\n  <description>"
    yes 'a long description of a large domain' | head -c 5000000
    printf '</description>\n</domain>\n'
} >"$tmp/big.xml"
# 9 MiB: over the hook's limit
{
    printf "<domain type='qemu'>\n  <name>huge</name>\n  <description>"
    yes 'a description too long for the hook' | head -c 9437184
    printf '</description>\n</domain>\n'
} >"$tmp/huge.xml"
printf '<domain><name>nul</name>\0</domain>' >"$tmp/nul.xml"

digest() { echo "bytes=$(wc -c <"$1") sha256=$(sha256sum <"$1" | cut -d' ' -f1)"; }

write_policy() {
    local name=$1
    shift
    {
        printf 'host:\n'
        printf '  %s\n' "$@"
    } >"$tmp/$name.yaml"
}
write_policy allow 'admission-wait: 0s'
write_policy refuse 'admission-wait: 0s' 'admission-unreachable: refuse'
write_policy wait2 'admission-wait: 2s' 'admission-unreachable: refuse'
write_policy warn 'admission: warn'
write_policy off 'admission: off' 'admission-unreachable: refuse'
printf 'host:\n  admision: off\n  admission-unreachable: refuse\n' >"$tmp/broken.yaml"

# ---- running the hook -----------------------------------------------------------

# run_hook INPUT ARG...: the hook with INPUT on stdin; sets rc, err (its
# stderr), ms (how long it ran) and writer_rc (how the writer of stdin
# ended: 0, not killed by SIGPIPE, means every byte was read).
run_hook() {
    local input=$1 t0
    shift
    t0=$(now_ms)
    { cat "$input"; echo $? >"$tmp/writer.rc"; } | "$DYNMEM_HOOK" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=${PIPESTATUS[1]}
    ms=$(($(now_ms) - t0))
    err=$(cat "$tmp/err")
    writer_rc=$(cat "$tmp/writer.rc")
    [ -s "$tmp/out" ] && fail "the hook wrote on stdout ($*): $(head -c 200 "$tmp/out")"
    return 0
}
# hook POLICY DOMAIN OP SUBOP [EXTRA] < vm1.xml, with a 1 s margin
hook() {
    local policy=$1
    shift
    run_hook "${input:-$tmp/vm1.xml}" --config "$tmp/$policy.yaml" --timeout-margin 1s "$@"
}
record() { cat "$tmp/record"; }

# ---- admitted and refused -------------------------------------------------------

start_fake admit ""
hook allow vm1 prepare begin -
expect "admitted: exit 0" 0 "$rc"
expect "admitted with no message: nothing said" "" "$err"
expect "Admit got the whole domain XML" "Admit name=vm1 $(digest "$tmp/vm1.xml")" "$(record)"

start_fake admit "would have been refused: vm1 needs 1 GiB, 420 MiB free"
hook warn vm1 prepare begin -
expect "admitted with a message (warn): exit 0" 0 "$rc"
expect "admitted with a message: said on stderr" \
    "dynmem: would have been refused: vm1 needs 1 GiB, 420 MiB free" "$err"

refusal="cannot start vm1: needs 1 GiB at startup; 420 MiB could be freed from guests of lower or equal weight"
start_fake refuse "$refusal"
hook allow vm1 prepare begin -
expect "refused: exit 1" 1 "$rc"
expect "refused: dynmemd's reason, one line" "dynmem: $refusal" "$err"
expect "refused: Admit was asked once" 1 "$(grep -c '^Admit ' "$tmp/record")"

start_fake refuse $'two\nlines \e[31mred'
hook allow vm1 prepare begin -
expect "a refusal with control characters: exit 1" 1 "$rc"
expect "a refusal with control characters: escaped on one line" \
    'dynmem: two\nlines \u001B[31mred' "$err"

# ---- no usable answer ---------------------------------------------------------

start_fake silent
hook allow vm1 prepare begin -
expect "no reply, unreachable allow: exit 0" 0 "$rc"
expect "no reply, unreachable allow: says why" \
    "dynmem: dynmemd did not answer (no reply within 1s); vm1 starts without admission" "$err"
[ "$ms" -ge 1000 ] && [ "$ms" -lt 6000 ] && pass "it waited admission-wait + margin (${ms} ms)" ||
    fail "no reply: the hook gave up after ${ms} ms, not about 1 s"
expect "no reply: Admit was asked" "Admit name=vm1 $(digest "$tmp/vm1.xml")" "$(record)"
hook refuse vm1 prepare begin -
expect "no reply, unreachable refuse: exit 1" 1 "$rc"
expect "no reply, unreachable refuse: says why" \
    "dynmem: cannot start vm1: dynmemd did not answer (no reply within 1s) and host.admission-unreachable is refuse" \
    "$err"

# a reply that comes after the margin but within admission-wait + margin
start_fake delay 1500
hook wait2 vm1 prepare begin -
expect "a reply 1.5 s late, admission-wait 2s: admitted" "0 ''" "$rc '$err'"
[ "$ms" -ge 1500 ] && pass "it waited for the late reply (${ms} ms)" ||
    fail "the late reply came after ${ms} ms?"

start_fake wrong-signature
hook allow vm1 prepare begin -
expect "a reply of the wrong type, allow: exit 0" 0 "$rc"
expect "a reply of the wrong type: says so" \
    "dynmem: dynmemd did not answer (a reply of type 's' to Admit, not 'bs'); vm1 starts without admission" \
    "$err"
hook refuse vm1 prepare begin -
expect "a reply of the wrong type, refuse: exit 1" 1 "$rc"

start_fake exit
hook refuse vm1 prepare begin -
expect "dynmemd left the bus mid-call, refuse: exit 1" 1 "$rc"
case $err in
"dynmem: cannot start vm1: dynmemd did not answer (no reply: "*") and host.admission-unreachable is refuse")
    pass "dynmemd left the bus mid-call: says so ($err)" ;;
*) fail "dynmemd left the bus mid-call: [$err]" ;;
esac
wait "$fake_pid" 2>/dev/null
fake_pid=

# nobody owns org.dynmem1
hook allow vm1 prepare begin -
expect "no dynmemd, allow: exit 0" 0 "$rc"
expect "no dynmemd, allow: says why" \
    "dynmem: dynmemd did not answer (nothing owns org.dynmem1 on the system bus); vm1 starts without admission" \
    "$err"
[ "$ms" -lt 3000 ] && pass "no dynmemd: answered at once (${ms} ms)" ||
    fail "no dynmemd: took ${ms} ms"
hook refuse vm1 prepare begin -
expect "no dynmemd, refuse: exit 1" 1 "$rc"
expect "no dynmemd, refuse: says why" \
    "dynmem: cannot start vm1: dynmemd did not answer (nothing owns org.dynmem1 on the system bus) and host.admission-unreachable is refuse" \
    "$err"

# no bus at all
DBUS_SYSTEM_BUS_ADDRESS=unix:path=$tmp/no-such-socket hook allow vm1 prepare begin -
expect "no bus, allow: exit 0" 0 "$rc"
expect "no bus, allow: says why" \
    "dynmem: dynmemd did not answer (cannot connect to the system bus: No such file or directory); vm1 starts without admission" \
    "$err"
DBUS_SYSTEM_BUS_ADDRESS=unix:path=$tmp/no-such-socket hook refuse vm1 prepare begin -
expect "no bus, refuse: exit 1" 1 "$rc"

# a bus that accepts the connection and never speaks: the hook's own alarm
# ends it, with the same words
stop_fake
"$FAKE_DYNMEMD" --mute-socket "$tmp/mute.sock" >"$tmp/fake.out" 2>>"$tmp/fake.err" &
fake_pid=$!
wait_until 10 grep -qx READY "$tmp/fake.out" || fail "the mute socket did not come up"
DBUS_SYSTEM_BUS_ADDRESS=unix:path=$tmp/mute.sock hook refuse vm1 prepare begin -
expect "a hung bus, refuse: the alarm refuses, and says why" \
    "1 dynmem: cannot start vm1: dynmemd did not answer (no reply within 1s) and host.admission-unreachable is refuse" \
    "$rc $err"
[ "$ms" -ge 1000 ] && [ "$ms" -lt 10000 ] && pass "a hung bus: given up after ${ms} ms" ||
    fail "a hung bus: the hook ran ${ms} ms"
DBUS_SYSTEM_BUS_ADDRESS=unix:path=$tmp/mute.sock hook allow vm1 release end -
expect "a hung bus on release end: exit 0, nothing said" "0 ''" "$rc '$err'"
stop_fake

# ---- the policy file ------------------------------------------------------------

start_fake refuse "$refusal"
hook off vm1 prepare begin -
expect "admission off: exit 0, nothing said" "0 ''" "$rc '$err'"
expect "admission off: no call made" "" "$(record)"

# a policy with errors: dynmemd (running its last good policy) decides...
hook broken vm1 prepare begin -
expect "a policy with errors, dynmemd refuses: exit 1" 1 "$rc"
expect "a policy with errors: said, then dynmemd's answer" \
    "dynmem: $tmp/broken.yaml:2:3: unknown key \"admision\" in host; did you mean \"admission\"?; asking dynmemd with the built-in policy
dynmem: $refusal" "$err"
# ... and without dynmemd, the start goes on: the file's refuse is not known
stop_fake
hook broken vm1 prepare begin -
expect "a policy with errors, no dynmemd: allowed" 0 "$rc"
expect "a policy with errors, no dynmemd: both said" 2 "$(grep -c '^dynmem: ' <<<"$err")"

# a missing policy file is the built-in policy: enforce, allow
start_fake refuse "$refusal"
run_hook "$tmp/vm1.xml" --config "$tmp/no-such-policy.yaml" vm1 prepare begin -
expect "a missing policy file: the built-in policy asks dynmemd" "1 dynmem: $refusal" "$rc $err"

# ---- stops: Release -------------------------------------------------------------

start_fake admit ""
hook allow vm1 release end shutdown
expect "release end: exit 0, nothing said" "0 ''" "$rc '$err'"
expect "release end: Release(vm1)" "Release name=vm1" "$(record)"
: >"$tmp/record"
hook allow vm1 stopped end -
expect "stopped end: Release(vm1)" "0 Release name=vm1" "$rc $(record)"
: >"$tmp/record"
hook off vm1 release end -
expect "release end with admission off: Release still sent (a reservation may be left)" \
    "Release name=vm1" "$(record)"
stop_fake
hook refuse vm1 release end -
expect "release end without dynmemd: exit 0, nothing said" "0 ''" "$rc '$err'"
start_fake silent
hook refuse vm1 release end -
expect "release end, dynmemd silent: exit 0" "0 ''" "$rc '$err'"
# Release is sent without waiting for a reply (libvirt holds the domain
# while the hook runs, and dynmemd may be waiting for libvirt): a silent
# daemon costs the stop nothing, and the call still arrived
[ "$ms" -lt 4500 ] && pass "Release does not wait for a silent dynmemd (${ms} ms)" ||
    fail "Release with a silent dynmemd took ${ms} ms"
wait_until 5 grep -q "Release name=vm1" "$tmp/record" && pass "the silent dynmemd got the Release" ||
    fail "the silent dynmemd got no Release: $(cat "$tmp/record")"

# ---- everything else: no call ----------------------------------------------------

start_fake refuse "$refusal"
for op in "start begin" "started begin" "prepare end" "migrate begin" "restore begin" \
    "reconnect begin" "attach begin" "PREPARE BEGIN" "prepare begin-"; do
    # shellcheck disable=SC2086
    hook refuse vm1 $op -
    expect "$op: exit 0, nothing said" "0 ''" "$rc '$err'"
done
expect "other operations: no call made" "" "$(record)"

# ---- stdin ---------------------------------------------------------------------

start_fake admit ""
input=$tmp/big.xml hook allow big prepare begin -
expect "a 5 MiB XML: admitted" "0 ''" "$rc '$err'"
expect "a 5 MiB XML: sent whole" "Admit name=big $(digest "$tmp/big.xml")" "$(record)"
expect "a 5 MiB XML: read to its end" 0 "$writer_rc"
: >"$tmp/record"
input=$tmp/huge.xml hook refuse huge prepare begin -
expect "a 9 MiB XML: read to its end all the same" 0 "$writer_rc"
expect "a 9 MiB XML, refuse: exit 1 and why" \
    "1 dynmem: cannot start huge: dynmemd did not answer (the domain XML is larger than 8 MiB, the most the hook reads) and host.admission-unreachable is refuse" \
    "$rc $err"
expect "a 9 MiB XML: not sent" "" "$(record)"
input=$tmp/huge.xml hook refuse huge started begin -
expect "a 9 MiB XML to another operation: exit 0, read to its end" "0 0 ''" \
    "$rc $writer_rc '$err'"
input=$tmp/huge.xml hook refuse huge release end -
expect "a 9 MiB XML on release end: Release sent, read to its end" "0 0 Release name=huge" \
    "$rc $writer_rc $(record)"
: >"$tmp/record"
input=$tmp/nul.xml hook allow nul prepare begin -
expect "an XML with a NUL byte: allowed, and why" \
    "0 dynmem: dynmemd did not answer (the domain XML is not valid UTF-8 text); nul starts without admission" \
    "$rc $err"
input=/dev/null hook allow vm1 stopped end -
expect "an empty stdin: fine" "0 ''" "$rc '$err'"

# ---- arguments -----------------------------------------------------------------

: >"$tmp/record"

run_hook "$tmp/vm1.xml" vm1 prepare begin
expect "three arguments: exit 0" 0 "$rc"
expect "three arguments: said" \
    "dynmem: dynmem-hook: expected libvirt's DOMAIN OPERATION SUBOPERATION EXTRA, got 3 arguments; nothing done (see dynmem-hook(8))" \
    "$err"
expect "three arguments: read to its end" 0 "$writer_rc"
run_hook "$tmp/huge.xml"
expect "no argument, 9 MiB on stdin: exit 0, read to its end" "0 0" "$rc $writer_rc"
run_hook "$tmp/vm1.xml" --refuse-everything vm1 prepare begin -
expect "an unknown option never blocks a start" \
    "0 dynmem: dynmem-hook: unknown option \"--refuse-everything\"; nothing done (see dynmem-hook(8))" \
    "$rc $err"
run_hook "$tmp/vm1.xml" --config "$tmp/refuse.yaml" --timeout-margin soon vm1 prepare begin -
expect "a bad --timeout-margin never blocks a start" 0 "$rc"
expect "nothing was asked on bad arguments" "" "$(record)"
"$DYNMEM_HOOK" --help </dev/null >"$tmp/help" 2>&1
expect "--help: exit 0 and usage" "0 Usage: dynmem-hook" "$? $(head -c 18 "$tmp/help")"

# libvirt's arguments are the last four, whatever they look like
start_fake refuse "$refusal"
hook allow --config prepare begin -
expect "a domain named --config is a domain: asked, refused" "1 Admit name=vm1" \
    "$rc $(cut -d' ' -f1-2 "$tmp/record")"
stop_fake
hook refuse $'evil\n\e]0;pwned\a' prepare begin -
expect "a hostile domain name: escaped on one line" \
    'dynmem: cannot start evil\n\u001B]0;pwned\u0007: dynmemd did not answer (nothing owns org.dynmem1 on the system bus) and host.admission-unreachable is refuse' \
    "$err"

[ "$bus" = "$DBUS_SYSTEM_BUS_ADDRESS" ] || fail "the test lost its bus"
[ "$failures" = 0 ]
