# The e2e harness (DESIGN.md §6.5), sourced by tests/e2e/e2e-*.sh and the
# demo: real QEMU guests (TCG) under libvirtd, dynmemd on a private D-Bus,
# observed through libvirt, the guests' serial consoles and dynmemctl.
#
# Everything it starts it stops on exit, failure included: the guests
# (transient, named dynmem-e2e-*), dynmemd, the bus, CPU hogs, and
# libvirtd/virtlogd when it had to start them (by the PIDs it recorded; a
# libvirtd that was already running is left alone).
#
# Nothing here depends on how long libvirt takes to create a guest or a
# guest to boot (40-50 s each on a host whose /dev/kvm libvirt cannot use,
# docs/e2e-guest.md): a workload's plan starts on a cue (e2e_cue) the test
# gives once every guest is up and the daemon is steady, and the checks
# wait on the guests' own reports.
#
# Who started libvirtd and virtlogd for the e2e tests is recorded under
# $E2E_RUN_DIR ("PID suite SHELL" or "PID test SHELL"), so that a test killed on a
# timeout leaves nothing that the next one cannot clean up: a daemon
# recorded there is ours, whoever of us started it. The suite's setup
# (suite.sh, run first by meson) starts them for all tests and its
# teardown stops them; a test run alone starts and stops its own.
# shellcheck shell=bash

: "${SRCDIR:?}" "${DYNMEMD:?}" "${DYNMEMCTL:?}"
# shellcheck source=../lib/common.sh
. "$SRCDIR/tests/lib/common.sh"

E2E_URI=qemu:///system
E2E_PREFIX=${E2E_PREFIX:-dynmem-e2e}
E2E_GUEST_DIR=${DYNMEM_GUEST_DIR:-$SRCDIR/tests/e2e/cache}
E2E_RUN_DIR=${E2E_RUN_DIR:-/run/dynmem-e2e}

e2e_tmp=
e2e_domains=()
e2e_creating= # the guest a `virsh create` in progress is making
e2e_daemon_pid=
e2e_started_libvirtd=
e2e_started_virtlogd=
e2e_hog_pids=()

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
    trap '' INT TERM # a second signal must not cut the clean-up short
    e2e_stop_hogs
    for d in "${e2e_domains[@]}"; do
        virsh_ destroy "$d" >/dev/null 2>&1
    done
    # A `virsh create` killed with us does not stop libvirtd creating the
    # guest (it may still be probing QEMU, up to a minute here): wait for
    # that guest, within a bound, and destroy it too.
    if [ -n "$e2e_creating" ]; then
        wait_until 120 virsh_ domstate "$e2e_creating" &&
            virsh_ destroy "$e2e_creating" >/dev/null 2>&1
    fi
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
    e2e_stop_libvirt
    # KEEP_TMP=1 keeps the temp dir (daemon log, policy) and the consoles
    if [ -n "${KEEP_TMP:-}" ]; then
        echo "---- kept: $e2e_tmp and the consoles in /var/log/libvirt/qemu" >&2
    else
        for d in "${e2e_domains[@]}"; do
            rm -f "/var/log/libvirt/qemu/$d.serial" "/var/log/libvirt/qemu/$d.log"
        done
        [ -n "$e2e_tmp" ] && rm -rf "$e2e_tmp"
    fi
    print_failures
}

