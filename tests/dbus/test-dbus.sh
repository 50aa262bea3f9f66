#!/usr/bin/env bash
# The D-Bus layer (DESIGN.md §6.4): dynmemd on a PRIVATE dbus-daemon, against
# libvirt's test driver (node.xml) and a fake /proc/meminfo, driven by busctl,
# gdbus (it prints error names), dynmemctl and bus-helper.
#
#   test-dbus.sh              every API check (meson test dbus-api)
#   test-dbus.sh introspect   data/org.dynmem1.xml is what the vtables say
#   test-dbus.sh golden       rewrite tests/dbus/golden/ (review the diff!)
#
# Synchronisation is by polling with deadlines, never by sleeping blindly.
# Everything started here is stopped by PID on exit, failure included.
set -uo pipefail

: "${DYNMEMD:?}" "${DYNMEMCTL:?}" "${BUS_HELPER:?}" "${SRCDIR:?}"
here=$SRCDIR/tests/dbus
mode=${1:-all}

if [ "$mode" = introspect ]; then
    if ! "$DYNMEMD" --bus-introspect | diff -u "$SRCDIR/data/org.dynmem1.xml" -; then
        echo "data/org.dynmem1.xml is stale: run" \
            "dynmemd --bus-introspect > data/org.dynmem1.xml" >&2
        exit 1
    fi
    exit 0
fi

for tool in dbus-daemon busctl gdbus setpriv; do
    command -v "$tool" >/dev/null || {
        . "$SRCDIR/tests/lib/common.sh"
        skip_or_fail "$tool is missing"
    }
done

# shellcheck source=../lib/common.sh
. "$SRCDIR/tests/lib/common.sh"

tmp=$(mktemp -d /tmp/dynmem-dbus-test.XXXXXX)
chmod 755 "$tmp"
daemon_pid= watch_pid=

cleanup() {
    local p
    for p in $watch_pid $daemon_pid; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    stop_private_bus
    if [ "$failures" -gt 0 ] || [ "${KEEP_TMP:-}" ]; then
        echo "daemon log:" >&2
        sed 's/^/  | /' "$tmp"/daemon*.log >&2 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
ctl() { "$DYNMEMCTL" "$@"; }
mgr_prop() { busctl --system get-property org.dynmem1 /org/dynmem1 org.dynmem1.Manager "$1"; }
dom_prop() {
    local path
    path=$(busctl --system call org.dynmem1 /org/dynmem1 org.dynmem1.Manager GetDomain s "$1" |
        sed 's/^o "\(.*\)"$/\1/')
    busctl --system get-property org.dynmem1 "$path" org.dynmem1.Domain "$2"
}
cycles() { ctl dump | sed -n 's/^cycles: //p'; }
export DYNMEMCTL
cycles_now() { "$DYNMEMCTL" dump | sed -n 's/^cycles: //p'; }
export -f cycles_now
# gdbus prints the error's name; call a Manager method, print "OK" or the name.
mgr_call() {
    local method=$1 out
    shift
    if out=$(gdbus call --system --dest org.dynmem1 --object-path /org/dynmem1 \
        --method "org.dynmem1.Manager.$method" "$@" 2>&1); then
        echo OK
    else
        sed -n 's/.*GDBus\.Error:\([A-Za-z0-9_.]*\):.*/\1/p' <<<"$out" | head -1
    fi
}

# ---- the bus ----------------------------------------------------------------

# start_bus open|policy: "open" lets anyone call anything (the daemon's own uid
# check is what refuses); "policy" adds the shipped org.dynmem1.conf.
start_bus() {
    local rules=$bus_rules_open
    [ "$1" = open ] || rules=$(bus_rules_shipped)
    start_private_bus "$tmp" "$rules" || exit 1
}
stop_bus() { stop_private_bus; }

# ---- the daemon -------------------------------------------------------------

mkdir -p "$tmp/proc" "$tmp/state"
cp "$here/meminfo" "$tmp/proc/meminfo"
cp "$here/policy.yaml" "$tmp/policy.yaml"
daemon_runs=0

start_daemon() {
    daemon_runs=$((daemon_runs + 1))
    "$DYNMEMD" --config "$tmp/policy.yaml" --connect "test://$here/node.xml" \
        --proc-root "$tmp/proc" --state-dir "$tmp/state" --require-bus "$@" \
        >"$tmp/daemon$daemon_runs.log" 2>&1 &
    daemon_pid=$!
    # Ready when it answers and has planned at least once.
    if ! wait_until 15 daemon_has_cycled; then
        fail "dynmemd did not come up on the bus"
        exit 1
    fi
}
daemon_has_cycled() { [ "$(cycles)" -ge 1 ] 2>/dev/null; }

# Stopped, it must exit 0: under the sanitizers a leak or a memory error
# at exit shows here.
stop_daemon() {
    local rc=0
    if kill "$daemon_pid" 2>/dev/null; then
        wait "$daemon_pid" 2>/dev/null
        rc=$?
    fi
    [ "$rc" = 0 ] || fail "dynmemd exited with status $rc when stopped (see its log below)"
    daemon_pid=
}

start_watch() {
    : >"$tmp/signals"
    "$BUS_HELPER" watch >"$tmp/signals" 2>&1 &
    watch_pid=$!
    wait_until 10 grep -qx READY "$tmp/signals" || fail "signal watcher did not start"
}
stop_watch() {
    kill "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
    watch_pid=
}
saw_signal() { grep -qE "$1" "$tmp/signals"; }

# ==== 1. open bus: the API ===================================================

start_bus open
start_watch
start_daemon
wait_until 10 saw_signal '^InterfacesAdded /org/dynmem1/domain/' &&
    pass "InterfacesAdded for the domains" || fail "no InterfacesAdded"
n=$(grep -c '^InterfacesAdded ' "$tmp/signals")
expect "InterfacesAdded once per domain" 4 "$n"

# -- manager properties
expect "Version" 's "0.1.0"' "$(mgr_prop Version)"
expect "Connected" "b true" "$(mgr_prop Connected)"
expect "Paused" "b false" "$(mgr_prop Paused)"
expect "DryRun" "b false" "$(mgr_prop DryRun)"
expect "Interval (µs)" "t 200000" "$(mgr_prop Interval)"
expect "HostTotal (bytes)" "t 34359738368" "$(mgr_prop HostTotal)"
expect "HostAvailable (bytes)" "t 25769803776" "$(mgr_prop HostAvailable)"
expect "Reserve (bytes)" "t 2147483648" "$(mgr_prop Reserve)"
expect "State" 's "ok"' "$(mgr_prop State)"
for p in Budget Assigned Demand Cycles; do
    v=$(mgr_prop $p | sed 's/^t //')
    [ "$v" -gt 0 ] 2>/dev/null && pass "$p > 0" || fail "$p: [$v]"
done
# for schedulers: a guest needs at least its demand (more when its floor is
# higher) and there is no per-domain overhead here, so a newcomer gets at
# most the budget above the demand; this host has room for every desire
budget=$(mgr_prop Budget | sed 's/^t //')
demand=$(mgr_prop Demand | sed 's/^t //')
admittable=$(mgr_prop Admittable | sed 's/^t //')
[ "$admittable" -gt 0 ] && [ "$admittable" -le $((budget - demand)) ] &&
    pass "0 < Admittable <= Budget - Demand ($admittable)" ||
    fail "Admittable $admittable: budget $budget, demand $demand"
expect "UnmetDemand" "t 0" "$(mgr_prop UnmetDemand)"

# -- methods: ListDomains, GetDomain
out=$(busctl --system call org.dynmem1 /org/dynmem1 org.dynmem1.Manager ListDomains)
case $out in
'a(sso) 4 "alpha" "0d5b2f6e-1111-4a4a-9b9b-000000000001" "/org/dynmem1/domain/_30d5b2f6e_2d1111_2d4a4a_2d9b9b_2d000000000001" "bravo"'*)
    pass "ListDomains" ;;
