#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# build-guest.sh [OUTDIR]: build the tiny e2e test guest from Debian packages only.
#
# Output in OUTDIR (default: tests/e2e/cache/, git-ignored):
#   vmlinuz     Debian's signed 6.1 kernel (the one linux-image-amd64 currently depends on)
#   initrd.gz   busybox + virtio modules of that kernel + /init + the static workload
#   stamp       hash of the inputs; the guest is rebuilt only when it changes
#
# Inputs hashed: this script, workload.c, the kernel package name and version, the
# busybox-static version. Installs busybox-static, cpio, gcc, libc6-dev when missing.
# Set DYNMEM_GUEST_KERNEL_PKG=linux-image-6.1.0-NN-amd64 to pin another kernel package.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
outdir=${1:-$here/cache}
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)

# The guest loads these in this order: no modprobe/depmod in the guest, and the
# dependencies must be loaded first.
modules=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
    virtio_balloon virtio_mem)

log() { printf 'build-guest: %s\n' "$*" >&2; }

pkg_installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]
}

ensure_packages() {
    local missing=() p
    for p in "$@"; do
        pkg_installed "$p" || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    log "installing ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
        apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
    fi
}

# A fresh machine may have no package lists yet.
ensure_apt_lists() {
    apt-cache show linux-image-amd64 >/dev/null 2>&1 || apt-get update >&2
}

# Prints the kernel package name: linux-image-amd64 depends on exactly one.
kernel_package() {
    if [[ -n ${DYNMEM_GUEST_KERNEL_PKG:-} ]]; then
        echo "$DYNMEM_GUEST_KERNEL_PKG"
        return
    fi
    local name
    name=$(apt-cache depends linux-image-amd64 |
        sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
    [[ -n $name ]] || { log "cannot find the kernel package behind linux-image-amd64"; exit 1; }
    echo "$name"
}

package_version() {
    apt-cache show --no-all-versions "$1" | sed -n 's/^Version: //p' | head -n1
}

# Two test runs may build at once: one builds, the other waits and finds it up to date.
exec 9>"$outdir/.lock"
flock 9

ensure_apt_lists
ensure_packages busybox-static cpio gcc libc6-dev gzip xz-utils zstd

kpkg=$(kernel_package)
kver=$(package_version "$kpkg")
[[ -n $kver ]] || { log "no version for $kpkg"; exit 1; }
bbver=$(dpkg-query -W -f='${Version}' busybox-static)

stamp=$({
    sha256sum "$here/build-guest.sh" "$here/workload.c" | cut -d' ' -f1
    echo "$kpkg=$kver busybox-static=$bbver"
} | sha256sum | cut -d' ' -f1)

if [[ -f $outdir/stamp && $(cat "$outdir/stamp") == "$stamp" &&
    -s $outdir/vmlinuz && -s $outdir/initrd.gz ]]; then
    log "up to date: $outdir ($kpkg $kver)"
    exit 0
fi

work=$(mktemp -d)
chmod 0711 "$work" # lets apt's _apt user reach the download dir
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

# The kernel .deb is cached by version; an old one is deleted.
deb_glob="${kpkg}_*_amd64.deb"
deb="$outdir/${kpkg}_${kver//:/%3a}_amd64.deb"
if [[ ! -s $deb ]]; then
    find "$outdir" -maxdepth 1 -name 'linux-image-*.deb' -delete
    log "downloading $kpkg $kver"
    # apt's _apt user cannot write into root-owned dirs; download in a temp dir
    # it can write to and move the file (avoids the "unsandboxed" warning too).
    dl="$work/dl"
    mkdir -p "$dl"
    chmod 0777 "$dl"
    (cd "$dl" && apt-get download "$kpkg=$kver" >&2)
    # shellcheck disable=SC2086 # the glob is wanted here
    mv "$dl"/$deb_glob "$deb"
fi

log "unpacking $(basename "$deb")"
dpkg -x "$deb" "$work/kernel"
kdir=$(find "$work/kernel/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n1)
krel=$(basename "$kdir")
install -m 0644 "$work/kernel/boot/vmlinuz-$krel" "$work/vmlinuz"

root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules}
install -m 0755 /bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [[ $applet == busybox ]] || ln -s busybox "$root/bin/$applet"
done

# Copy each module, decompressed: busybox insmod may not read .ko.xz/.ko.zst.
: >"$root/lib/modules/order"
for m in "${modules[@]}"; do
    src=$(find "$kdir/kernel" \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" \
        -o -name "$m.ko.gz" \) | head -n1)
    if [[ -z $src ]]; then
        log "note: $m not in $krel (built in or absent), skipped"
        continue
    fi
    case $src in
    *.ko.xz) xz -dc "$src" >"$root/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -qdc "$src" >"$root/lib/modules/$m.ko" ;;
    *.ko.gz) gzip -dc "$src" >"$root/lib/modules/$m.ko" ;;
    *) cp "$src" "$root/lib/modules/$m.ko" ;;
    esac
    echo "$m" >>"$root/lib/modules/order"