# e2e_setup: the guest image, libvirtd, a private bus, a temp dir; with
# E2E_TIMEOUT_S (meson sets it a little below its own timeout), the test
# gives up by itself after that long, cleaning up, rather than being
# killed with its guests left running; with E2E_CPU_HOG=1, every core is
# kept busy at normal priority for the whole test.
e2e_setup() {
    if [ -n "${E2E_TIMEOUT_S:-}" ] && [ -z "${E2E_UNDER_TIMEOUT:-}" ]; then
        # timeout signals its whole process group: a virsh call in progress
        # ends too, so the EXIT trap below runs at once
        E2E_UNDER_TIMEOUT=1 exec timeout -k 120 "$E2E_TIMEOUT_S" "$0"
    fi
    e2e_require
    e2e_tmp=$(mktemp -d /tmp/dynmem-e2e.XXXXXX)
    chmod 755 "$e2e_tmp"
    trap e2e_cleanup EXIT
    trap 'echo "e2e: terminated: cleaning up" >&2; exit 1' INT TERM
    [ "${E2E_CPU_HOG:-}" = 1 ] && e2e_start_hogs
    "$SRCDIR/tests/e2e/build-guest.sh" "$E2E_GUEST_DIR" >"$e2e_tmp/build-guest.log" 2>&1 || {
        cat "$e2e_tmp/build-guest.log" >&2
        echo "building the test guest failed" >&2
        exit 1
    }
    e2e_start_libvirt
    e2e_forget_leftovers
    start_private_bus "$e2e_tmp" "$bus_rules_open" || exit 1
}

# e2e_recorded DAEMON: the PID and owner ("suite"/"test") recorded for a
# libvirtd or virtlogd that an e2e run started and that still runs, and
# whether the test shell that started it still runs ("live"/"gone").
e2e_recorded() {
    local pid owner shell
    read -r pid owner shell 2>/dev/null <"$E2E_RUN_DIR/$1" || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || {
        rm -f "$E2E_RUN_DIR/$1"
        return 1
    }
    if [ -n "$shell" ] && kill -0 "$shell" 2>/dev/null; then
        echo "$pid $owner live"
    else
        echo "$pid $owner gone"
    fi
}
# e2e_record DAEMON PID OWNER: with this test shell's PID ($$ is the
# shell's own, in a command substitution too)
e2e_record() { mkdir -p "$E2E_RUN_DIR" && echo "$2 $3 $$" >"$E2E_RUN_DIR/$1"; }

# e2e_launch DAEMON OWNER: start libvirtd or virtlogd (daemonized,
# it writes /run/DAEMON.pid) and record it; prints its PID.
e2e_launch() {
    local pid
    rm -f "/run/$1.pid"
    # (its stdout is this function's output: the daemon must not hold it;
    # and it must not join a test's private bus, started after it or not:
    # GDBus ends a process whose system bus goes away, which the test's
    # bus does when the test ends)
    env -u DBUS_SYSTEM_BUS_ADDRESS "$1" -d >/dev/null || return 1
    wait_until 30 test -s "/run/$1.pid" || return 1
    pid=$(cat "/run/$1.pid")
    e2e_record "$1" "$pid" "$2"
    echo "$pid"
}

# e2e_use_daemon DAEMON OWNER: make sure DAEMON runs. Prints the PID this
# caller must stop at its end, if any: one it started, or one a killed
# e2e test left behind. One started by the suite (when OWNER is test), by
# a test or demo still running, or by nobody of ours is used and left alone.
e2e_use_daemon() {
    local rec pid owner shell
    if rec=$(e2e_recorded "$1"); then
        read -r pid owner shell <<<"$rec"
        if { [ "$owner" = suite ] && [ "$2" = test ]; } ||
            { [ "$owner" = test ] && [ "$shell" = live ]; }; then
            return 0
        fi
        e2e_record "$1" "$pid" "$2" # a leftover: ours now
        echo "$pid"
        return 0
    fi
    pgrep -x "$1" >/dev/null && return 0
    e2e_launch "$1" "$2"
}

# e2e_start_libvirt [OWNER]: libvirtd (and virtlogd, without which QEMU
# domains fail to start, ENVIRONMENT.md) for this test, or the suite.
e2e_start_libvirt() {
    local owner=${1:-test}
    e2e_started_virtlogd=$(e2e_use_daemon virtlogd "$owner") || {
        echo "virtlogd did not start" >&2
        exit 1
    }
    e2e_started_libvirtd=$(e2e_use_daemon libvirtd "$owner") || {
        echo "libvirtd did not start" >&2
        exit 1
    }
    # a starting libvirtd probes QEMU first: seconds, or minutes on a
    # loaded host where it cannot use /dev/kvm (docs/e2e-guest.md)
    wait_until 300 virsh -c "$E2E_URI" version || {
        echo "libvirtd did not answer within 300 s" >&2
        exit 1
    }
}

