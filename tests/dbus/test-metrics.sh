#!/usr/bin/env bash
# The Prometheus metrics file (issue 13): dynmemd on a private dbus-daemon
# and libvirt's test driver writes daemon.metrics-file; its figures are the
# D-Bus properties', promtool (Prometheus' own parser and linter) accepts
# it, hostile domain names included, the collector's user can read it
# whatever the umask, a reload moves or stops it, an unwritable path is
# reported once and balancing goes on, and the file goes when dynmemd stops.
set -uo pipefail
: "${DYNMEMD:?}" "${DYNMEMCTL:?}" "${SRCDIR:?}"
# shellcheck source=../lib/common.sh
. "$SRCDIR/tests/lib/common.sh"
here=$SRCDIR/tests/dbus

for tool in dbus-daemon busctl; do
    command -v "$tool" >/dev/null || skip_or_fail "$tool is missing"
done
promtool=$(find_promtool) || skip_or_fail "promtool is not available (./dev fetches it)"

tmp=$(mktemp -d /tmp/dynmem-metrics-test.XXXXXX)
daemon_pid=
cleanup() {
    [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
    stop_private_bus
    if [ "$failures" -gt 0 ] || [ "${KEEP_TMP:-}" ]; then
        sed 's/^/  | /' "$tmp"/daemon*.log >&2 2>/dev/null
    fi
    rm -rf "$tmp"
    print_failures
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mkdir -p "$tmp/proc" "$tmp/out" "$tmp/moved"
cp "$here/meminfo" "$tmp/proc/meminfo"
printf 'some avg10=2.50 avg60=1.00 avg300=0.50 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n' \
    >"$tmp/proc/pressure-memory"
mkdir -p "$tmp/proc/pressure" && mv "$tmp/proc/pressure-memory" "$tmp/proc/pressure/memory"
policy() { # policy METRICS_FILE
    sed "s|^  interval: 200ms$|  interval: 200ms\n  metrics-file: $1\n  metrics-interval: 1s|" \
        "$here/policy.yaml" >"$tmp/policy.yaml"
}
runs=0
start_daemon() { # start_daemon NODE_XML
    runs=$((runs + 1))
    (umask 077 && exec "$DYNMEMD" --config "$tmp/policy.yaml" --connect "test://$1" \
        --proc-root "$tmp/proc" --dry-run --require-bus >"$tmp/daemon$runs.log" 2>&1) &
    daemon_pid=$!
    wait_until 15 "$DYNMEMCTL" dump || {
        fail "dynmemd did not come up"
        exit 1
    }
}
stop_daemon() {
    kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
    daemon_pid=
}
# value FILE SERIES: the value of one series (name and labels as written)
value() { awk -v s="$2" 'index($0, s " ") == 1 { print substr($0, length(s) + 2) }' "$1"; }
mgr_prop() {
    busctl --system get-property org.dynmem1 /org/dynmem1 org.dynmem1.Manager "$1" | awk '{ print $2 }'
}
dom_prop() {
    local path
    path=$(busctl --system call org.dynmem1 /org/dynmem1 org.dynmem1.Manager GetDomain s "$1" |
        sed 's/^o "\(.*\)"$/\1/')
    busctl --system get-property org.dynmem1 "$path" org.dynmem1.Domain "$2" | sed 's/^[a-z] //; s/^"\(.*\)"$/\1/'
}

start_private_bus "$tmp" "$bus_rules_open" || exit 1
prom=$tmp/out/dynmem.prom
policy "$prom"
start_daemon "$here/node.xml"

# -- written, readable by others, accepted by Prometheus' parser
wait_until 15 test -s "$prom" && pass "the metrics file is written" || fail "no metrics file"
expect "mode 0644 under a umask of 077 (the collector's user reads it)" 644 "$(stat -c %a "$prom")"
cp "$prom" "$tmp/snap.prom"
# promtool_accepts WHAT FILE
promtool_accepts() {
    if "$promtool" check metrics <"$2" >"$tmp/promtool.log" 2>&1; then
        pass "promtool check metrics accepts $1"
    else
        sed 's/^/  | /' "$tmp/promtool.log"
        fail "promtool check metrics refused $1"
    fi
}
promtool_accepts "the file" "$tmp/snap.prom"

# -- the documented alert rules are valid
if "$promtool" check rules "$SRCDIR/docs/prometheus/alerts.yml" >"$tmp/rules.log" 2>&1; then
    pass "promtool check rules accepts docs/prometheus/alerts.yml"
else
    sed 's/^/  | /' "$tmp/rules.log"
    fail "docs/prometheus/alerts.yml is not a valid rule file"
fi

# -- the same figures as on D-Bus (a dry run: nothing moves between reads)
expect "host total as HostTotal" "$(mgr_prop HostTotal)" \
    "$(value "$tmp/snap.prom" dynmem_host_memory_total_bytes)"
expect "budget as Budget" "$(mgr_prop Budget)" "$(value "$tmp/snap.prom" dynmem_host_budget_bytes)"
expect "assigned as Assigned" "$(mgr_prop Assigned)" \
    "$(value "$tmp/snap.prom" dynmem_host_assigned_bytes)"
expect "demand as Demand" "$(mgr_prop Demand)" "$(value "$tmp/snap.prom" dynmem_host_demand_bytes)"
expect "admittable as Admittable" "$(mgr_prop Admittable)" \
    "$(value "$tmp/snap.prom" dynmem_host_admittable_bytes)"
expect "unmet demand as UnmetDemand" "$(mgr_prop UnmetDemand)" \
    "$(value "$tmp/snap.prom" dynmem_host_unmet_demand_bytes)"
expect "the host's state" 1 \
    "$(value "$tmp/snap.prom" "dynmem_host_state{state=\"$(mgr_prop State | tr -d '"')\"}")"
expect "host PSI as a ratio" 0.0250 "$(value "$tmp/snap.prom" dynmem_host_memory_psi_some_avg10_ratio)"
expect "dry-run shown" 1 "$(value "$tmp/snap.prom" dynmem_dry_run)"
n=0
for d in alpha bravo charlie delta; do
    uuid=$(dom_prop "$d" Uuid)
    l="{domain=\"$d\",uuid=\"$uuid\"}"
    for pair in assigned:Assigned demand:Demand target:Target minimum:Minimum \
        maximum:Maximum startup:Startup absorbable:Absorbable headroom:Headroom; do
        [ "$(value "$tmp/snap.prom" "dynmem_domain_${pair%%:*}_bytes$l")" = "$(dom_prop "$d" "${pair#*:}")" ] ||
            fail "$d: dynmem_domain_${pair%%:*}_bytes is not its ${pair#*:} property"
        n=$((n + 1))
    done
    expect "$d: weight" "$(dom_prop "$d" Weight)" "$(value "$tmp/snap.prom" "dynmem_domain_weight$l")"
    expect "$d: buffer as a ratio" "$(awk -v p="$(dom_prop "$d" Buffer)" 'BEGIN { printf "%.2f", p / 100 }')" \
        "$(value "$tmp/snap.prom" "dynmem_domain_buffer_ratio$l")"
    st=$(dom_prop "$d" Status)
    expect "$d: status $st" 1 \
        "$(value "$tmp/snap.prom" "dynmem_domain_status{domain=\"$d\",uuid=\"$uuid\",status=\"$st\"}")"
done
pass "$n per-domain byte figures compared with the Domain properties"
planned=$(grep -c "would change memory .* by balloon" "$tmp/daemon1.log")
got=$(value "$prom" 'dynmem_changes_total{mechanism="balloon",result="not_applied"}')
[ "${got:-0}" -ge 1 ] && pass "dry-run changes counted as not_applied ($got, $planned logged so far)" ||
    fail "no dry-run change counted (dynmem_changes_total: ${got:-none})"
# (polled: each try reads the file again)
cycles_in_file_past() { [ "$(value "$prom" dynmem_cycles_total)" -gt "$1" ] 2>/dev/null; }
reported() { grep -q "$1" "$tmp/daemon1.log"; }
cycles_past() { [ "$("$DYNMEMCTL" dump | sed -n 's/^cycles: //p')" -gt "$1" ] 2>/dev/null; }
c1=$(value "$prom" dynmem_cycles_total)
wait_until 10 cycles_in_file_past "${c1:-0}" &&
    pass "rewritten every metrics-interval (cycles went past $c1)" || fail "the file is not rewritten"

# -- a reload moves it; the old file goes
policy "$tmp/moved/dynmem.prom"
"$DYNMEMCTL" reload >/dev/null
wait_until 10 test -s "$tmp/moved/dynmem.prom" && pass "a reload writes the new path" ||
    fail "the new path is not written after a reload"
wait_until 10 test ! -e "$prom" && pass "... and removes the old file" || fail "the old file stays"
# -- switched off by a reload
policy none
"$DYNMEMCTL" reload >/dev/null
wait_until 10 test ! -e "$tmp/moved/dynmem.prom" && pass "metrics-file: none removes it" ||
    fail "the file stays with metrics-file: none"
# -- an unwritable path: said once, balancing goes on
policy "$tmp/no-such-dir/dynmem.prom"
"$DYNMEMCTL" reload >/dev/null
c1=$("$DYNMEMCTL" dump | sed -n 's/^cycles: //p')
wait_until 10 reported "metrics: cannot create a file in $tmp/no-such-dir" &&
    pass "an unwritable metrics path is reported" || fail "no report of the unwritable path"
wait_until 15 cycles_past $((c1 + 15)) &&
    pass "balancing goes on" || fail "cycles stopped"
expect "... reported once, not every interval" 1 "$(grep -c "metrics: cannot create" "$tmp/daemon1.log")"
# -- a bad path is refused by the policy check, the running one kept
printf 'daemon:\n  metrics-file: relative/dynmem.prom\n' >"$tmp/bad.yaml"
"$DYNMEMD" --check-config "$tmp/bad.yaml" >/dev/null 2>"$tmp/bad.err" &&
    fail "a relative metrics-file accepted" ||
    { grep -q "expected an absolute file path" "$tmp/bad.err" && pass "a relative metrics-file refused: $(head -1 "$tmp/bad.err")" ||
        fail "unexpected error: $(cat "$tmp/bad.err")"; }

# -- stopped, the file goes
policy "$prom"
"$DYNMEMCTL" reload >/dev/null
wait_until 10 test -s "$prom" || fail "not written again"
stop_daemon
[ ! -e "$prom" ] && pass "dynmemd stopping removes the file" || fail "the file outlives dynmemd"

# -- hostile names: escaped so that Prometheus reads them
policy "$prom"
start_daemon "$here/node-hostile.xml"
wait_until 15 test -s "$prom" || fail "no metrics file for the hostile node"
cp "$prom" "$tmp/hostile.prom"
promtool_accepts "the hostile names' metrics" "$tmp/hostile.prom"
expect "one assigned series per domain" "$(value "$tmp/hostile.prom" dynmem_domains)" \
    "$(grep -c '^dynmem_domain_assigned_bytes{' "$tmp/hostile.prom")"
stop_daemon

[ "$failures" = 0 ]
