#!/usr/bin/env bash
# Figures from real guests (docs/benchmarks.md): the demo's three guests and
# workloads (tests/e2e/demo.sh) balanced for DURATION seconds, then:
# step-to-granted lag, memory against static allocation, OOM kills and
# failed allocations, changes per guest-hour, daemon CPU and RSS.
#
#   ./dev build && sudo SRCDIR=$PWD DYNMEMD=$PWD/build/src/daemon/dynmemd \
#       DYNMEMCTL=$PWD/build/src/ctl/dynmemctl [RATE=24] [MINIMUM=160] \
#       bench/e2e-measure.sh [DURATION]
#
# RATE is how fast the workloads ramp (MiB/s; 0: instant steps, as fast as
# the guest can touch pages), MINIMUM the guests' minimum (MiB): the
# harsher the ramp against the headroom, the likelier an OOM. PROTECT says
# what protects a guest from a step faster than the daemon (issue 8):
#   none      no deflate-on-oom, no burst headroom, no buffer-min
#   headroom  the product's defaults: burst-headroom learn 128MiB,
#             buffer-min 64MiB; no deflate-on-oom (the default here)
#   deflate   those, and balloons with deflate-on-oom
#   sized     deflate, and each guest's burst-headroom set to the step its
#             workload takes (what an operator who knows the workload sets:
#             build 600MiB, web 384MiB; office's step fits in its boot
#             memory, which deflate-on-oom gives back)
# RECORD=FILE has dynmemd record every cycle there (dynmemd --record), for
# dynmem-sim --from-recording or a look at why each change was made.
set -uo pipefail
duration=${1:-300}
E2E_PREFIX=dynmem-bench
# shellcheck source=../tests/e2e/lib.sh
. "$SRCDIR/tests/e2e/lib.sh"
e2e_setup
rate=${RATE:-24}
protect=${PROTECT:-headroom}
e2e_write_policy "${MINIMUM:-160}" 25
deflate=()
case $protect in
none) ;;
headroom) sed -i '/^  burst-headroom: 0$/d; /^  buffer-min: 0$/d' "$e2e_tmp/policy.yaml" ;;
deflate | sized)
    sed -i '/^  burst-headroom: 0$/d; /^  buffer-min: 0$/d' "$e2e_tmp/policy.yaml"
    deflate=(--autodeflate)
    ;;&
sized)
    # name rules before the catch-all (the first match wins, whole)
    for rule in build:600MiB web:384MiB; do
        printf '  - name: %s\n    mode: dynamic\n    minimum: %sMiB\n    buffer: 25%%\n    burst-headroom: %s\n' \
            "$E2E_PREFIX-${rule%%:*}" "${MINIMUM:-160}" "${rule#*:}"
    done >"$e2e_tmp/rules.yaml"
    sed -i "/^domains:$/r $e2e_tmp/rules.yaml" "$e2e_tmp/policy.yaml"
    ;;
deflate) ;;
*) echo "PROTECT must be none, headroom, deflate or sized" >&2; exit 2 ;;
esac
guests=(office build web)
# what each is defined with: the most it could ever have statically
declare -A defined=([office]=768 [build]=1280 [web]=384)
e2e_guest office 768 "${deflate[@]}" --plan "0:32,30:300,70:32" --loop 100 --rate $rate
e2e_guest build 256 "${deflate[@]}" --virtio-mem 1024 --plan "0:32,45:600,90:32" --loop 120 \
    --rate $rate
e2e_guest web 384 "${deflate[@]}" --dimm-slots 2 --max-mib 1408 --plan "0:64,60:420,100:64" \
    --loop 140 --rate $rate
record=()
[ -n "${RECORD:-}" ] && record=(--record "$RECORD")
e2e_start_daemon "${record[@]}"
e2e_wait_booted "${guests[@]}"

declare -A peak sum
samples=0
start=$(now_ms)
while [ $(($(now_ms) - start)) -lt $((duration * 1000)) ]; do
    for g in "${guests[@]}"; do
        a=$(e2e_assigned_mib "$g")
        sum[$g]=$((${sum[$g]:-0} + a))
        [ "$a" -gt "${peak[$g]:-0}" ] && peak[$g]=$a
    done
    samples=$((samples + 1))
    sleep 1
done
elapsed_s=$((($(now_ms) - start) / 1000))

# daemon CPU and memory
read -r utime stime < <(awk '{ print $14, $15 }' "/proc/$e2e_daemon_pid/stat")
hz=$(getconf CLK_TCK)
life_s=$(($(awk '{ print int($1) }' /proc/uptime) - $(awk -v hz="$hz" '{ print int($22 / hz) }' "/proc/$e2e_daemon_pid/stat")))
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$e2e_daemon_pid/status")
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$e2e_daemon_pid/status")
echo "daemon: CPU $(awk -v t=$((utime + stime)) -v hz="$hz" -v s="$life_s" \
    'BEGIN { printf "%.2f", 100 * t / hz / s }')% of a core over ${life_s} s, RSS $rss KiB (peak $hwm KiB)"

tot_avg=0 tot_def=0 tot_peak=0
for g in "${guests[@]}"; do
    avg=$((sum[$g] / samples))
    tot_avg=$((tot_avg + avg))
    tot_def=$((tot_def + defined[$g]))
    tot_peak=$((tot_peak + peak[$g]))
    serial=/var/log/libvirt/qemu/$E2E_PREFIX-$g.serial
    changes=$(grep -c "$E2E_PREFIX-$g: memory .* by " "$e2e_tmp"/daemon*.log)
    oom=$(e2e_report "$g" oom_kills)
    failed=$(e2e_report "$g" failed)
    # guest-seconds with under 16 MiB available: pressure
    pressure=$(grep -a '^DYNMEM t=' "$serial" | sed -n 's/.* memavail=\([0-9]*\).*/\1/p' |
        awk '$1 < 16' | wc -l)
    # lag: for each step up of `want`, seconds until held == want, beyond
    # the workload's own ramp at $rate MiB/s
    lags=$(grep -a '^DYNMEM t=' "$serial" | sed -n 's/^DYNMEM t=\([0-9]*\) want=\([0-9]*\) held=\([0-9]*\).*/\1 \2 \3/p' |
        awk -v rate=$rate '
            { if ($2 > want && want != "") { t0 = $1; from = $3; target = $2; open = 1 }
              want = $2
              if (open && $3 >= target) {
                  ramp = rate > 0 ? int((target - from + rate - 1) / rate) : 0
                  lag = $1 - t0 - ramp; if (lag < 0) lag = 0
                  printf "%s%d", sep, lag; sep = ","; open = 0 } }')
    echo "$g: avg ${avg} MiB, peak ${peak[$g]} MiB, defined ${defined[$g]} MiB; changes $changes" \
        "($((changes * 3600 / elapsed_s)) per guest-hour); OOM kills ${oom:-?}, failed allocations" \
        "${failed:-?}, pressure-seconds $pressure; lag beyond ramp per burst [s]: ${lags:-none}"
done
echo "workloads ramping at $rate MiB/s (0: instant steps), minimum ${MINIMUM:-160} MiB," \
    "buffer 25 %, protection: $protect"
echo "total: avg ${tot_avg} MiB assigned vs ${tot_def} MiB defined (saved $((100 - 100 * tot_avg / tot_def))%)" \
    "and vs ${tot_peak} MiB if each kept its own peak (saved $((100 - 100 * tot_avg / tot_peak))%), over ${elapsed_s} s"