# e2e_kill_libvirtd: kill -9 the libvirtd an e2e run started (this test or
# the suite: ours, so ours to kill); fails when the running one is not ours.
# e2e_restart_libvirtd starts it again for the same owner.
e2e_killed_owner=
e2e_kill_libvirtd() {
    local rec pid owner shell
    rec=$(e2e_recorded libvirtd) || return 1
    read -r pid owner shell <<<"$rec"
    e2e_killed_owner=$owner
    kill -9 "$pid"
}
e2e_restart_libvirtd() {
    local pid
    pid=$(e2e_launch libvirtd "${e2e_killed_owner:-test}") || return 1
    [ "${e2e_killed_owner:-test}" = test ] && e2e_started_libvirtd=$pid
    return 0
}

# Stop only what we started, by the PID we recorded, and wait for it.
e2e_stop_pid() {
    local pid=$1
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    wait_until 20 sh -c "! kill -0 $pid 2>/dev/null" || kill -9 "$pid" 2>/dev/null
}
e2e_stop_libvirt() {
    if [ -n "$e2e_started_libvirtd" ]; then
        e2e_stop_pid "$e2e_started_libvirtd"
        rm -f "$E2E_RUN_DIR/libvirtd"
    fi
    e2e_started_libvirtd=
    if [ -n "$e2e_started_virtlogd" ]; then
        e2e_stop_pid "$e2e_started_virtlogd"
        rm -f "$E2E_RUN_DIR/virtlogd"
    fi
    e2e_started_virtlogd=
}

# CPU hogs at normal priority, one per core (E2E_CPU_HOG=1).
e2e_start_hogs() {
    local i
    for i in $(seq "$(nproc)"); do
        (exec >/dev/null 2>&1 </dev/null; while :; do :; done) &
        e2e_hog_pids+=($!)
    done
    echo "# $(nproc) CPU hog(s) running: ${e2e_hog_pids[*]}"
}
e2e_stop_hogs() {
    local p
    for p in "${e2e_hog_pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${e2e_hog_pids[@]}"; do wait "$p" 2>/dev/null; done
    e2e_hog_pids=()
}

# Guests of an earlier run that was killed before it could clean up carry
# our prefix (transient ones; smoke.sh's are defined, so undefined too).
e2e_forget_leftovers() {
    local d
    for d in $(virsh_ list --all --name 2>/dev/null | grep "^$E2E_PREFIX-"); do
        echo "removing leftover domain $d" >&2
        virsh_ destroy "$d" >/dev/null 2>&1
        virsh_ undefine "$d" >/dev/null 2>&1
    done
    return 0
}

# e2e_guest NAME MEM_MIB [domain-xml.sh options]: create a transient guest
# (full name $E2E_PREFIX-NAME) and return without waiting for it to boot.
# With --cue, its workload's plan waits for e2e_cue.
e2e_guest() {
    local name=$E2E_PREFIX-$1 mem=$2
    shift 2
    "$SRCDIR/tests/e2e/domain-xml.sh" "$name" "$mem" --guest-dir "$E2E_GUEST_DIR" "$@" \
        >"$e2e_tmp/$name.xml" || exit 1
    rm -f "/var/log/libvirt/qemu/$name.serial"
    e2e_domains+=("$name")
    e2e_creating=$name
    virsh_ create "$e2e_tmp/$name.xml" >/dev/null || {
        e2e_creating=
        echo "virsh create $name failed" >&2
        exit 1
    }
    e2e_creating=
}
e2e_destroy() {
    virsh_ destroy "$E2E_PREFIX-$1" >/dev/null
}

