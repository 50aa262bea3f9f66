#!/usr/bin/env bash
# e2e: a guest without a balloon driver, and one without a balloon device,
# are reported unmanaged and left alone; libvirtd killed and restarted under
# the daemon: it notices, acts on nothing meanwhile, reconnects and carries
# on balancing.
set -uo pipefail
# shellcheck source=lib.sh
. "$SRCDIR/tests/e2e/lib.sh"
e2e_setup

e2e_write_policy 192
guests=(ok nodriver nodevice)
# ok's workload steps up on a cue, after libvirtd's restart below
e2e_guest ok 512 --cue --plan "0:32,2:300" --rate 16
e2e_guest nodriver 512 --no-balloon-driver --plan 0:32
e2e_guest nodevice 512 --no-balloon --plan 0:32
e2e_start_daemon
e2e_wait_booted "${guests[@]}"

status_is() { [ "$(e2e_dom "$1" status)" = "$2" ]; }
# past the grace period (15 s) the two without balloon are unmanaged
for g in nodriver nodevice; do
    wait_until 40 status_is "$g" unmanaged && pass "$g is reported unmanaged" ||
        fail "$g is '$(e2e_dom "$g" status)'"
done
wait_until 60 sh -c "[ \$(virsh -q -c $E2E_URI domstats --balloon $E2E_PREFIX-ok |
    sed -n 's/.*balloon.current=//p') -lt 400000 ]" && pass "ok is trimmed" || fail "ok not trimmed"
for g in nodriver nodevice; do
    [ "$(e2e_assigned_mib "$g")" = 512 ] && pass "$g left alone at 512 MiB" ||
        fail "$g changed to $(e2e_assigned_mib "$g") MiB"
done
grep -q "$E2E_PREFIX-no.*memory .* by " "$e2e_tmp"/daemon*.log &&
    fail "the daemon changed an unmanaged guest" || pass "no change logged for them"

# -- libvirtd killed under the daemon (only one we started ourselves)
connected() { e2e_ctl dump | grep -q '^connect: .*(connected)'; }
disconnected() { e2e_ctl dump | grep -q '^connect: .*(disconnected)'; }
e2e_kill_libvirtd || skip_or_fail "libvirtd was already running, not started by us: not ours to kill"
wait_until 20 disconnected && pass "the daemon noticed libvirtd is gone" ||
    fail "still 'connected' 20 s after libvirtd died"
wait_until 5 sh -c "[ -z \"\$('$DYNMEMCTL' --json status | grep -o '\"name\": \"$E2E_PREFIX')\" ]" &&
    pass "no domain is kept while disconnected" || fail "stale domains kept"
e2e_restart_libvirtd || fail "libvirtd did not restart"
wait_until 300 connected && pass "reconnected after libvirtd came back" ||
    fail "not reconnected within 300 s"
for g in "${guests[@]}"; do
    wait_until 30 e2e_known "$g" && pass "$g rediscovered" || fail "$g not rediscovered"
done
# and it carries on: ok's workload steps up to 300 MiB and gets it
e2e_cue ok || exit 1
granted() { [ "$(e2e_report ok held)" = 300 ]; }
e2e_until_t ok 90 granted && pass "balancing goes on: ok's workload got its 300 MiB" ||
    fail "ok's workload short: $(e2e_report ok held) MiB"
e2e_no_oom ok && pass "no OOM kill" || fail "OOM kill in ok"
[ "$failures" = 0 ]
