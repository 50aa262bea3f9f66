#!/usr/bin/env bash
# Suite `package` (issue 13): the Debian package is built from this tree
# with dpkg-buildpackage, passes lintian with no error or warning, installs
# with dpkg -i on this machine (files in place, the policy a conffile, the
# unit enabled, the state directory root-only, the installed daemon accepts
# the installed policy, the libvirt hook in qemu.d/ and working), and purges
# without a trace.
#
# The hook is in /etc/libvirt/hooks/qemu.d/ while the test runs. A libvirtd
# that was started with qemu hooks present would run it for a domain start
# in that window; with no dynmemd on the system bus it lets the start go on
# (host.admission-unreachable: allow, the installed policy's default).
#
# It installs into the real system, so it refuses to touch a dynmem package
# it did not install itself (a marker in /run says which one is ours).
set -uo pipefail
# shellcheck source=../lib/common.sh
. "$SRCDIR/tests/lib/common.sh"

[ "$(id -u)" -eq 0 ] || skip_or_fail "installing a package needs root"
for t in dpkg-buildpackage dh lintian; do
    command -v "$t" >/dev/null || skip_or_fail "$t is not installed (./dev installs it)"
done

marker=/run/dynmem-package-test
# installed, or removed with its conffiles kept: either way dpkg knows it
installed() {
    local status
    status=$(dpkg-query -W -f='${db:Status-Status}' dynmem 2>/dev/null)
    [ -n "$status" ] && [ "$status" != not-installed ]
}
if installed; then
    if [ -e "$marker" ]; then
        echo "# purging the dynmem package a killed run of this test left installed"
        dpkg --purge dynmem >/dev/null || true
        grep -qx /usr/sbin/policy-rc.d "$marker" && rm -f /usr/sbin/policy-rc.d
        rm -f "$marker"
    else
        skip_or_fail "a dynmem package is installed on this machine and not by this test: not ours to replace"
    fi
fi
# a dynmem installed without the package (meson install) has its policy and
# state there: the purge would take them
for f in /etc/dynmem /var/lib/dynmem /usr/sbin/dynmemd /usr/libexec/dynmem-hook \
    /etc/libvirt/hooks/qemu.d/dynmem; do
    [ -e "$f" ] && skip_or_fail "$f exists and is not this test's: not ours to replace"
done

