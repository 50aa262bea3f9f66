#!/usr/bin/env bash
# e2e: admission (docs/admission.md) on real guests, through libvirt's own
# hook. With a pool cap and two guests running (one idle of low weight
# holding a large buffer, one busy), starting a high-weight guest makes
# room by trimming them (never below what they use) and succeeds, at its
# startup size; starting a low-weight guest that cannot fit is refused
# and `virsh create` prints dynmem's reason; no OOM kill anywhere; and a
# libvirtd killed while a start waits for room leaves no hook behind and
# dynmemd working.
#
# The hook is dynmem-hook from the build, behind a wrapper in
# /etc/libvirt/hooks/qemu.d that points it at this test's bus and policy;
# libvirtd (ours: the suite's or this test's) is restarted to see it, and
# again at the end to forget it.
set -uo pipefail
# shellcheck source=lib.sh
. "$SRCDIR/tests/e2e/lib.sh"
: "${DYNMEM_HOOK:?}"
e2e_setup

hook_dir=/etc/libvirt/hooks/qemu.d
hook_file=$hook_dir/zz-dynmem-e2e-$$
# libvirtd must be ours to restart
e2e_recorded libvirtd >/dev/null ||
    skip_or_fail "libvirtd was not started by the e2e tests: it is not ours to restart"

restart_libvirtd() {
    e2e_kill_libvirtd || return 1
    e2e_restart_libvirtd || return 1
    wait_until 300 virsh -c "$E2E_URI" version >/dev/null
}
made_hook_dir=
admission_cleanup() {
    local rec pid owner shell
    [ -e "$hook_file" ] || return 0
    rm -f "$hook_file"
    # the directory too, when this test made it and it is empty again
    [ -n "$made_hook_dir" ] && rmdir "$hook_dir" 2>/dev/null
    # a suite's libvirtd must forget the hook before the next test
    rec=$(e2e_recorded libvirtd) || return 0
    read -r pid owner shell <<<"$rec"
    [ "$owner" = suite ] && restart_libvirtd
    return 0
}
trap 'rc=$?; trap "" INT TERM; admission_cleanup; (exit $rc); e2e_cleanup' EXIT

write_policy() { # POOL [LATE_STARTUP]
    {
        e2e_policy_head | sed "s/^  overhead: 0$/  overhead: 0\n  pool: $1\n  admission: enforce\n  admission-wait: 120s/"
        cat <<YAML
domains:
  - name: $E2E_PREFIX-idle
    mode: dynamic
    minimum: 128MiB
    buffer: 150%
    weight: 2000
  - name: $E2E_PREFIX-busy
    mode: dynamic
    minimum: 128MiB
    weight: 5000
  - name: $E2E_PREFIX-gold
    mode: dynamic
    minimum: 128MiB
    startup: 400MiB
    weight: 9000
  - match: "$E2E_PREFIX-vdi*"
    mode: dynamic
    minimum: 128MiB
    startup: 400MiB
    weight: 1000
  - name: $E2E_PREFIX-late
    mode: dynamic
    minimum: 64MiB
    startup: ${2:-400MiB}
    weight: 9500
YAML
    } >"$e2e_tmp/policy.yaml.new"
    mv "$e2e_tmp/policy.yaml.new" "$e2e_tmp/policy.yaml"
}
# The pool: idle desires about 480 MiB (its ~190 MiB in use and a 150 %
# buffer), busy about 560 (its ~460 and 20 %): together ~210 MiB less than
# the pool, so a 400 MiB start is not free; but above what they use there
# is ~620 MiB, which a start of higher weight may take. A start of lower
# weight than all of them may take nothing they desire.
pool=1250
write_policy "${pool}MiB"

[ -d "$hook_dir" ] || made_hook_dir=1
mkdir -p "$hook_dir"
cat >"$hook_file.new" <<SH
#!/bin/sh
# dynmem e2e test $$: remove me if that test is gone
DBUS_SYSTEM_BUS_ADDRESS='$DBUS_SYSTEM_BUS_ADDRESS' exec '$DYNMEM_HOOK' --config '$e2e_tmp/policy.yaml' "\$@"
SH
chmod 755 "$hook_file.new"
mv "$hook_file.new" "$hook_file" || {
    rm -f "$hook_file.new"
    fail "cannot install the hook in $hook_dir"
    exit 1
}
restart_libvirtd || {
    fail "libvirtd did not come back with the hook"
    exit 1
}
pass "libvirtd restarted with the hook"

e2e_guest idle 640 --plan "0:32"
e2e_guest busy 640 --plan "0:300"
e2e_start_daemon
e2e_wait_booted idle busy
# trimmed to what they desire: idle keeps a large buffer (150 %), busy 20 %
# over its 300 MiB workload
settled() {
    [ "$(e2e_report busy held)" = 300 ] && [ "$(e2e_assigned_mib idle)" -lt 600 ] &&
        e2e_settled idle busy
}
wait_until 300 settled && pass "idle and busy settled" || fail "not settled"

echo "# idle holds $(e2e_assigned_mib idle) MiB, busy $(e2e_assigned_mib busy) MiB; pool $pool MiB"