done

gcc -static -O2 -Wall -Wextra -Werror -o "$root/workload" "$here/workload.c"
strip "$root/workload"

cat >"$root/init" <<'EOF'
#!/bin/sh
# /init of the dynmem e2e guest. Kernel command line options it reads:
#   dynmem.noballoon=1   do not load virtio_balloon (a guest without balloon driver)
#   dynmem.novirtiomem=1 do not load virtio_mem
#   dynmem.plan=..., dynmem.loop=..., dynmem.chunk=...   read by /workload
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
[ -c /dev/console ] && exec </dev/console >/dev/console 2>&1
cmdline=" $(cat /proc/cmdline) "
has() { case "$cmdline" in *" $1 "*) return 0 ;; esac; return 1; }

echo "DYNMEM event=init uptime=$(cut -d' ' -f1 /proc/uptime)"
while read -r m; do
    has dynmem.noballoon=1 && [ "$m" = virtio_balloon ] && continue
    has dynmem.novirtiomem=1 && [ "$m" = virtio_mem ] && continue
    insmod "/lib/modules/$m.ko" || echo "DYNMEM event=insmod-failed module=$m"
done </lib/modules/order
echo "DYNMEM event=modules uptime=$(cut -d' ' -f1 /proc/uptime) loaded=$(cut -d' ' -f1 /proc/modules | tr '\n' ',')"

# memhp_default_state=online_movable normally onlines hot-added memory (DIMMs, and
# virtio-mem, which relies on it). If auto-onlining is off, online new blocks here.
if [ "$(cat /sys/devices/system/memory/auto_online_blocks 2>/dev/null)" = offline ]; then
    echo "DYNMEM event=onliner"
    while :; do
        for s in /sys/devices/system/memory/memory*/state; do
            [ "$(cat "$s")" = offline ] && echo online_movable >"$s" 2>/dev/null
        done
        sleep 1
    done &
fi

/workload
echo "DYNMEM event=workload-exited rc=$?"
# PID 1 must never exit (the kernel would panic).
while :; do sleep 3600; done
EOF
chmod 0755 "$root/init"

(cd "$root" && find . -print0 | LC_ALL=C sort -z |
    cpio --null --create --format=newc --owner=0:0 --reproducible --quiet) |
    gzip -9n >"$work/initrd.gz"

install -m 0644 "$work/vmlinuz" "$outdir/vmlinuz"
install -m 0644 "$work/initrd.gz" "$outdir/initrd.gz"
echo "$kpkg $kver ($krel)" >"$outdir/kernel-version"
echo "$stamp" >"$outdir/stamp"
log "built $outdir/vmlinuz ($krel) and initrd.gz ($(du -k "$outdir/initrd.gz" | cut -f1) KiB)"