*) fail "ListDomains: $out" ;;
esac
by_name=$(busctl --system call org.dynmem1 /org/dynmem1 org.dynmem1.Manager GetDomain s charlie)
by_uuid=$(busctl --system call org.dynmem1 /org/dynmem1 org.dynmem1.Manager GetDomain s \
    0D5B2F6E-1111-4A4A-9B9B-000000000003)
expect "GetDomain by name" 'o "/org/dynmem1/domain/_30d5b2f6e_2d1111_2d4a4a_2d9b9b_2d000000000003"' "$by_name"
expect "GetDomain by UUID (any case)" "$by_name" "$by_uuid"
expect "GetDomain unknown" org.dynmem1.Error.NoSuchDomain "$(mgr_call GetDomain nosuch)"

# -- hostile names: any user may call GetDomain, so its error must stay small
# whatever the name: a reply over the bus's 32 MiB limit makes dbus-daemon
# drop dynmemd from the bus. The largest name is the most a request can
# carry.
owns_name() {
    busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
        NameHasOwner s org.dynmem1
}
for bytes in 255 256 1048576 $((32 * 1048576 - 160)); do
    out=$(as_nobody "$BUS_HELPER" getdomain "$bytes")
    read -r kind name len <<<"$out"
    want=org.dynmem1.Error.InvalidArgument
    [ "$bytes" -le 255 ] && want=org.dynmem1.Error.NoSuchDomain
    if [ "$kind" = error ] && [ "$name" = "$want" ] && [ "$len" -lt 200 ]; then
        pass "GetDomain with a $bytes-byte name: $name, $len-byte message"
    else
        fail "GetDomain with a $bytes-byte name: $out"
    fi
    expect "still owns org.dynmem1 after a $bytes-byte name" "b true" "$(owns_name)"
done
for bytes in 100 $((32 * 1048576 - 256)); do
    out=$("$BUS_HELPER" setpolicy alpha "$bytes")
    read -r kind name len <<<"$out"
    if [ "$kind" = error ] && [ "$name" = org.dynmem1.Error.InvalidArgument ] &&
        [ "$len" -lt 200 ]; then
        pass "SetDomainPolicy with a $bytes-byte key: $name, $len-byte message"
    else
        fail "SetDomainPolicy with a $bytes-byte key: $out"
    fi
    expect "still owns org.dynmem1 after a $bytes-byte key" "b true" "$(owns_name)"