# -- a high-weight start: room is made, the start succeeds, at 400 MiB
before_idle=$(e2e_assigned_mib idle)
e2e_guest gold 640 --plan "0:32"
pass "virsh create of the high-weight guest succeeded"
[ "$(e2e_assigned_mib idle)" -lt "$before_idle" ] &&
    pass "the low-weight idle guest was trimmed for it ($before_idle -> $(e2e_assigned_mib idle) MiB)" ||
    fail "idle not trimmed: $before_idle -> $(e2e_assigned_mib idle) MiB"
grep -q "gold: start admitted: 400 MiB reserved once room was made" "$e2e_tmp"/daemon*.log &&
    pass "dynmemd admitted it once room was made, 400 MiB reserved" ||
    fail "no admission after making room in the log"
at_startup() { a=$(e2e_assigned_mib gold) && [ -n "$a" ] && [ "$a" -le 416 ]; }
wait_until 60 at_startup && pass "gold runs at its startup size ($(e2e_assigned_mib gold) MiB)" ||
    fail "gold at $(e2e_assigned_mib gold) MiB, startup 400 MiB"
e2e_wait_booted gold

# -- a low-weight start that cannot fit: refused, with dynmem's reason
"$SRCDIR/tests/e2e/domain-xml.sh" "$E2E_PREFIX-vdi" 640 --guest-dir "$E2E_GUEST_DIR" \
    --plan "0:32" >"$e2e_tmp/vdi.xml"
e2e_domains+=("$E2E_PREFIX-vdi")
e2e_creating=$E2E_PREFIX-vdi
if virsh_ create "$e2e_tmp/vdi.xml" >"$e2e_tmp/vdi.out" 2>&1; then
    fail "the low-weight guest started"
else
    pass "virsh create of the low-weight guest failed"
fi
e2e_creating=
echo "# virsh said: $(tr '\n' ' ' <"$e2e_tmp/vdi.out")"
grep -q "dynmem: cannot start $E2E_PREFIX-vdi: needs 400 MiB at startup; .* could be freed from guests of lower or equal weight" "$e2e_tmp/vdi.out" &&
    pass "virsh create printed dynmem's reason" || fail "no reason in: $(cat "$e2e_tmp/vdi.out")"
e2e_ctl status >"$e2e_tmp/status.txt"
sed 's/^/# /' "$e2e_tmp/status.txt"
grep -q "$E2E_PREFIX-vdi, [0-9]*s ago: cannot start $E2E_PREFIX-vdi" "$e2e_tmp/status.txt" &&
    pass "dynmemctl status shows the refused start" || fail "refusal not in dynmemctl status"
e2e_no_oom idle busy gold && pass "no OOM kill" || fail "OOM kill"
[ "$(e2e_report busy held)" = 300 ] && pass "busy kept its 300 MiB workload" ||
    fail "busy holds $(e2e_report busy held) MiB"

# -- libvirtd killed while a start waits for room: nothing hangs. Balancing
# paused, a start of weight 9500 asking 64 MiB more than is free waits
# (the guests' buffers could cover it, but nobody is trimmed).
e2e_ctl pause || fail "dynmemctl pause"
mgr_mib() {
    busctl --system get-property org.dynmem1 /org/dynmem1 org.dynmem1.Manager "$1" |
        awk '{ print int($2 / 1048576) }'
}
free_mib=$(($(mgr_mib Budget) - $(mgr_mib Assigned) - $(mgr_mib Reserved)))
[ "$free_mib" -lt 0 ] && free_mib=0
late_mib=$((free_mib + 64))
echo "# $free_mib MiB free: the late start asks $late_mib MiB"
write_policy "${pool}MiB" "${late_mib}MiB"
e2e_ctl reload || fail "dynmemctl reload"
"$SRCDIR/tests/e2e/domain-xml.sh" "$E2E_PREFIX-late" 640 --guest-dir "$E2E_GUEST_DIR" \
    --plan "0:32" >"$e2e_tmp/late.xml"
e2e_domains+=("$E2E_PREFIX-late")
virsh_ create "$e2e_tmp/late.xml" >"$e2e_tmp/late.out" 2>&1 &
create_pid=$!
waiting() { busctl --system call org.dynmem1 /org/dynmem1 org.dynmem1.Manager ListReservations |
    grep -q "\"$E2E_PREFIX-late\" .* \"waiting\""; }
if wait_until 180 waiting; then
    pass "a start waits for room (balancing paused)"
    restart_libvirtd && pass "libvirtd killed and restarted while it waited" ||
        fail "libvirtd did not come back"
    wait "$create_pid" 2>/dev/null
    hook_gone() { ! pgrep -f "$DYNMEM_HOOK" >/dev/null; }
    wait_until 30 hook_gone && pass "no hook process left" || fail "a hook process is left"
    connected() { [ "$(busctl --system get-property org.dynmem1 /org/dynmem1 org.dynmem1.Manager Connected)" = "b true" ]; }
    wait_until 60 connected && pass "dynmemd reconnected" || fail "dynmemd did not reconnect"
    not_waiting() { ! waiting; }
    wait_until 30 not_waiting && pass "the reservation no longer waits" || fail "still waiting"
else
    fail "the start never showed as waiting: $(cat "$e2e_tmp/late.out")"
    wait "$create_pid" 2>/dev/null
fi
e2e_ctl resume || fail "dynmemctl resume"
e2e_ctl status >/dev/null && pass "dynmemctl answers after all that" || fail "dynmemctl status"
[ "$failures" = 0 ]
