#!/usr/bin/env bash
# suite.sh setup|teardown: the e2e suite's own set-up and tear-down, which
# meson runs before the first e2e test and after the last (priorities in
# meson.build).
#
#   setup     builds the test guest; starts virtlogd and libvirtd unless
#             they run (recorded as the suite's: the tests use them and
#             leave them running); removes leftover dynmem-e2e-* domains of
#             a run that was killed
#   teardown  removes leftover dynmem-e2e-* domains and stops the libvirtd
#             and virtlogd an e2e run started (by their recorded PIDs; one
#             started by anybody else, or by a test or demo still running,
#             is left alone)
set -uo pipefail
# shellcheck source=lib.sh
. "$SRCDIR/tests/e2e/lib.sh"

case ${1:-} in
setup)
    e2e_require
    log=$(mktemp)
    if ! "$SRCDIR/tests/e2e/build-guest.sh" "$E2E_GUEST_DIR" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "building the test guest failed" >&2
        exit 1
    fi
    rm -f "$log"
    start_ms=$(now_ms)
    e2e_start_libvirt suite
    echo "# libvirtd answering after $(($(now_ms) - start_ms)) ms"
    e2e_forget_leftovers
    # what creating a guest costs here (docs/e2e-guest.md): libvirtd
    # re-probes QEMU on every call when it cannot use /dev/kvm
    start_ms=$(now_ms)
    virsh -q -c "$E2E_URI" domcapabilities --virttype qemu >/dev/null 2>&1
    echo "METRIC domcapabilities_ms=$(($(now_ms) - start_ms))"
    ;;
teardown)
    if virsh -c "$E2E_URI" version >/dev/null 2>&1; then
        e2e_forget_leftovers
    fi
    for d in libvirtd virtlogd; do
        if rec=$(e2e_recorded "$d"); then
            read -r pid owner shell <<<"$rec"
            if [ "$owner" = test ] && [ "$shell" = live ]; then
                echo "# leaving $d $pid to the test or demo that started it"
                continue
            fi
            echo "# stopping $d $pid, started by the e2e $owner"
            e2e_stop_pid "$pid"
            rm -f "$E2E_RUN_DIR/$d"
        fi
    done
    ;;
*)
    sed -n '2,13s/^# \{0,1\}//p' "$0" >&2
    exit 2
    ;;
esac