done
msg=$(gdbus call --system --dest org.dynmem1 --object-path /org/dynmem1 --method \
    org.dynmem1.Manager.GetDomain 0d5b2f6e-1111-4a4a-9b9b-00000000ffff 2>&1)
grep -q 'NoSuchDomain: no running domain has the UUID 0d5b2f6e-1111-4a4a-9b9b-00000000ffff' \
    <<<"$msg" && pass "an unknown UUID is named as a UUID" || fail "unknown UUID: $msg"

# -- the running daemon introspects as data/org.dynmem1.xml says (the file is
# generated offline from the same vtables; this checks the objects on the bus)
own_interfaces() { sed -n '/^ *<interface name="org\.dynmem1\./,/^ *<\/interface>/p'; }
alpha_path=$(busctl --system call org.dynmem1 /org/dynmem1 org.dynmem1.Manager GetDomain s alpha |
    sed 's/^o "\(.*\)"$/\1/')
live=$( {
    busctl --system introspect --xml-interface org.dynmem1 /org/dynmem1
    busctl --system introspect --xml-interface org.dynmem1 "$alpha_path"
} | own_interfaces)
if [ -n "$live" ] && diff -u <(own_interfaces <"$SRCDIR/data/org.dynmem1.xml") - <<<"$live"; then
    pass "the running daemon's Manager and Domain introspection is data/org.dynmem1.xml"
else
    fail "the running daemon's introspection differs from data/org.dynmem1.xml"
fi

# -- domain properties
expect "Domain Name" 's "alpha"' "$(dom_prop alpha Name)"
expect "Domain Uuid" 's "0d5b2f6e-1111-4a4a-9b9b-000000000001"' "$(dom_prop alpha Uuid)"
expect "Domain Mode" 's "dynamic"' "$(dom_prop alpha Mode)"
expect "Domain Mode static" 's "static"' "$(dom_prop delta Mode)"
expect "Domain Status static" 's "static"' "$(dom_prop delta Status)"
# delta's own metadata sets its weight; its mode is the YAML rule's
expect "Domain Weight from metadata" "u 7000" "$(dom_prop delta Weight)"
expect "Domain PolicySources" \
    'as 8 "mode=rule" "minimum=default" "startup=default" "maximum=default" "buffer=default" "weight=metadata" "burst-headroom=default" "buffer-min=default"' \
    "$(dom_prop delta PolicySources)"
expect "Domain PolicyProblem empty" 's ""' "$(dom_prop delta PolicyProblem)"
ctl show delta | grep -qx 'Policy from: mode=rule, weight=metadata' &&
    pass "dynmemctl show says where delta's policy comes from" ||
    fail "dynmemctl show: $(ctl show delta | grep 'Policy from')"
expect "Domain Minimum (bytes)" "t 1073741824" "$(dom_prop alpha Minimum)"
expect "Domain Maximum (bytes)" "t 4294967296" "$(dom_prop alpha Maximum)"
expect "Domain Buffer (%)" "u 20" "$(dom_prop alpha Buffer)"
expect "Domain Weight" "u 5000" "$(dom_prop alpha Weight)"
expect "Domain Mechanisms" 'as 1 "balloon"' "$(dom_prop alpha Mechanisms)"
expect "Domain Overridden" "b false" "$(dom_prop alpha Overridden)"
for p in Assigned Demand Target Startup; do
    v=$(dom_prop bravo $p | sed 's/^t //')
    [ "$v" -gt 0 ] 2>/dev/null && pass "Domain $p > 0" || fail "Domain $p: [$v]"
done
v=$(dom_prop bravo Pressure | sed 's/^u //')
[ "$v" -gt 0 ] && [ "$v" -le 100 ] && pass "Domain Pressure in %" || fail "Pressure: [$v]"
dom_prop bravo Status | grep -qE '^s "(ok|low|warning|starting)"$' &&
    pass "Domain Status" || fail "Status: $(dom_prop bravo Status)"
dom_prop bravo Reason | grep -q '^s ".' && pass "Domain Reason" || fail "Reason is empty"

# -- signals: Adjusted (the daemon trims idle memory), PropertiesChanged
wait_until 10 saw_signal '^Adjusted (alpha|bravo|charlie) [0-9]+ [0-9]+ balloon$' &&
    pass "Adjusted signal (bytes, mechanism)" || fail "no Adjusted signal"
if a=$(grep -m1 '^Adjusted ' "$tmp/signals"); then
    read -r _ _ from to _ <<<"$a"
    [ $((from % 1048576)) -eq 0 ] && [ $((to % 1048576)) -eq 0 ] &&
        pass "Adjusted sizes are bytes" || fail "Adjusted sizes: $a"
fi
wait_until 10 saw_signal '^PropertiesChanged /org/dynmem1/domain/.* org.dynmem1.Domain .*Assigned' &&
    pass "Domain PropertiesChanged names Assigned" || fail "no Domain PropertiesChanged"
