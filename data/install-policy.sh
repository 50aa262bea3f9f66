#!/bin/sh
# meson install helper: put the example policy in place only when the
# operator has none (honours DESTDIR).
set -eu
confdir="${DESTDIR:-}$1"
example="${DESTDIR:-}$2"
mkdir -p "$confdir"
if [ ! -e "$confdir/policy.yaml" ]; then
    install -m 0644 "$example" "$confdir/policy.yaml"
    echo "Installed $confdir/policy.yaml"
else
    echo "Kept existing $confdir/policy.yaml"
fi
