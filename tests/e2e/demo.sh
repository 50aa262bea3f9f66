#!/usr/bin/env bash
# The README's run command (./dev run): three small real guests with
# changing workloads, dynmemd balancing them, `dynmemctl top` to watch.
# Ctrl-C (or DEMO_SECONDS elapsing) tears everything down.
set -uo pipefail
E2E_PREFIX=dynmem-demo
# shellcheck source=lib.sh
. "$SRCDIR/tests/e2e/lib.sh"

echo "dynmem demo: building the test guest and starting libvirtd if needed..."
e2e_setup
trap 'exit 0' INT TERM

# only the demo's guests are balanced; "build" is served first when short;
# the product's own burst headroom and buffer-min (the tests turn them off)
e2e_write_policy 192 25
sed -i '/^  burst-headroom: 0$/d; /^  buffer-min: 0$/d' "$e2e_tmp/policy.yaml"
cat >>"$e2e_tmp/policy.yaml" <<YAML
  - name: "$E2E_PREFIX-build"
    weight: 8000
YAML

# Each workload loops: idle, then a burst ramping at 16 MiB/s, then idle.
# Their balloons have deflate-on-oom, as every dynamic guest's should
# (README): a burst faster than the daemon takes the balloon back.
e2e_guest office 768 --autodeflate --plan "0:32,30:300,70:32" --loop 100 --rate 16
e2e_guest build 256 --autodeflate --virtio-mem 1024 --plan "0:32,45:600,90:32" --loop 120 \
    --rate 16
e2e_guest web 384 --autodeflate --dimm-slots 2 --max-mib 1408 --plan "0:64,60:420,100:64" \
    --loop 140 --rate 16
e2e_start_daemon

cat <<TEXT

Three guests are booting under libvirtd (TCG, so give them ~20 s):
  office  768 MiB, balloon only          bursts to 300 MiB every 100 s
  build   256 MiB + 1 GiB virtio-mem      bursts to 600 MiB every 120 s (weight 8000)
  web     384 MiB + 2 free DIMM slots     bursts to 420 MiB every 140 s
dynmemd trims what they do not use (Assigned falls toward Demand + 25 %),
and gives it back the moment a burst starts: the balloon first, then
virtio-mem (build) or a hot-added DIMM (web). Status words: starting, ok,
low (buffer not met), warning (short of demand). The daemon's log of every
change is in $e2e_tmp/daemon0.log. Ctrl-C stops and removes everything.

TEXT
if [ -t 1 ] && [ -z "${DEMO_SECONDS:-}" ]; then
    "$DYNMEMCTL" top
else
    # not a terminal (or a bounded run): a fixed number of screens
    "$DYNMEMCTL" top --iterations "${DEMO_SECONDS:-60}"
    echo "---- changes made by dynmemd:"
    grep ': memory .* by ' "$e2e_tmp"/daemon*.log | sed 's/^dynmemd: notice: /  /'
    e2e_no_oom office build web && echo "no guest was OOM-killed" || echo "a guest was OOM-killed"
fi
