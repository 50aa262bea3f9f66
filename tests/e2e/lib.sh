# The e2e harness (DESIGN.md §6.5), sourced by tests/e2e/e2e-*.sh and the
# demo: real QEMU guests (TCG) under libvirtd, dynmemd on a private D-Bus,
# observed through libvirt, the guests' serial consoles and dynmemctl.
#
# Everything it starts it stops on exit, failure included: the guests
# (transient, named dynmem-e2e-*), dynmemd, the bus, and libvirtd/virtlogd
# when it had to start them (by the PIDs it recorded; a libvirtd that was
# already running is left alone).
# shellcheck shell=bash

: "${SRCDIR:?}" "${DYNMEMD:?}" "${DYNMEMCTL:?}"
# shellcheck source=../lib/common.sh
. "$SRCDIR/tests/lib/common.sh"

E2E_URI=qemu:///system
E2E_PREFIX=${E2E_PREFIX:-dynmem-e2e}
E2E_GUEST_DIR=${DYNMEM_GUEST_DIR:-$SRCDIR/tests/e2e/cache}

e2e_tmp=
e2e_domains=()
e2e_daemon_pid=
e2e_started_libvirtd=
e2e_started_virtlogd=

virsh_() { virsh -q -c "$E2E_URI" "$@"; }

e2e_require() {
    [ "$(id -u)" = 0 ] || skip_or_fail "the e2e tests run QEMU guests under libvirtd: run as root"
    local tool
    for tool in virsh libvirtd virtlogd qemu-system-x86_64 dbus-daemon; do
        command -v "$tool" >/dev/null || skip_or_fail "$tool is not installed (./dev deps)"
    done
}

e2e_cleanup() {
    local rc=$? d
    for d in "${e2e_domains[@]}"; do
        virsh_ destroy "$d" >/dev/null 2>&1
    done
    e2e_stop_daemon
    stop_private_bus
    if [ "$rc" != 0 ] || [ "$failures" -gt 0 ] || [ -n "${KEEP_TMP:-}" ]; then
        echo "---- dynmemd log" >&2
        sed 's/^/  | /' "$e2e_tmp"/daemon*.log >&2 2>/dev/null
        for d in "${e2e_domains[@]}"; do
            echo "---- $d console (last lines)" >&2
            grep -a 'DYNMEM\|Out of memory\|Killed' "/var/log/libvirt/qemu/$d.serial" 2>/dev/null |
                tail -n 15 | sed 's/^/  | /' >&2
        done
    fi
    for d in "${e2e_domains[@]}"; do
        rm -f "/var/log/libvirt/qemu/$d.serial" "/var/log/libvirt/qemu/$d.log"
    done
    e2e_stop_libvirt
    [ -n "$e2e_tmp" ] && rm -rf "$e2e_tmp"
    print_failures
}

# e2e_setup: the guest image, libvirtd, a private bus, a temp dir.
e2e_setup() {
    e2e_require
    e2e_tmp=$(mktemp -d /tmp/dynmem-e2e.XXXXXX)
    chmod 755 "$e2e_tmp"
    trap e2e_cleanup EXIT
    trap 'exit 1' INT TERM
    "$SRCDIR/tests/e2e/build-guest.sh" "$E2E_GUEST_DIR" >"$e2e_tmp/build-guest.log" 2>&1 || {
        cat "$e2e_tmp/build-guest.log" >&2
        echo "building the test guest failed" >&2
        exit 1
    }
    e2e_start_libvirt
    e2e_forget_leftovers
    start_private_bus "$e2e_tmp" "$bus_rules_open" || exit 1
}

e2e_start_libvirt() {
    virsh -c "$E2E_URI" version >/dev/null 2>&1 && return 0
    # QEMU domains fail to start without virtlogd (ENVIRONMENT.md)
    if ! pgrep -x virtlogd >/dev/null; then
        virtlogd -d || exit 1
        wait_until 10 test -s /run/virtlogd.pid || exit 1
        e2e_started_virtlogd=$(cat /run/virtlogd.pid)
    fi
    libvirtd -d || exit 1
    wait_until 10 test -s /run/libvirtd.pid || exit 1
    e2e_started_libvirtd=$(cat /run/libvirtd.pid)
    wait_until 30 virsh -c "$E2E_URI" version || {
        echo "libvirtd did not answer" >&2
        exit 1
    }
}

# Stop only what we started, by the PID we recorded, and wait for it.
e2e_stop_pid() {
    local pid=$1
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    wait_until 20 sh -c "! kill -0 $pid 2>/dev/null" || kill -9 "$pid" 2>/dev/null
}
e2e_stop_libvirt() {
    e2e_stop_pid "$e2e_started_libvirtd"
    e2e_started_libvirtd=
    e2e_stop_pid "$e2e_started_virtlogd"
    e2e_started_virtlogd=
}

# Guests of an earlier run that died without cleaning up carry our prefix.
e2e_forget_leftovers() {
    local d
    for d in $(virsh_ list --name 2>/dev/null | grep "^$E2E_PREFIX-"); do
        echo "destroying leftover $d" >&2
        virsh_ destroy "$d" >/dev/null 2>&1
    done
}

# e2e_guest NAME MEM_MIB [domain-xml.sh options]: create a transient guest
# (full name $E2E_PREFIX-NAME) and return without waiting for it to boot.
e2e_guest() {
    local name=$E2E_PREFIX-$1 mem=$2
    shift 2
    "$SRCDIR/tests/e2e/domain-xml.sh" "$name" "$mem" --guest-dir "$E2E_GUEST_DIR" "$@" \
        >"$e2e_tmp/$name.xml" || exit 1
    rm -f "/var/log/libvirt/qemu/$name.serial"
    e2e_domains+=("$name")
    virsh_ create "$e2e_tmp/$name.xml" >/dev/null || {
        echo "virsh create $name failed" >&2
        exit 1
    }
}
e2e_destroy() {
    virsh_ destroy "$E2E_PREFIX-$1" >/dev/null
}