# The static domain changes once, from "new" to its first plan, then never.
wait_until 5 sh -c "[ \$(cycles_now) -ge 5 ]" 2>/dev/null
n=$(grep -c '^PropertiesChanged /org/dynmem1/domain/.*000000000004 ' "$tmp/signals")
expect "one PropertiesChanged for the static domain (its first plan), no more" 1 "$n"
grep -q 'PropertiesChanged .* \(Name\|Uuid\|Cycles\|Reason\)\( \|$\)' "$tmp/signals" &&
    fail "constant or non-emitting property in PropertiesChanged" ||
    pass "constant properties are never in PropertiesChanged"

# -- SetPaused, Rebalance, Dump
expect "SetPaused(true)" OK "$(mgr_call SetPaused true)"
expect "Paused property" "b true" "$(mgr_prop Paused)"
wait_until 5 saw_signal '^PropertiesChanged /org/dynmem1 org.dynmem1.Manager Paused$' &&
    pass "PropertiesChanged(Paused)" || fail "no PropertiesChanged for Paused"
ctl dump | grep -qx 'paused: yes' && pass "Dump shows paused" || fail "Dump: paused"
before=$(cycles)
expect "Rebalance" OK "$(mgr_call Rebalance)"
after=$(cycles)
[ "$after" -gt "$before" ] && pass "Rebalance ran a cycle" || fail "Rebalance: $before -> $after"
expect "SetPaused(false)" OK "$(mgr_call SetPaused false)"
expect "Paused property" "b false" "$(mgr_prop Paused)"

# -- StateChanged: a host that shrinks under the domains
cp "$here/meminfo.small" "$tmp/proc/meminfo"
wait_until 10 saw_signal '^StateChanged (pressure|overcommitted)$' &&
    pass "StateChanged on a small host" || fail "no StateChanged"
wait_until 5 sh -c "busctl --system get-property org.dynmem1 /org/dynmem1 org.dynmem1.Manager State | grep -qv ok" &&
    pass "State follows" || fail "State: $(mgr_prop State)"
wait_until 5 saw_signal '^PropertiesChanged /org/dynmem1 org.dynmem1.Manager .*HostTotal.*State' &&
    pass "PropertiesChanged(HostTotal, State)" || fail "no manager PropertiesChanged"
cp "$here/meminfo" "$tmp/proc/meminfo"
wait_until 10 saw_signal '^StateChanged ok$' && pass "StateChanged back to ok" ||
    fail "no StateChanged ok"

# -- SetDomainPolicy / ResetDomainPolicy
dump_overrides() { ctl dump | grep '^domain '; }
expect "SetDomainPolicy weight=u 8000, buffer='30%'" OK \
    "$(mgr_call SetDomainPolicy alpha "{'weight': <uint32 8000>, 'buffer': <'30%'>}" false)"
mgr_call Rebalance >/dev/null
expect "override Weight" "u 8000" "$(dom_prop alpha Weight)"
expect "override Buffer" "u 30" "$(dom_prop alpha Buffer)"
expect "Overridden" "b true" "$(dom_prop alpha Overridden)"
wait_until 5 saw_signal '^PropertiesChanged /org/dynmem1/domain/.*0001 org.dynmem1.Domain .*Weight' &&
    pass "PropertiesChanged(Weight)" || fail "no PropertiesChanged for Weight"
expect "SetDomainPolicy minimum=t bytes, buffer=u, weight=i" OK \
    "$(mgr_call SetDomainPolicy alpha "{'minimum': <uint64 1610612736>, 'buffer': <uint32 25>, 'weight': <int32 7000>}" false)"
mgr_call Rebalance >/dev/null
expect "minimum from bytes" "t 1610612736" "$(dom_prop alpha Minimum)"
expect "keys merge into the override" "u 7000" "$(dom_prop alpha Weight)"
expect "SetDomainPolicy by UUID, mode" OK \
    "$(mgr_call SetDomainPolicy 0d5b2f6e-1111-4a4a-9b9b-000000000002 "{'mode': <'static'>}" false)"
mgr_call Rebalance >/dev/null
expect "mode override" 's "static"' "$(dom_prop bravo Mode)"
expect "SetDomainPolicy burst-headroom string, buffer-min bytes" OK \
    "$(mgr_call SetDomainPolicy alpha "{'burst-headroom': <'512MiB'>, 'buffer-min': <uint64 134217728>}" false)"
mgr_call Rebalance >/dev/null
expect "burst-headroom override: Headroom" "t 536870912" "$(dom_prop alpha Headroom)"
expect "burst-headroom override: Protection" 's "headroom"' "$(dom_prop alpha Protection)"
expect "ResetDomainPolicy" OK "$(mgr_call ResetDomainPolicy bravo)"
mgr_call Rebalance >/dev/null
expect "reset restores the rule" 's "dynamic"' "$(dom_prop bravo Mode)"
expect "ResetDomainPolicy unknown" org.dynmem1.Error.NoSuchDomain "$(mgr_call ResetDomainPolicy nosuch)"

