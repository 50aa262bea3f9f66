#!/usr/bin/env bash
# e2e: a workload steps up and memory follows: by the balloon on a guest
# that has only a balloon, balloon then virtio-mem on one with virtio-mem,
# balloon then a DIMM on one with DIMM slots. The workloads get what they
# ask for and nobody is OOM-killed. When they drop, memory is reclaimed,
# virtio-mem unplugged before the balloon inflates.
#
# The workloads start their plans on a cue given once all three guests are
# up and trimmed, so the story is the same however far apart libvirt
# created them; times below are the guests' own plan clocks (t).
# With E2E_CPU_HOG=1 (e2e-spike-loaded) every core is kept busy throughout.
set -uo pipefail
# shellcheck source=lib.sh
. "$SRCDIR/tests/e2e/lib.sh"
e2e_setup

min=192 rate=16 step_t=5 drop_t=75
e2e_write_policy $min 25

guests=(bal vmem dimm)
# workloads ramp at $rate MiB/s, as a real one does, from second $step_t
e2e_guest bal 640 --cue --plan "0:32,$step_t:320,$drop_t:32" --rate $rate
e2e_guest vmem 256 --virtio-mem 1024 --cue --plan "0:32,$step_t:480,$drop_t:32" --rate $rate
e2e_guest dimm 384 --dimm-slots 2 --max-mib 1408 --cue --plan "0:32,$step_t:500,$drop_t:32" \
    --rate $rate
e2e_start_daemon
e2e_wait_booted "${guests[@]}"

at_least_t() { [ "$(e2e_report "$1" t)" -ge "$2" ] 2>/dev/null; }
oom_watch() { e2e_no_oom "${guests[@]}" || { fail "a guest ran out of memory"; return 1; }; }

# -- idle first: all three trimmed and settled, then the cue
idle_trimmed() {
    [ "$(e2e_assigned_mib bal)" -lt 640 ] && [ "$(e2e_assigned_mib dimm)" -lt 384 ] &&
        [ "$(e2e_virtio_mem_mib vmem)" = 0 ] && e2e_settled "${guests[@]}"
}
start_ms=$(now_ms)
if wait_until 300 idle_trimmed; then
    pass "all three trimmed while idle and settled ($(($(now_ms) - start_ms)) ms after boot)"
else
    fail "not trimmed and settled while idle: bal $(e2e_assigned_mib bal) MiB," \
        "vmem plugged $(e2e_virtio_mem_mib vmem) MiB, dimm $(e2e_assigned_mib dimm) MiB"
fi
declare -A before
for g in "${guests[@]}"; do
    before[$g]=$(e2e_assigned_mib "$g")
    echo "# $g before the step: assigned ${before[$g]} MiB"
done
e2e_cue "${guests[@]}" || exit 1

# -- the step: each workload gets all it wants before its drop, nobody is
# OOM-killed
granted() { [ "$(e2e_report "$1" held)" = "$(e2e_report "$1" want)" ] &&
    [ "$(e2e_report "$1" want)" -gt 32 ]; }
# (watched together: a guest's grant is seen when it happens, by its clock)
declare -A lag=() granted_t=()
past_drop=0
cap=$(($(now_ms) + 600000)) # only for a guest that stops reporting
note_ms=0
while [ "${#granted_t[@]}" -lt "${#guests[@]}" ] && [ "$past_drop" = 0 ] &&
    [ "$(now_ms)" -lt "$cap" ]; do
    if [ "$(now_ms)" -ge "$note_ms" ]; then
        note_ms=$(($(now_ms) + 5000))
        for g in "${guests[@]}"; do
            printf '# %s: t=%s held=%s of %s, assigned %s MiB\n' "$g" "$(e2e_report "$g" t)" \
                "$(e2e_report "$g" held)" "$(e2e_report "$g" want)" "$(e2e_assigned_mib "$g")"
        done
    fi
    past_drop=1
    for g in "${guests[@]}"; do
        [ -n "${granted_t[$g]:-}" ] && continue
        t=$(e2e_report "$g" t)
        if granted "$g"; then
            granted_t[$g]=$t
        elif [ "${t:-0}" -lt $((drop_t - 1)) ]; then
            past_drop=0
        fi
    done
    sleep 0.2
