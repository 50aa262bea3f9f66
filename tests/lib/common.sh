# Shared by the shell test suites (source it; needs SRCDIR): results,
# polling with deadlines, the skip rule, and a private D-Bus system bus.
# shellcheck shell=bash

failures=0
failure_msgs=()

pass() { echo "ok - $*"; }
fail() {
    echo "FAIL - $*"
    failures=$((failures + 1))
    failure_msgs+=("$*")
}
# Repeat the failures last, where a log's tail (CI's) shows them.
print_failures() {
    [ "${#failure_msgs[@]}" -gt 0 ] || return 0
    echo "---- $failures failure(s):" >&2
    printf 'FAIL - %s\n' "${failure_msgs[@]}" >&2
}
# expect WHAT EXPECTED ACTUAL
expect() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: expected [$2], got [$3]"; fi
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_until SECONDS CMD...: poll CMD every 50 ms until it succeeds.
wait_until() {
    local deadline=$(($(now_ms) + $1 * 1000))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$(now_ms)" -ge "$deadline" ] && return 1
        sleep 0.05
    done
}

# skip_or_fail REASON: a test that cannot run here exits 77 (meson: skip),
# except in CI (CI=true), where a skipped real layer is a failure.
skip_or_fail() {
    if [ "${CI:-}" = true ]; then
        echo "FAIL: cannot run in CI: $*" >&2
        exit 1
    fi
    echo "SKIP: $*" >&2
    exit 77
}

# start_private_bus DIR RULES: a dbus-daemon of our own, never the host's
# bus, with RULES (busconfig XML) added to a closed system-like policy.
# Sets bus_pid and exports DBUS_SYSTEM_BUS_ADDRESS. The caller stops it
# (stop_private_bus) from its cleanup trap.
bus_pid=
start_private_bus() {
    local dir=$1 rules=$2 socket=dynmem-test-$$-$RANDOM
    sed -e "s|@SOCKET@|$socket|" -e "/@RULES@/{r /dev/stdin" -e "d}" \
        "$SRCDIR/tests/lib/bus.conf.in" >"$dir/bus.conf" <<<"$rules"
    : >"$dir/bus.addr"
    dbus-daemon --config-file="$dir/bus.conf" --nofork --print-address=3 \
        3>"$dir/bus.addr" 2>"$dir/bus.log" &
    bus_pid=$!
    if ! wait_until 10 test -s "$dir/bus.addr"; then
        echo "dbus-daemon did not start:" >&2
        cat "$dir/bus.log" >&2
        return 1
    fi
    DBUS_SYSTEM_BUS_ADDRESS=$(head -1 "$dir/bus.addr")
    export DBUS_SYSTEM_BUS_ADDRESS
}

stop_private_bus() {
    [ -n "$bus_pid" ] || return 0
    kill "$bus_pid" 2>/dev/null && wait "$bus_pid" 2>/dev/null
    bus_pid=
}

# Bus rules for tests: root owns org.dynmem1, anyone may call it (the
# daemon's own uid check is what refuses); or the shipped policy file.
bus_rules_open='<policy user="root"><allow own="org.dynmem1"/></policy>
  <policy context="default"><allow send_destination="org.dynmem1"/></policy>'
bus_rules_shipped() { echo "<include>$SRCDIR/data/dbus-1/org.dynmem1.conf</include>"; }

# find_promtool: print the path of a promtool (Prometheus' own parser and
# linter of the text format): an installed one, else the one ./dev unpacked
# from Debian's prometheus package into tests/cache/ (a test never
# downloads or installs anything).
find_promtool() {
    local cached=$SRCDIR/tests/cache/prometheus/usr/bin/promtool
    command -v promtool && return 0
    [ -x "$cached" ] && echo "$cached"
}