# -- bad input changes nothing
before=$(dump_overrides)
bad() {
    local what=$1 err=$2
    shift 2
    expect "$what" "$err" "$(mgr_call "$@")"
}
bad "unknown domain" org.dynmem1.Error.NoSuchDomain SetDomainPolicy nosuch "{'weight': <uint32 1>}" false
bad "weight 20000" org.dynmem1.Error.InvalidArgument SetDomainPolicy alpha "{'weight': <uint32 20000>}" false
bad "buffer -5 (int)" org.dynmem1.Error.InvalidArgument SetDomainPolicy alpha "{'buffer': <int32 -5>}" false
bad "buffer '-5%'" org.dynmem1.Error.InvalidArgument SetDomainPolicy alpha "{'buffer': <'-5%'>}" false
bad "minimum above maximum" org.dynmem1.Error.InvalidArgument SetDomainPolicy alpha "{'minimum': <'3GiB'>, 'maximum': <'2GiB'>}" false
bad "unknown key" org.dynmem1.Error.InvalidArgument SetDomainPolicy alpha "{'wieght': <uint32 1>}" false
bad "good key then bad key" org.dynmem1.Error.InvalidArgument SetDomainPolicy alpha "{'weight': <uint32 1>, 'buffer': <'lots'>}" false
bad "wrong value type" org.dynmem1.Error.InvalidArgument SetDomainPolicy alpha "{'weight': <true>}" false
bad "burst-headroom 'lots'" org.dynmem1.Error.InvalidArgument SetDomainPolicy alpha "{'burst-headroom': <'lots'>}" false
bad "buffer-min 2000GiB" org.dynmem1.Error.InvalidArgument SetDomainPolicy alpha "{'buffer-min': <'2000GiB'>}" false
bad "size not in KiB" org.dynmem1.Error.InvalidArgument SetDomainPolicy alpha "{'minimum': <uint64 1000>}" false
bad "empty settings" org.dynmem1.Error.InvalidArgument SetDomainPolicy alpha "@a{sv} {}" false
# gdbus checks arguments against the introspection data; dbus-send does not.
raw_call() {
    dbus-send --system --print-reply --dest=org.dynmem1 /org/dynmem1 "org.dynmem1.Manager.$@" 2>&1 |
        sed -n 's/^Error \([A-Za-z0-9_.]*\):.*/\1/p'
}
expect "wrong signature" org.freedesktop.DBus.Error.InvalidArgs \
    "$(raw_call SetDomainPolicy string:alpha string:weight=1 boolean:false)"
expect "SetPaused wrong signature" org.freedesktop.DBus.Error.InvalidArgs \
    "$(raw_call SetPaused string:yes)"
expect "GetDomain without arguments" org.freedesktop.DBus.Error.InvalidArgs "$(raw_call GetDomain)"
msg=$(gdbus call --system --dest org.dynmem1 --object-path /org/dynmem1 --method \
    org.dynmem1.Manager.SetDomainPolicy alpha "{'weight': <uint32 20000>}" false 2>&1)
grep -q 'weight' <<<"$msg" && pass "the error names the key" || fail "message: $msg"
mgr_call Rebalance >/dev/null
expect "nothing changed after bad input" "$before" "$(dump_overrides)"
expect "weight kept after bad input" "u 7000" "$(dom_prop alpha Weight)"
expect "no persisted file from runtime overrides" no "$([ -e "$tmp/state/overrides.yaml" ] && echo yes || echo no)"

# -- Reload: good, then broken (the running policy is kept)
expect "Reload" OK "$(mgr_call Reload)"
cp "$tmp/policy.yaml" "$tmp/policy.good"
echo "defaults: { weight: lots }" >>"$tmp/policy.yaml"
expect "Reload of a broken policy" org.dynmem1.Error.ReloadFailed "$(mgr_call Reload)"
mgr_call Rebalance >/dev/null
expect "running policy kept" 's "static"' "$(dom_prop delta Mode)"
# over 1 MiB: refused whole, with a clear error
cp "$tmp/policy.good" "$tmp/policy.yaml"
head -c 1100000 /dev/zero | tr '\0' '#' >>"$tmp/policy.yaml"
msg=$(gdbus call --system --dest org.dynmem1 --object-path /org/dynmem1 \
    --method org.dynmem1.Manager.Reload 2>&1)
grep -q 'ReloadFailed: ' <<<"$msg" && grep -q 'policy.yaml: larger than 1024 KiB' <<<"$msg" &&
    pass "Reload of a policy over 1 MiB: ReloadFailed, says why" || fail "big Reload: $msg"
mgr_call Rebalance >/dev/null
expect "running policy kept after the big file" 's "static"' "$(dom_prop delta Mode)"
# a thousand errors: the reply stays small and counts what it left out
cp "$tmp/policy.good" "$tmp/policy.yaml"
for i in $(seq 1500); do printf '  - name: d%s\n    weight: lots-%0100d\n' "$i" 0; done |
    sed '1i domains:' >"$tmp/policy.yaml"
msg=$(gdbus call --system --dest org.dynmem1 --object-path /org/dynmem1 \
    --method org.dynmem1.Manager.Reload 2>&1)
