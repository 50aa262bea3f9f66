#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# domain-xml.sh NAME MEM_MIB [options]: print the libvirt XML of an e2e test guest.
#
#   --virtio-mem SIZE_MIB     add a virtio-mem device of that size (2 MiB blocks)
#   --requested MIB           its initial requested size (default 0)
#   --dimm-slots N            room for N DIMMs (libvirt counts virtio-mem as a slot too)
#   --max-mib M               <maxMemory> in MiB (default: MEM + virtio-mem + 1 GiB)
#   --no-balloon              no balloon device at all (<memballoon model='none'/>)
#   --no-balloon-driver       keep the device, but the guest does not load its driver
#   --plan PLAN               workload plan, e.g. 0:64,20:300,60:64
#   --loop SECONDS            repeat the plan every SECONDS
#   --rate MIB                the workload grows by at most MIB a second
#   --cue                     the plan's clock starts at a cue sent on a second serial
#                             port (a host pty; lib.sh's e2e_cue), not at boot
#   --autodeflate             the balloon has deflate-on-oom (autodeflate='on')
#   --vcpus N                 vCPUs (default 1)
#   --guest-dir DIR           where vmlinuz and initrd.gz are (default tests/e2e/cache)
#   --serial FILE             serial console log (default /var/log/libvirt/qemu/NAME.serial)
#   --cmdline-extra TEXT      appended to the kernel command line
#
# The guest is TCG (<domain type='qemu'>): nested KVM does not boot here. Memory devices
# (DIMM, virtio-mem) need <maxMemory>, a NUMA cell and ACPI; all three are always present.
set -euo pipefail

usage() {
    sed -n '4,21s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    exit 2
}

(($# >= 2)) || usage
name=$1
mem=$2
shift 2
[[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "domain-xml: bad name '$name'" >&2; exit 2; }
[[ $mem =~ ^[0-9]+$ ]] || { echo "domain-xml: bad MEM_MIB '$mem'" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vmem=0
requested=0
dimms=0
max=
balloon=1
balloon_driver=1
plan=
loop=
rate=
cue=0
autodeflate=0
vcpus=1
guest_dir=$here/cache
serial=
extra=

need_number() { [[ $2 =~ ^[0-9]+$ ]] || { echo "domain-xml: $1 needs a number" >&2; exit 2; }; }

while (($# > 0)); do
    case $1 in
    --virtio-mem) need_number "$1" "${2:-}"; vmem=$2; shift 2 ;;
    --requested) need_number "$1" "${2:-}"; requested=$2; shift 2 ;;
    --dimm-slots) need_number "$1" "${2:-}"; dimms=$2; shift 2 ;;
    --max-mib) need_number "$1" "${2:-}"; max=$2; shift 2 ;;
    --no-balloon) balloon=0; shift ;;
    --no-balloon-driver) balloon_driver=0; shift ;;
    --plan) [[ ${2:-} =~ ^[0-9:,]+$ ]] || { echo "domain-xml: bad plan" >&2; exit 2; }
        plan=$2; shift 2 ;;
    --loop) need_number "$1" "${2:-}"; loop=$2; shift 2 ;;
    --rate) need_number "$1" "${2:-}"; rate=$2; shift 2 ;;
    --cue) cue=1; shift ;;
    --autodeflate) autodeflate=1; shift ;;
    --vcpus) need_number "$1" "${2:-}"; vcpus=$2; shift 2 ;;
    --guest-dir) guest_dir=$(cd "${2:?}" && pwd); shift 2 ;;
    --serial) serial=${2:?}; shift 2 ;;
    --cmdline-extra) extra=${2?}; shift 2 ;;
    *) usage ;;
    esac
done

# libvirt counts every memory device, virtio-mem included, against <maxMemory slots>:
# "memory device count '2' exceeds slots count '1'".
slots=$((dimms + (vmem > 0 ? 1 : 0)))
((slots > 0)) || slots=1
: "${max:=$((mem + vmem + 1024))}"
: "${serial:=/var/log/libvirt/qemu/$name.serial}"
((max >= mem + vmem)) || { echo "domain-xml: --max-mib below MEM + virtio-mem" >&2; exit 2; }

cmdline="console=ttyS0 memhp_default_state=online_movable swiotlb=noforce loglevel=4 panic=-1"
[[ -n $plan ]] && cmdline+=" dynmem.plan=$plan"
[[ -n $loop ]] && cmdline+=" dynmem.loop=$loop"
[[ -n $rate ]] && cmdline+=" dynmem.rate=$rate"
((balloon_driver)) || cmdline+=" dynmem.noballoon=1"
((cue)) && cmdline+=" dynmem.cue=/dev/ttyS1"
[[ -n $extra ]] && cmdline+=" $extra"

xml_escape() {
    local s=$1
    s=${s//&/&amp;}
    s=${s//</&lt;}
    s=${s//>/&gt;}
    s=${s//\'/&apos;}
    printf '%s' "$s"
}

cat <<EOF
<domain type='qemu'>
  <name>$name</name>
  <maxMemory slots='$slots' unit='MiB'>$max</maxMemory>
  <memory unit='MiB'>$((mem + vmem))</memory>
  <currentMemory unit='MiB'>$((mem + requested))</currentMemory>
  <vcpu>$vcpus</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$(xml_escape "$guest_dir/vmlinuz")</kernel>
    <initrd>$(xml_escape "$guest_dir/initrd.gz")</initrd>
    <cmdline>$(xml_escape "$cmdline")</cmdline>
  </os>
  <features>
    <acpi/>
  </features>
  <cpu>
    <numa>
      <cell id='0' cpus='0-$((vcpus - 1))' memory='$mem' unit='MiB'/>
    </numa>
  </cpu>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <controller type='usb' model='none'/>
    <serial type='file'>
      <source path='$(xml_escape "$serial")'/>
      <target port='0'/>
    </serial>
EOF
if ((cue)); then
    cat <<EOF
    <serial type='pty'>
      <target port='1'/>
    </serial>
EOF
fi
if ((balloon)); then
    deflate=
    ((autodeflate)) && deflate=" autodeflate='on'"
    cat <<EOF
    <memballoon model='virtio'$deflate>
      <stats period='1'/>
    </memballoon>
EOF
else
    echo "    <memballoon model='none'/>"
fi
if ((vmem > 0)); then
    cat <<EOF
    <memory model='virtio-mem'>
      <target>
    <size unit='MiB'>$vmem</size>
    <node>0</node>
    <block unit='MiB'>2</block>
    <requested unit='MiB'>$requested</requested>
      </target>
    </memory>
EOF
fi
cat <<EOF
  </devices>
</domain>
EOF
