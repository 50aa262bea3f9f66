#!/usr/bin/env bash
# A fast ramp above the boot memory, on a real guest (docs/benchmarks.md,
# "A fast ramp above the boot memory"). A guest with 256 MiB of boot
# memory, an autodeflate balloon and virtio-mem runs a workload that ramps
# at RATE MiB/s (default 64) to 640 MiB: dynmemd grows it every cycle,
# first by the balloon, then by virtio-mem. It says whether the workload
# got its memory, with what lag, and whether anything was OOM-killed.
#
#   ./dev build && sudo SRCDIR=$PWD DYNMEMD=$PWD/build/src/daemon/dynmemd \
#       DYNMEMCTL=$PWD/build/src/ctl/dynmemctl [RATE=64] bench/e2e-ramp.sh
#
# Not in the e2e suite: on TCG a virtio-mem plug that needs a new memory
# block in a guest short of memory can stand for two seconds, which a
# 64 MiB/s ramp does not survive (1 of 3 runs OOM-killed on 2026-12-01).
# The workload starts on a cue once the guest is trimmed below its boot
# memory; times are the guest's own plan clock (t). The daemon records its
# cycles (rec.csv in the temporary directory, kept with KEEP_TMP=1; replay
# with dynmem-sim --from-recording).
set -uo pipefail
E2E_PREFIX=dynmem-bench
# shellcheck source=../tests/e2e/lib.sh
. "$SRCDIR/tests/e2e/lib.sh"
e2e_setup

min=160 rate=${RATE:-64} step_t=5 drop_t=60 want=640
e2e_write_policy $min 20

e2e_guest ramp 256 --virtio-mem 1024 --autodeflate --cue \
    --plan "0:32,$step_t:$want,$drop_t:32" --rate "$rate"
e2e_start_daemon --record="$e2e_tmp/rec.csv"
e2e_wait_booted ramp

trimmed() { [ "$(e2e_assigned_mib ramp)" -lt 256 ] && [ "$(e2e_virtio_mem_mib ramp)" = 0 ] &&
    e2e_settled ramp; }
wait_until 300 trimmed && pass "trimmed below its boot memory while idle" ||
    fail "not trimmed while idle: assigned $(e2e_assigned_mib ramp) MiB"
echo "# before the ramp: assigned $(e2e_assigned_mib ramp) MiB"
e2e_cue ramp || exit 1

granted() { [ "$(e2e_report ramp want)" = "$want" ] && [ "$(e2e_report ramp held)" = "$want" ]; }
if e2e_until_t ramp $((drop_t - 1)) granted; then
    t=$(e2e_report ramp t)
    # the ramp alone takes (want - 32) / rate seconds
    lag=$((t - step_t - (want - 32 + rate - 1) / rate))
    pass "the workload holds $want MiB at t=$t (lag $lag s beyond its own ramp)"
    echo "METRIC ramp_lag_s value=$lag"
else
    fail "the workload never got its $want MiB before its drop" \
        "(held $(e2e_report ramp held) MiB, assigned $(e2e_assigned_mib ramp) MiB)"
fi
e2e_no_oom ramp && pass "no OOM kill during the ramp" || fail "OOM kill during the ramp"
plugged=$(e2e_virtio_mem_mib ramp)
[ "$plugged" -gt 0 ] && pass "grown above its boot memory by virtio-mem ($plugged MiB plugged)" ||
    fail "no virtio-mem plugged"

reclaimed() { [ "$(e2e_virtio_mem_mib ramp)" = 0 ] && [ "$(e2e_assigned_mib ramp)" -lt 256 ]; }
e2e_until_t ramp $((drop_t + 120)) reclaimed &&
    pass "memory came back after the drop (virtio-mem unplugged, assigned $(e2e_assigned_mib ramp) MiB)" ||
    fail "not reclaimed after the drop: virtio-mem $(e2e_virtio_mem_mib ramp) MiB, assigned $(e2e_assigned_mib ramp) MiB"
e2e_no_oom ramp && pass "no OOM kill at all" || fail "OOM kill"
echo "METRIC ramp_changes=$(grep -c ': memory .* MiB by ' "$e2e_tmp"/daemon*.log)"
[ "$failures" = 0 ]
