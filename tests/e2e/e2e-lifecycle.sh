#!/usr/bin/env bash
# e2e: a guest started while the daemon runs is picked up at once with its
# grace period (its startup memory kept), then trimmed; a destroyed guest
# is forgotten at once.
set -uo pipefail
# shellcheck source=lib.sh
. "$SRCDIR/tests/e2e/lib.sh"
e2e_setup

e2e_write_policy 192
e2e_start_daemon

# (virsh create returns once the guest runs, which can take a minute here:
# times are taken from its return)
e2e_guest late 512 --plan 0:32
start_ms=$(now_ms)
wait_until 10 e2e_known late && pass "picked up $(($(now_ms) - start_ms)) ms after the start" ||
    fail "the new guest was not picked up within 10 s"
status_is() { [ "$(e2e_dom "$1" status)" = "$2" ]; }
# ("new" until its first cycle)
wait_until 5 status_is late starting && pass "status 'starting' during the grace period" ||
    fail "status '$(e2e_dom late status)' right after the start"
# through the grace period (15 s in e2e_policy_head) its memory is kept
grace_holds() {
    status_is late starting || return 1
    [ "$(e2e_assigned_mib late)" -ge 500 ] || { fail "trimmed during its grace period"; return 1; }
}
while grace_holds; do sleep 1; done
elapsed=$(($(now_ms) - start_ms))
# the grace period (15 s) starts at the start event, a little before
# virsh create returns
[ "$elapsed" -ge 12000 ] && pass "kept its 512 MiB through the grace period (${elapsed} ms)" ||
    fail "grace period ended only ${elapsed} ms after the start"
wait_until 60 sh -c "[ \$(virsh -q -c $E2E_URI domstats --balloon $E2E_PREFIX-late |
    sed -n 's/.*balloon.current=//p') -lt 400000 ]" && pass "trimmed after the grace period" ||
    fail "not trimmed after the grace period ($(e2e_assigned_mib late) MiB)"

start_ms=$(now_ms)
e2e_destroy late
wait_until 10 sh -c "! '$DYNMEMCTL' --json show $E2E_PREFIX-late >/dev/null 2>&1" &&
    pass "forgotten $(($(now_ms) - start_ms)) ms after destroy" ||
    fail "still known 10 s after destroy"
# by the lifecycle event, or by a cycle whose stats came first (its change,
# if it planned one, finding the guest gone): either way at once, and no
# action failed on it after the destroy
if grep -q "$E2E_PREFIX-late: stopped; forgotten" "$e2e_tmp"/daemon*.log; then
    pass "forgotten by the lifecycle event"
elif grep -q "$E2E_PREFIX-late: no longer running; forgotten" "$e2e_tmp"/daemon*.log; then
    pass "forgotten by the next cycle (its stats came before the event)"
elif grep -q "$E2E_PREFIX-late: gone before its change could be made; forgotten" \
    "$e2e_tmp"/daemon*.log; then
    pass "forgotten by the next cycle (its change found it gone)"
else
    fail "no record of forgetting it"
fi
grep -q "$E2E_PREFIX-late: .*failed" "$e2e_tmp"/daemon*.log &&
    fail "an action was tried on the destroyed guest" || pass "no action on the destroyed guest"
[ "$failures" = 0 ]
