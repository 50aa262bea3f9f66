#!/usr/bin/env bash
# e2e (issue 8): under a pool cap, two trimmed deflate-on-oom guests step
# up 320 MiB at once, together, while a third ramps at 32 MiB/s from a
# 160 MiB minimum with the product's default burst headroom and buffer-min
# (no deflate-on-oom). No workload is OOM-killed; the time the guests spent
# over the pool is reported (the budget keeps back what deflate-on-oom
# guests can take at once: host.deflate-reserve, dynmem-policy.yaml(5)).
set -uo pipefail
# shellcheck source=lib.sh
. "$SRCDIR/tests/e2e/lib.sh"
e2e_setup

pool=1800 step=352 drop_t=60
{
    e2e_policy_head | sed "s/^  overhead: 0$/  overhead: 0\n  pool: ${pool}MiB/"
    echo "domains:"
    echo "  - name: $E2E_PREFIX-ramp"
    echo "    mode: dynamic"
    echo "    minimum: 160MiB"
    echo "    buffer: 20%"
    echo "    burst-headroom: learn 128MiB"
    echo "    buffer-min: 64MiB"
    echo "  - match: \"$E2E_PREFIX-*\""
    echo "    mode: dynamic"
    echo "    minimum: 192MiB"
    echo "    buffer: 20%"
} >"$e2e_tmp/policy.yaml"

guests=(a b ramp)
e2e_guest a 640 --autodeflate --cue --plan "0:32,5:$step,$drop_t:32"
e2e_guest b 640 --autodeflate --cue --plan "0:32,5:$step,$drop_t:32"
e2e_guest ramp 512 --cue --plan "0:32,5:$step,$drop_t:32" --rate 32
e2e_start_daemon
e2e_wait_booted "${guests[@]}"
trimmed() { [ "$(e2e_assigned_mib a)" -lt 640 ] && [ "$(e2e_assigned_mib b)" -lt 640 ] &&
    [ "$(e2e_assigned_mib ramp)" -lt 512 ] && e2e_settled "${guests[@]}"; }
wait_until 300 trimmed && pass "all three trimmed while idle and settled" ||
    fail "not trimmed and settled while idle"
e2e_ctl status
expect "ramp is protected by its headroom" headroom "$(e2e_dom ramp protection)"
e2e_cue "${guests[@]}" || exit 1

at_least_t() { [ "$(e2e_report "$1" t)" -ge "$2" ] 2>/dev/null; }
over_s=0 max_over=0
watch_pool() {
    local g a sum=0
    for g in "${guests[@]}"; do
        a=$(e2e_assigned_mib "$g")
        sum=$((sum + ${a:-0}))
    done
    if [ "$sum" -gt "$pool" ]; then
        over_s=$((over_s + 1))
        [ $((sum - pool)) -gt "$max_over" ] && max_over=$((sum - pool))
    fi
    e2e_no_oom "${guests[@]}" || { fail "a workload was OOM-killed"; return 1; }
}
held_all() {
    local g
    for g in "${guests[@]}"; do [ "$(e2e_report "$g" held)" = "$step" ] || return 1; done
}
until held_all || at_least_t a $((drop_t - 1)); do
    watch_pool || break
    sleep 1
done
for g in "${guests[@]}"; do
    [ "$(e2e_report "$g" held)" = "$step" ] &&
        pass "$g: the workload holds its $step MiB (t=$(e2e_report "$g" t))" ||
        fail "$g: the workload holds $(e2e_report "$g" held) of $step MiB before its drop"
done
until at_least_t a $((drop_t - 1)); do
    watch_pool || break
    sleep 1
done
e2e_ctl status
echo "METRIC burst_pool_samples_over_pool=$over_s max_over_mib=$max_over (a sample a second or so)"
e2e_no_oom "${guests[@]}" && pass "no OOM kill under the pool" || fail "OOM kill under the pool"
[ "$failures" = 0 ]