tmp=$(mktemp -d /tmp/dynmem-package.XXXXXX)
cleanup() {
    trap '' INT TERM
    if [ -e "$marker" ] && installed; then
        dpkg --purge dynmem >/dev/null 2>&1 || true
    fi
    # the policy-rc.d this test put in place (its path is in the marker)
    [ -e "$marker" ] && grep -qx /usr/sbin/policy-rc.d "$marker" && rm -f /usr/sbin/policy-rc.d
    rm -f "$marker"
    [ -n "${KEEP_TMP:-}" ] && echo "---- kept: $tmp" >&2 || rm -rf "$tmp"
    print_failures
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# -- build, from a copy of the tree (the files git knows, or all of it)
mkdir -p "$tmp/src"
if git -C "$SRCDIR" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$SRCDIR" ls-files -z --cached --others --exclude-standard |
        (cd "$SRCDIR" && tar --null -T - -cf -) | tar -C "$tmp/src" -xf -
else
    tar -C "$SRCDIR" --exclude='./build*' -cf - . | tar -C "$tmp/src" -xf -
fi
if (cd "$tmp/src" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1; then
    pass "dpkg-buildpackage -us -uc -b built the package"
else
    tail -n 40 "$tmp/build.log"
    fail "dpkg-buildpackage failed (the log's tail is above)"
    exit 1
fi
debs=("$tmp"/dynmem_*.deb)
[ -f "${debs[0]}" ] && pass "it made ${debs[0]##*/}" || {
    fail "no dynmem_*.deb"
    exit 1
}
deb=${debs[0]}

# -- lintian: no error, no warning (its notice about root is not a finding)
lintian --fail-on error,warning "$deb" "$tmp"/dynmem_*.changes >"$tmp/lintian.log" 2>&1
rc=$?
grep -v 'running with root privileges is not recommended' "$tmp/lintian.log" | sed 's/^/# lintian: /'
expect "lintian finds no error or warning" 0 "$rc"

# -- install, without starting the daemon: on a host running systemd the
# package's postinst would start dynmemd, which would balance the host's
# real VMs until the purge. policy-rc.d (which deb-systemd-invoke obeys)
# says no for as long as the test runs; one already there is left alone.
touch "$marker"
policy_rc=/usr/sbin/policy-rc.d
if [ ! -e "$policy_rc" ]; then
    printf '#!/bin/sh\n# dynmem package test: no service starts while it runs\nexit 101\n' >"$policy_rc"
    chmod 755 "$policy_rc"
    echo "$policy_rc" >>"$marker"
fi
if dpkg -i "$deb" >"$tmp/install.log" 2>&1; then
    pass "dpkg -i installed it"
else
    cat "$tmp/install.log"
    fail "dpkg -i failed"
    exit 1
fi
files=$(dpkg -L dynmem)
for f in /usr/sbin/dynmemd /usr/bin/dynmemctl /lib/systemd/system/dynmemd.service \
    /etc/dynmem/policy.yaml /usr/share/dbus-1/system.d/org.dynmem1.conf \
    /usr/share/dbus-1/interfaces/org.dynmem1.xml \
    /usr/share/bash-completion/completions/dynmemctl \
    /usr/share/man/man8/dynmemd.8.gz /usr/share/man/man1/dynmemctl.1.gz \
    /usr/share/man/man5/dynmem-policy.yaml.5.gz /usr/libexec/dynmem-hook \
    /etc/libvirt/hooks/qemu.d/dynmem /usr/share/man/man8/dynmem-hook.8.gz; do
    if [ -e "$f" ] && grep -qx "$f" <<<"$files"; then pass "installed: $f"; else fail "missing: $f"; fi
done
expect "/etc/dynmem/policy.yaml is a conffile" /etc/dynmem/policy.yaml \
    "$(dpkg-query -W -f='${Conffiles}\n' dynmem | awk 'NF { print $1 }')"
wants=/etc/systemd/system/multi-user.target.wants/dynmemd.service
[ -L "$wants" ] && pass "the unit is enabled ($wants)" || fail "the unit is not enabled on install"
expect "/var/lib/dynmem is root's alone, as the unit's StateDirectoryMode" "700 root root" \
    "$(stat -c '%a %U %G' /var/lib/dynmem 2>&1)"
if /usr/sbin/dynmemd --check-config /etc/dynmem/policy.yaml >"$tmp/check.log" 2>&1; then
    pass "the installed dynmemd accepts the installed policy"
else
    cat "$tmp/check.log"
    fail "dynmemd --check-config /etc/dynmem/policy.yaml failed"
fi
expect "the installed dynmemctl is this version" \
    "$(sed -n "s/^ *version : '\(.*\)',$/\1/p" "$SRCDIR/meson.build")" \
    "$(/usr/bin/dynmemctl --version | awk '{ print $NF }')"
# the libvirt hook: qemu.d/dynmem runs the installed program, which reads
# the installed policy and, with no dynmemd to ask, lets the start go on
expect "qemu.d/dynmem points to the installed hook" /usr/libexec/dynmem-hook \
    "$(readlink /etc/libvirt/hooks/qemu.d/dynmem)"
hook_err=$(echo "<domain><name>pkg-test</name></domain>" |
    DBUS_SYSTEM_BUS_ADDRESS=unix:path=$tmp/no-bus /etc/libvirt/hooks/qemu.d/dynmem \
        pkg-test prepare begin - 2>&1)
expect "the installed hook, no dynmemd: the start goes on, and it says why" \
    "0 dynmem: dynmemd did not answer (cannot connect to the system bus: No such file or directory); pkg-test starts without admission" \
    "$? $hook_err"
# the completion offers the commands (bash-completion's helpers are not
# needed to load it)
completion=$(bash -c '. /usr/share/bash-completion/completions/dynmemctl 2>/dev/null
    complete -p dynmemctl')
expect "the bash completion registers itself" "complete -F _dynmemctl dynmemctl" "$completion"

# -- purge: nothing of it is left
if dpkg --purge dynmem >"$tmp/purge.log" 2>&1; then
    pass "dpkg --purge removed it"
else
    cat "$tmp/purge.log"
    fail "dpkg --purge failed"
fi
grep -qx /usr/sbin/policy-rc.d "$marker" && rm -f /usr/sbin/policy-rc.d
rm -f "$marker"
left=()
while read -r f; do
    # directories other packages share stay; files and our own dirs go
    [ -e "$f" ] && ! [ -d "$f" ] && left+=("$f")
done <<<"$files"
for f in /etc/dynmem /var/lib/dynmem /usr/share/dynmem /usr/share/doc/dynmem "$wants" \
    /etc/libvirt/hooks/qemu.d/dynmem /usr/libexec/dynmem-hook \
    /var/lib/systemd/deb-systemd-helper-enabled/dynmemd.service.dsh-also \
    /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/dynmemd.service; do
    [ -e "$f" ] || [ -L "$f" ] && left+=("$f")
done
expect "nothing is left after the purge" "" "${left[*]}"
installed && fail "dpkg still lists dynmem" || pass "dpkg no longer lists dynmem"

[ "$failures" = 0 ]