done
for g in "${guests[@]}"; do
    if [ -n "${granted_t[$g]:-}" ]; then
        want=$(e2e_report "$g" want)
        # the ramp alone takes (want - 32) / rate seconds
        lag[$g]=$((granted_t[$g] - step_t - (want - 32 + rate - 1) / rate))
        pass "$g: workload holds $want MiB at t=${granted_t[$g]} (lag ${lag[$g]} s beyond its own ramp)"
        echo "METRIC spike_lag_s guest=$g value=${lag[$g]}"
    else
        fail "$g: workload never got what it wants before its drop" \
            "(held $(e2e_report "$g" held) of $(e2e_report "$g" want))"
    fi
done
oom_watch && pass "no OOM kill during the step"
[ "$(e2e_assigned_mib bal)" -gt "${before[bal]}" ] && pass "bal grew by the balloon" ||
    fail "bal did not grow"
peak_vmem=$(e2e_virtio_mem_mib vmem)
[ "$peak_vmem" -gt 0 ] && pass "vmem grew by virtio-mem ($peak_vmem MiB plugged)" ||
    fail "vmem: no virtio-mem plugged"
[ "$(e2e_balloon_mib vmem)" -ge 250 ] && pass "vmem's balloon is fully out first" ||
    fail "vmem's balloon at $(e2e_balloon_mib vmem) MiB while virtio-mem is plugged"
# dynmemd counts vmem as QEMU does: libvirt's balloon figure adds the
# virtio-mem plugged at the balloon's last move, so after plugs with the
# balloon at rest it reads short by them unless the daemon asks QEMU
# (docs/architecture.md, "Reading a DIMM guest's memory"). Compared with
# retries: the two are read a moment apart, and the daemon's is a cycle old.
vmem_figures=""
counted_as_qemu() {
    local d q
    d=$(e2e_dom vmem assigned)
    q=$(e2e_assigned_mib vmem)
    [ -n "$d" ] && [ -n "$q" ] || return 1
    d=$((d / 1048576))
    vmem_figures="dynmemd $d MiB, QEMU $q MiB"
    [ "$d" -le $((q + 4)) ] && [ "$q" -le $((d + 4)) ]
}
wait_until 60 counted_as_qemu && pass "dynmemd counts vmem as QEMU does ($vmem_figures)" ||
    fail "dynmemd's figure for vmem is not QEMU's: $vmem_figures"
[ "$(e2e_dimms dimm)" -ge 1 ] && pass "dimm grew by a DIMM ($(e2e_dimms dimm) attached)" ||
    fail "dimm: no DIMM attached"
declare -A peak
for g in "${guests[@]}"; do peak[$g]=$(e2e_assigned_mib "$g"); done

# -- the drop: memory comes back; virtio-mem goes before the balloon
for g in "${guests[@]}"; do
    wait_until 300 at_least_t "$g" "$drop_t" || fail "$g: workload clock stuck"
done
balloon_held_while_plugged() {
    # while virtio-mem still has memory plugged, the balloon is not inflated
    local v b
    v=$(e2e_virtio_mem_mib vmem)
    b=$(e2e_balloon_mib vmem)
    [ "$v" -eq 0 ] || [ "$b" -ge 250 ] || {
        fail "vmem: balloon inflated to $b MiB with $v MiB of virtio-mem still plugged"
        return 1
    }
}
reclaimed() {
    local g
    for g in "${guests[@]}"; do
        [ "$(e2e_assigned_mib "$g")" -lt $((peak[$g] - 128)) ] || return 1
    done
    [ "$(e2e_virtio_mem_mib vmem)" -lt "$peak_vmem" ]
}
# two minutes of the guests' own time after the drop
until reclaimed || at_least_t bal $((drop_t + 120)); do
    balloon_held_while_plugged || break
    oom_watch || break
    sleep 1
done
reclaimed && pass "memory reclaimed after the drop (bal at t=$(e2e_report bal t))" ||
    fail "not reclaimed within 120 s of the drop"
for g in "${guests[@]}"; do
    echo "# $g: peak ${peak[$g]} MiB, now $(e2e_assigned_mib "$g") MiB"
done
echo "# vmem: virtio-mem $peak_vmem -> $(e2e_virtio_mem_mib vmem) MiB"
[ "$(e2e_dimms dimm)" -ge 1 ] && pass "the DIMM stays attached (never detached)" ||
    fail "a DIMM vanished"
oom_watch && pass "no OOM kill in any guest, ever"
# changes made, from the daemon's log
changes=$(grep -c ': memory .* MiB by ' "$e2e_tmp"/daemon*.log)
echo "METRIC spike_changes=$changes"
[ "$failures" = 0 ]
