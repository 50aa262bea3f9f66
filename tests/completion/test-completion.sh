#!/usr/bin/env bash
# dynmemctl's bash completion (data/bash-completion/dynmemctl): what it
# offers after each word. bash-completion's _init_completion is replaced by
# a minimal one, and dynmemctl's status by the JSON status golden file of
# the dbus suite (the output the completion parses for domain names); its
# `keys` is the real dynmemctl's ($DYNMEMCTL).
set -uo pipefail
# shellcheck source=../lib/common.sh
. "$SRCDIR/tests/lib/common.sh"

_init_completion() {
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]:-}
}
compopt() { :; } # only valid while bash itself completes
dynmemctl() {
    case $* in
    "--json status") sed 's/"cycles": N/"cycles": 1/' "$SRCDIR/tests/dbus/golden/json_status.txt" ;;
    keys) "$DYNMEMCTL" keys ;;
    esac
}
# shellcheck source=../../data/bash-completion/dynmemctl
. "$SRCDIR/data/bash-completion/dynmemctl"

# offers WORDS...: what completing the last word (may be empty) offers, sorted
offers() {
    COMP_WORDS=(dynmemctl "$@")
    COMP_CWORD=$#
    COMPREPLY=()
    _dynmemctl
    printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}

expect "commands" "dump keys pause rebalance reload reset resume set show status top" "$(offers "")"
expect "commands starting re" "rebalance reload reset resume" "$(offers re)"
expect "options" "--help --iterations --json --persist --version" "$(offers --)"
expect "a command after an option" "set show status" "$(offers --json s)"
expect "domains for show" "alpha bravo charlie delta" "$(offers show "")"
expect "domains for set, by prefix" "bravo" "$(offers -p set b)"
expect "nothing after show's domain" "" "$(offers show alpha "")"
expect "after set's domain, every key dynmemctl keys lists, each once" \
    "$("$DYNMEMCTL" keys | awk '{ print $1 "=" }' | sort | tr '\n' ' ' | sed 's/ $//')" \
    "$(offers set alpha "")"
expect "a key by prefix" "buffer-min= buffer= burst-headroom=" "$(offers set alpha b)"
expect "mode's values" "mode=dynamic mode=static" "$(offers set alpha mode=)"
expect "no value guessed for a size" "" "$(offers set alpha minimum=5)"
expect "no domain for status" "" "$(offers status "")"
expect "nothing for --iterations' value" "" "$(offers top -n "")"

print_failures
[ "$failures" = 0 ]