# The guest's last DYNMEM report: e2e_report NAME KEY (t, want, held,
# failed, oom_kills, restarts, memtotal, memavail, up, cued). Only whole
# lines count: the console file is read while the guest writes it.
e2e_report_lines() {
    grep -a $'^DYNMEM t=.* cued=[01]\r\\{0,1\\}$' "/var/log/libvirt/qemu/$E2E_PREFIX-$1.serial" 2>/dev/null
}
e2e_report() {
    e2e_report_lines "$1" | tail -n 1 | sed -n "s/.* $2=\([0-9]*\).*/\1/p"
}
e2e_booted() { [ -n "$(e2e_report "$1" t)" ]; }
e2e_wait_booted() {
    local g
    for g in "$@"; do
        # a TCG guest boots in ~20 s; much longer on a loaded host
        wait_until 300 e2e_booted "$g" || {
            fail "$g did not boot within 300 s of its creation"
            exit 1
        }
    done
}

e2e_cued() { [ "$(e2e_report "$1" cued)" = 1 ]; }

# e2e_cue GUEST...: start the guests' plans (created with --cue) together:
# "go" on each one's second serial port, whose host end is a pty, repeated
# until every guest reports that it has its cue. QEMU notices a pty's
# writer within a second, so the cues arrive within about a second of each
# other; each guest's plan clock (t) starts at its own cue.
e2e_cue() {
    local g pty fds=() fd deadline all
    for g in "$@"; do
        pty=$(virsh_ dumpxml "$E2E_PREFIX-$g" | grep -o "/dev/pts/[0-9]*" | head -n 1)
        [ -c "$pty" ] || {
            fail "$g has no cue pty"
            return 1
        }
        exec {fd}>"$pty"
        fds+=("$fd")
    done
    deadline=$(($(now_ms) + 60000))
    while :; do
        for fd in "${fds[@]}"; do echo go >&"$fd"; done
        all=1
        for g in "$@"; do
            # (every report line repeats cued=; the one event line may be
            # broken by a kernel message on the console)
            wait_until 2 e2e_cued "$g" || all=0
        done
        [ "$all" = 1 ] || [ "$(now_ms)" -ge "$deadline" ] && break
    done
    for fd in "${fds[@]}"; do exec {fd}>&-; done
    [ "$all" = 1 ] || {
        fail "not every guest took its cue within 60 s"
        return 1
    }
    echo "# cue given to $*"
}

# e2e_until_t GUEST TMAX CMD...: poll CMD until it succeeds; give up when
# GUEST's own plan clock is past TMAX (its reports, not the host's clock,
# say how long the workload has had; the test's own timeout covers a
# guest that stops reporting).
e2e_until_t() {
    local g=$1 tmax=$2 t
    shift 2
    until "$@" >/dev/null 2>&1; do
        t=$(e2e_report "$g" t)
        [ -n "$t" ] && [ "$t" -gt "$tmax" ] && return 1
        sleep 0.2
    done
}
# No OOM kill and no dead worker in any of the guests, ever.
e2e_no_oom() {
    local g log kills
    for g in "$@"; do
        log=/var/log/libvirt/qemu/$E2E_PREFIX-$g.serial
        # (oom_kills is cumulative: the last report says it all; no early
        # exit in a pipeline, which pipefail would read as no kill)
        kills=$(e2e_report "$g" oom_kills)
        if grep -aq 'event=worker-died\|Out of memory' "$log" ||
            { [ -n "$kills" ] && [ "$kills" != 0 ]; }; then
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
# e2e_settled GUEST...: the daemon has nothing more to do for them: each
# one is past its grace period with its buffer met (status ok), and its
# assigned memory is within a minimum step (32 MiB) of its target.
e2e_settled() {
    local g a t
    for g in "$@"; do
        [ "$(e2e_dom "$g" status)" = ok ] || return 1
        a=$(e2e_dom "$g" assigned)
        t=$(e2e_dom "$g" target)
        [ -n "$a" ] && [ -n "$t" ] || return 1
        [ $(((a - t) / 1048576)) -le 32 ] && [ $(((t - a) / 1048576)) -le 32 ] || return 1
    done
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
