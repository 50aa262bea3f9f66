#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# smoke.sh: boot one test guest under the running libvirtd and prove the memory paths
# dynmem relies on: balloon stats, balloon down/up, virtio-mem up/down, DIMM hot-add.
#
# Needs a running virtlogd + libvirtd (qemu:///system). Exits 77 (skip) when they or
# QEMU are absent, except under CI=true where a skip is a failure (DESIGN.md §6).
# Every domain it defines is named dynmem-e2e-smoke-PID and is destroyed on exit.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
uri=${DYNMEM_E2E_URI:-qemu:///system}
name=dynmem-e2e-smoke-$$
serial=/var/log/libvirt/qemu/$name.serial
tmp=$(mktemp -d)
failures=0

skip() {
    echo "SKIP: $*" >&2
    [[ ${CI:-} == true ]] && exit 1
    exit 77
}
virsh_() { virsh -q -c "$uri" "$@"; }
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; failures=$((failures + 1)); }

cleanup() {
    local rc=$?
    if virsh_ domstate "$name" >/dev/null 2>&1; then
        virsh_ destroy "$name" >/dev/null 2>&1 || true
        virsh_ undefine "$name" >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
    # Keep the guest's console only when something failed.
    ((rc != 0)) || rm -f "$serial" "/var/log/libvirt/qemu/$name.log"
}
trap cleanup EXIT

# wait_for SECONDS CMD [ARG...]: runs CMD every 0.2 s until it succeeds or time is up.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}
stat_kib() { virsh_ dommemstat "$name" | awk -v k="$1" '$1 == k { print $2 }'; }
vmem_current_kib() { virsh_ dumpxml "$name" | sed -n "s/.*<current unit='KiB'>\([0-9]*\)<.*/\1/p"; }
bulk_current_kib() { virsh_ domstats --balloon "$name" | sed -n 's/.*balloon.current=//p'; }
stat_is() { [[ $(stat_kib "$1") == "$2" ]]; }
stats_filled() { [[ -n $(stat_kib usable) && $(stat_kib last_update) != 0 ]]; }
vmem_is() { [[ $(vmem_current_kib) == "$1" ]]; }
booted() { grep -q 'DYNMEM t=' "$serial" 2>/dev/null; }
guest_memtotal_mib() { grep 'DYNMEM t=' "$serial" | tail -n1 | sed -n 's/.*memtotal=\([0-9]*\).*/\1/p'; }

command -v virsh >/dev/null || skip "virsh not installed"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed"
virsh -c "$uri" version >/dev/null 2>&1 || skip "no libvirtd at $uri (start: virtlogd -d; libvirtd -d)"

"$here/build-guest.sh"
"$here/domain-xml.sh" "$name" 512 --virtio-mem 512 --dimm-slots 2 --plan 0:64 \
    --serial "$serial" >"$tmp/domain.xml"
rm -f "$serial"
virsh_ define "$tmp/domain.xml" >/dev/null
start=$SECONDS
virsh_ start "$name" >/dev/null
if wait_for 90 booted; then
    ok "boot: first DYNMEM line after $((SECONDS - start)) s"
else
    not_ok "boot: no DYNMEM line within 90 s"
    exit 1
fi

# Balloon stats (period 1): the guest fills them in within a second or two.
if wait_for 15 stats_filled; then
    ok "dommemstat: actual=$(stat_kib actual) available=$(stat_kib available) usable=$(stat_kib usable)"
else
    not_ok "dommemstat: no usable/last_update"
fi

# Balloon down and up.
total_before=$(guest_memtotal_mib)
virsh_ setmem "$name" 384M --live
if wait_for 20 stat_is actual 393216; then
    sleep 2
    ok "balloon down: actual=393216, guest MemTotal $total_before -> $(guest_memtotal_mib) MiB"
else
    not_ok "balloon down: actual=$(stat_kib actual), wanted 393216"
fi
virsh_ setmem "$name" 512M --live
if wait_for 20 stat_is actual 524288; then
    ok "balloon up: actual=524288"
else
    not_ok "balloon up: actual=$(stat_kib actual)"
fi
if virsh_ setmem "$name" 1024M --live 2>/dev/null; then
    not_ok "balloon above boot memory was accepted"
else
    ok "balloon above boot memory + DIMMs is refused"
fi

# virtio-mem up and down; bulk balloon.current counts its <current>.
virsh_ update-memory-device "$name" --live --requested-size 256M
if wait_for 20 vmem_is 262144; then
    ok "virtio-mem up: current=262144, balloon.current=$(bulk_current_kib) (expect 786432), actual=$(stat_kib actual)"
else
    not_ok "virtio-mem up: current=$(vmem_current_kib)"
fi
[[ $(bulk_current_kib) == 786432 ]] || not_ok "bulk balloon.current=$(bulk_current_kib), wanted 786432"
virsh_ update-memory-device "$name" --live --requested-size 0
if wait_for 20 vmem_is 0; then
    ok "virtio-mem down: current=0"
else
    not_ok "virtio-mem down: current=$(vmem_current_kib)"
fi

# DIMM hot-add: the balloon figure rises by the DIMM size; the guest onlines it.
cat >"$tmp/dimm.xml" <<'EOF'
<memory model='dimm'>
  <target>
    <size unit='MiB'>256</size>
    <node>0</node>
  </target>
</memory>
EOF
sleep 2 # let the guest's next report show the memory without virtio-mem
total_before=$(guest_memtotal_mib)
virsh_ attach-device "$name" "$tmp/dimm.xml" --live >/dev/null
if wait_for 20 stat_is actual 786432; then
    sleep 2
    ok "DIMM 256 MiB: actual=786432, guest MemTotal $total_before -> $(guest_memtotal_mib) MiB"
else
    not_ok "DIMM: actual=$(stat_kib actual), wanted 786432"
fi

if grep -q 'event=worker-died' "$serial"; then
    not_ok "the workload died: $(grep -m1 'event=worker-died' "$serial")"
fi
((failures == 0)) || { echo "$failures failure(s)"; exit 1; }
echo "all ok"