# The guest's last DYNMEM report: e2e_report NAME KEY (t, want, held,
# failed, oom_kills, restarts, memtotal, memavail).
e2e_report() {
    grep -a '^DYNMEM t=' "/var/log/libvirt/qemu/$E2E_PREFIX-$1.serial" 2>/dev/null | tail -n 1 |
        sed -n "s/.* $2=\([0-9]*\).*/\1/p"
}
e2e_booted() { [ -n "$(e2e_report "$1" t)" ]; }
e2e_wait_booted() {
    local g
    for g in "$@"; do
        wait_until 120 e2e_booted "$g" || {
            fail "$g did not boot within 120 s"
            exit 1
        }
    done
}
# No OOM kill and no dead worker in any of the guests, ever.
e2e_no_oom() {
    local g log
    for g in "$@"; do
        log=/var/log/libvirt/qemu/$E2E_PREFIX-$g.serial
        if grep -aq 'event=worker-died\|Out of memory' "$log" ||
            grep -a '^DYNMEM t=' "$log" | grep -vq ' oom_kills=0 '; then
            return 1
        fi
    done
}

# A guest's memory in MiB, asked of QEMU: its balloon figure (boot memory
# and DIMMs less the balloon, query-balloon) plus virtio-mem `current`.
# Not libvirt's balloon.current, which can lag a DIMM (docs/architecture.md),
# except for a guest without a balloon device, where it is all there is.
e2e_assigned_mib() {
    local b v
    b=$(e2e_balloon_mib "$1")
    if [ -z "$b" ]; then
        virsh_ domstats --balloon "$E2E_PREFIX-$1" | sed -n 's/.*balloon.current=//p' |
            awk '{ print int($1 / 1024) }'
        return
    fi
    v=$(e2e_virtio_mem_mib "$1")
    echo $((b + v))
}
e2e_balloon_mib() {
    virsh_ dommemstat "$E2E_PREFIX-$1" | awk '$1 == "actual" { print int($2 / 1024) }'
}
e2e_virtio_mem_mib() {
    virsh_ dumpxml "$E2E_PREFIX-$1" | sed -n "s/.*<current unit='KiB'>\([0-9]*\)<.*/\1/p" |
        awk '{ s += $1 } END { print int(s / 1024) }'
}
e2e_dimms() { virsh_ dumpxml "$E2E_PREFIX-$1" | grep -c "<memory model='dimm'"; }

# e2e_policy TEXT: the domains: section is appended by the caller; every
# domain not ours stays static, so a developer's own VMs are never touched.
# The stories here measure the buffer alone (trimmed to demand x 1.buffer):
# burst headroom and buffer-min are off unless a story's rule turns them on.
e2e_policy_head() {
    cat <<'YAML'
daemon:
  interval: 1s
host:
  reserve: 1GiB
  overhead: 0
tuning:
  grace: 15s
  demand-half-life: 10s
  max-shrink: 128MiB
  uncooperative-timeout: 30s
defaults:
  mode: static
  burst-headroom: 0
  buffer-min: 0
YAML
}

# e2e_write_policy MINIMUM_MIB [BUFFER_PCT]: the head above and one rule
# making our guests dynamic; extra rules may be appended to the file.
e2e_write_policy() {
    {
        e2e_policy_head
        echo "domains:"
        echo "  - match: \"$E2E_PREFIX-*\""
        echo "    mode: dynamic"
        echo "    minimum: ${1}MiB"
        [ -z "${2:-}" ] || echo "    buffer: ${2}%"
    } >"$e2e_tmp/policy.yaml"
}

e2e_start_daemon() {
    local n
    n=$(find "$e2e_tmp" -maxdepth 1 -name 'daemon*.log' | wc -l)
    mkdir -p "$e2e_tmp/state"
    "$DYNMEMD" --config "$e2e_tmp/policy.yaml" --connect "$E2E_URI" \
        --state-dir "$e2e_tmp/state" --require-bus "$@" >"$e2e_tmp/daemon$n.log" 2>&1 &
    e2e_daemon_pid=$!
    wait_until 20 e2e_ctl dump || {
        fail "dynmemd did not come up"
        exit 1
    }
}
e2e_stop_daemon() {
    [ -n "$e2e_daemon_pid" ] || return 0
    kill "$e2e_daemon_pid" 2>/dev/null && wait "$e2e_daemon_pid" 2>/dev/null
    e2e_daemon_pid=
}
e2e_ctl() { "$DYNMEMCTL" "$@"; }
# A domain's field from `dynmemctl --json show`: e2e_dom NAME KEY
e2e_dom() {
    e2e_ctl --json show "$E2E_PREFIX-$1" 2>/dev/null | tr ',{}' '\n\n\n' |
        sed -n "s/^ *\"$2\": *\"\{0,1\}\([^\"]*\)\"\{0,1\} *$/\1/p" | head -n 1
}
e2e_host_state() { e2e_ctl dump | sed -n 's/.*, host \([a-z]*\).*/\1/p' | head -n 1; }
e2e_known() { e2e_ctl --json show "$E2E_PREFIX-$1" >/dev/null 2>&1; }

# e2e_watch SECONDS FUNC: call FUNC once a second for SECONDS (FUNC
# returns non-zero to stop early). Not a synchronisation: it is how the
# tests watch an invariant hold over time.
e2e_watch() {
    local end=$(($(now_ms) + $1 * 1000))
    shift
    while [ "$(now_ms)" -lt "$end" ]; do
        "$@" || return 1
        sleep 1
    done
}