[ ${#msg} -lt 20000 ] && grep -q 'more errors not shown' <<<"$msg" &&
    pass "Reload with 1,500 errors: a ${#msg}-byte reply" || fail "Reload errors: ${#msg} bytes"
cp "$tmp/policy.good" "$tmp/policy.yaml"

# -- non-root: may read, may not change
# What a changing call could change: the daemon's switches, and each
# domain's policy and override flag (not demand or assigned, which move on
# their own from cycle to cycle).
control_state() {
    ctl dump | grep -E '^(paused|dry-run|interval|connect|overrides):'
    local d p
    for d in alpha bravo charlie delta; do
        for p in Mode Minimum Maximum Buffer Weight Overridden; do
            echo "$d $p $(dom_prop "$d" "$p")"
        done
    done
}
before=$(control_state)
nobody_call() {
    as_nobody gdbus call --system --dest org.dynmem1 --object-path /org/dynmem1 \
        --method "org.dynmem1.Manager.$1" "${@:2}" 2>&1
}
for call in "SetDomainPolicy|alpha|{'weight': <uint32 1>}|false" "ResetDomainPolicy|alpha" \
    "Reload" "SetPaused|true" "Rebalance"; do
    IFS='|' read -r -a argv <<<"$call"
    out=$(nobody_call "${argv[@]}")
    grep -q 'org.freedesktop.DBus.Error.AccessDenied: .*needs root' <<<"$out" &&
        pass "nobody refused by the daemon: ${argv[0]}" || fail "nobody ${argv[0]}: $out"
done
expect "nothing changed by refused calls" "$before" "$(control_state)"
as_nobody "$DYNMEMCTL" pause 2>"$tmp/err"
expect "dynmemctl as nobody: exit 1" 1 "$?"
grep -q '^dynmemctl: SetPaused: .*needs root' "$tmp/err" && pass "one clear line" ||
    fail "stderr: $(cat "$tmp/err")"
as_nobody "$DYNMEMCTL" status >/dev/null && pass "nobody may read (status)" || fail "nobody status"
as_nobody busctl --system get-property org.dynmem1 /org/dynmem1 org.dynmem1.Manager Budget \
    >/dev/null && pass "nobody may read properties" || fail "nobody properties"
as_nobody busctl --system introspect org.dynmem1 /org/dynmem1 >/dev/null &&
    pass "nobody may introspect" || fail "nobody introspect"

# -- dynmemctl: every command, usage and errors
expect "dynmemctl set" 0 "$(ctl set charlie weight=6000 buffer=25% >/dev/null; echo $?)"
expect "dynmemctl reset" 0 "$(ctl reset charlie; echo $?)"
expect "dynmemctl pause" 0 "$(ctl pause; echo $?)"
expect "paused" "b true" "$(mgr_prop Paused)"
expect "dynmemctl resume" 0 "$(ctl resume; echo $?)"
expect "dynmemctl rebalance" 0 "$(ctl rebalance; echo $?)"
expect "dynmemctl reload" 0 "$(ctl reload; echo $?)"
ctl set charlie weight=20000 2>"$tmp/err"
expect "dynmemctl set bad value: exit 1" 1 "$?"
expect "one line on stderr" 1 "$(wc -l <"$tmp/err")"
ctl show nosuch 2>/dev/null
expect "dynmemctl show unknown: exit 1" 1 "$?"
ctl set charlie weight 2>/dev/null
expect "dynmemctl set without '=': exit 2" 2 "$?"
ctl frobnicate 2>/dev/null
expect "dynmemctl unknown command: exit 2" 2 "$?"
ctl --bogus status 2>/dev/null
expect "dynmemctl unknown option: exit 2" 2 "$?"
ctl --help | grep -q '^Usage: dynmemctl' && pass "dynmemctl --help" || fail "--help"
expect "dynmemctl --version" "dynmemctl 0.1.0" "$(ctl --version)"
n=$(ctl top --iterations 2 | grep -c '^ Name ')
expect "dynmemctl top refreshes" 2 "$n"
ctl top --iterations 1 | grep -q $'\033' && fail "escape codes when not a tty" ||
    pass "no escape codes when not a tty"
ctl --json status | grep -q '"host_total": 34359738368' && pass "JSON sizes are bytes" ||
    fail "status --json"
ctl --json dump | grep -q '^{"dump": "dynmemd ' && pass "dump --json" || fail "dump --json"

# -- a flood of calls does not stall balancing
# Four clients, 2,500 calls each per round; rounds go on until at least
# 10,000 calls were answered and the flood lasted 2 s, so that a stall of
# the cycle timer would show as missing cycles.
before=$(cycles)
start=$(($(date +%s%N) / 1000000))
flood_ok=1
answered=0
while :; do
    pids=()
    for i in 1 2 3 4; do
        "$BUS_HELPER" flood 2500 >"$tmp/flood$i" 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || flood_ok=0; done
    answered=$((answered + 10000))
    took=$(($(date +%s%N) / 1000000 - start))
    [ "$flood_ok" = 1 ] || break
    [ "$took" -ge 2000 ] && break
done
after=$(cycles)
[ "$flood_ok" = 1 ] && pass "$answered calls from 4 clients all answered (${took} ms)" ||
    fail "flood: $(cat "$tmp"/flood*)"
# One cycle per 200 ms: at least half that rate while the flood lasted.
need=$((took / 400))
[ $((after - before)) -ge "$need" ] &&
    pass "cycles advanced during the flood ($before -> $after in $took ms, needed $need)" ||
    fail "balancing stalled: cycles $before -> $after in $took ms"

# -- persistence across a restart
expect "persist an override" 0 \
    "$(ctl set --persist charlie weight=9000 minimum=1536MiB buffer=15% "burst-headroom=learn 256MiB"; echo $?)"
grep -q '^    name: "charlie"$' "$tmp/state/overrides.yaml" && pass "file names the domain" ||
    fail "overrides.yaml: $(cat "$tmp/state/overrides.yaml")"
expect "no temp files left" "overrides.yaml" "$(ls -A "$tmp/state")"
stop_watch
stop_daemon
start_daemon
expect "persisted weight survives a restart" "u 9000" "$(dom_prop charlie Weight)"
expect "persisted minimum survives a restart" "t 1610612736" "$(dom_prop charlie Minimum)"
expect "persisted buffer survives a restart" "u 15" "$(dom_prop charlie Buffer)"
expect "persisted burst-headroom survives a restart" "t 268435456" "$(dom_prop charlie Headroom)"
expect "runtime override is gone after a restart" "u 5000" "$(dom_prop alpha Weight)"
ctl reload
ctl rebalance
expect "persisted override survives a reload" "u 9000" "$(dom_prop charlie Weight)"
ctl reset charlie
grep -q 0d5b2f6e "$tmp/state/overrides.yaml" && fail "reset left the entry in the file" ||
    pass "reset removes the persisted entry"

# -- a corrupt overrides file is moved aside and reported
stop_daemon
printf 'overrides:\n  not-a-uuid: [\n' >"$tmp/state/overrides.yaml"
start_daemon
ls "$tmp/state" | grep -q '^overrides.yaml.corrupt-' && pass "corrupt file moved aside" ||
    fail "state dir: $(ls "$tmp/state")"
ctl dump | grep -q '^overrides: .*moved aside' && pass "Dump reports the corrupt file" ||
    fail "Dump does not report it"
grep -q 'persistent overrides: ' "$tmp/daemon$daemon_runs.log" && pass "logged" || fail "not logged"

# -- a hostile domain name (CR, TAB, U+202E, C1 controls) is escaped in the
# daemon's log, dynmemctl's tables and Dump, and JSON stays valid JSON
stop_daemon
start_daemon --connect "test://$here/node-hostile.xml"
hostile=$'evil\rtab\trlo\u202enel\u0085csi\u009b2J"q\\b'
raw_controls() { LC_ALL=C grep -c $'[\r\t\x1b]\|\xe2\x80\xae\|\xc2[\x80-\x9f]' || true; }
ctl status >"$tmp/hostile.status"
expect "status table: no raw control characters" 0 "$(raw_controls <"$tmp/hostile.status")"
grep -qF 'evil\rtab\trlo\u202Enel\u0085csi\u009B2J\"q\\b' "$tmp/hostile.status" &&
    pass "status table shows the name escaped" || fail "status: $(cat -A "$tmp/hostile.status")"
ctl show 0d5b2f6e-1111-4a4a-9b9b-0000000000e1 >"$tmp/hostile.show"
expect "show: no raw control characters" 0 "$(raw_controls <"$tmp/hostile.show")"
ctl dump >"$tmp/hostile.dump"
expect "Dump: no raw control characters" 0 "$(raw_controls <"$tmp/hostile.dump")"
wait_until 10 grep -q 'memory .* by balloon' "$tmp/daemon$daemon_runs.log"
expect "daemon log: no raw control characters" 0 "$(raw_controls <"$tmp/daemon$daemon_runs.log")"
grep -qF 'evil\rtab\trlo\u202Enel\u0085csi\u009B2J\"q\\b: found' "$tmp/daemon$daemon_runs.log" &&
    pass "daemon log shows the name escaped" || fail "log: $(cat -A "$tmp/daemon$daemon_runs.log")"
for cmd in "status" "show 0d5b2f6e-1111-4a4a-9b9b-0000000000e1" "dump"; do
    # shellcheck disable=SC2086
    name=$(ctl --json $cmd | python3 -c '
import json, sys
d = json.load(sys.stdin)
if "domains" in d: print([x for x in d["domains"] if x["uuid"].endswith("e1")][0]["name"], end="")
elif "name" in d: print(d["name"], end="")
else: print("evil" if "evil" in d["dump"] else "?", end="")') &&
        pass "dynmemctl --json $cmd is valid JSON" || fail "dynmemctl --json $cmd: not JSON"
    [ "$cmd" = dump ] || expect "JSON $cmd gives the name back exactly" "$hostile" "$name"
done
expect "GetDomain finds the hostile name" \
    'o "/org/dynmem1/domain/_30d5b2f6e_2d1111_2d4a4a_2d9b9b_2d0000000000e1"' \
    "$(busctl --system call org.dynmem1 /org/dynmem1 org.dynmem1.Manager GetDomain s "$hostile")"

# -- a domain named like another domain's UUID does not take its place
real_path=/org/dynmem1/domain/_30d5b2f6e_2d1111_2d4a4a_2d9b9b_2d0000000000e2
expect "GetDomain(real's UUID) is the real domain" "o \"$real_path\"" \
    "$(busctl --system call org.dynmem1 /org/dynmem1 org.dynmem1.Manager GetDomain s \
        0d5b2f6e-1111-4a4a-9b9b-0000000000e2)"
expect "the real domain's object answers" 's "real"' \
    "$(busctl --system get-property org.dynmem1 "$real_path" org.dynmem1.Domain Name)"
n=$(busctl --system call org.dynmem1 /org/dynmem1 org.freedesktop.DBus.ObjectManager \
    GetManagedObjects | grep -o '/org/dynmem1/domain/[^"]*' | sort -u | wc -l)
expect "GetManagedObjects lists all three domains" 3 "$n"
ctl status | grep -q '^ real ' && pass "status lists the real domain" || fail "status: no real"
expect "persist an override by the real UUID" 0 \
    "$(ctl set --persist 0d5b2f6e-1111-4a4a-9b9b-0000000000e2 weight=1234; echo $?)"
grep -A1 '0d5b2f6e-1111-4a4a-9b9b-0000000000e2:$' "$tmp/state/overrides.yaml" | grep -q 'name: "real"' &&
    pass "the override is written under the real domain's UUID" ||
    fail "overrides.yaml: $(cat "$tmp/state/overrides.yaml")"
ctl rebalance
expect "the real domain got it" "u 1234" "$(busctl --system get-property org.dynmem1 "$real_path" \
    org.dynmem1.Domain Weight)"
ctl reset 0d5b2f6e-1111-4a4a-9b9b-0000000000e2

# -- golden dynmemctl output, on a dry-run daemon (nothing moves)
stop_daemon
rm -f "$tmp/state"/*
start_daemon --dry-run
# demand estimates settle over the first cycles
wait_until 10 sh -c "[ \$('$DYNMEMCTL' dump | sed -n 's/^cycles: //p') -ge 5 ]"
normalize() { sed -e 's/^\(dynmemd [^:]*\): .*/\1: STATUS/' -e 's/^cycles: .*/cycles: N/' \
    -e "s|$tmp|TMP|g" -e "s|$here|SRC|g" -e 's/"cycles": [0-9]*/"cycles": N/'; }
for g in "status" "show alpha" "--json status" "--json show bravo"; do
    file=$here/golden/$(tr ' ' '_' <<<"${g#--}").txt
    # shellcheck disable=SC2086
    ctl $g | normalize >"$tmp/out"
    if [ "$mode" = golden ]; then
        cp "$tmp/out" "$file"
    elif diff -u "$file" "$tmp/out"; then
        pass "golden: dynmemctl $g"
    else
        fail "golden: dynmemctl $g"
    fi
done

# ==== 2. the shipped bus policy ===============================================

stop_daemon
stop_bus
start_bus policy
start_daemon
as_nobody "$DYNMEMCTL" status >/dev/null && pass "policy: nobody may read" ||
    fail "policy: nobody cannot read"
as_nobody busctl --system introspect org.dynmem1 /org/dynmem1 >/dev/null &&
    pass "policy: nobody may introspect" || fail "policy: introspect"
out=$(as_nobody gdbus call --system --dest org.dynmem1 --object-path /org/dynmem1 \
    --method org.dynmem1.Manager.SetPaused true 2>&1)
grep -q 'AccessDenied' <<<"$out" && pass "policy: the bus refuses nobody's SetPaused" ||
    fail "policy: $out"
expect "policy: root may change" OK "$(mgr_call SetPaused false)"
stop_daemon
# only root may own the name (checked while the daemon is gone)
as_nobody busctl --system call org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus RequestName su org.dynmem1 4 >"$tmp/own" 2>&1 &&
    fail "policy: nobody owned org.dynmem1: $(cat "$tmp/own")" ||
    pass "policy: nobody may not own org.dynmem1"

# ==== 3. no bus at all ========================================================

stop_bus
DBUS_SYSTEM_BUS_ADDRESS=unix:path=$tmp/no-such-socket
"$DYNMEMD" --config "$tmp/policy.yaml" --connect "test://$here/node.xml" --proc-root "$tmp/proc" \
    --state-dir "$tmp/state" --require-bus >"$tmp/daemon-nobus.log" 2>&1
expect "--require-bus without a bus: exit 4" 4 "$?"
ctl status 2>/dev/null
expect "dynmemctl without a daemon: exit 3" 3 "$?"
"$DYNMEMD" --config "$tmp/policy.yaml" --connect "test://$here/node.xml" --proc-root "$tmp/proc" \
    --state-dir "$tmp/state" >"$tmp/daemon-nobus.log" 2>&1 &
daemon_pid=$!
wait_until 10 grep -q 'memory .* by balloon' "$tmp/daemon-nobus.log" &&
    grep -q 'balancing without D-Bus' "$tmp/daemon-nobus.log" &&
    pass "without a bus the daemon says so and balances" ||
    fail "no balancing without a bus: $(cat "$tmp/daemon-nobus.log")"
stop_daemon

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
