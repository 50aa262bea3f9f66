#!/usr/bin/env bash
# e2e: the memory paths dynmem relies on work on this host (balloon stats,
# balloon down and up, virtio-mem up and down, DIMM hot-add), without the
# daemon: smoke.sh, with libvirtd started for it when needed.
set -uo pipefail
# shellcheck source=lib.sh
. "$SRCDIR/tests/e2e/lib.sh"
e2e_setup
"$SRCDIR/tests/e2e/smoke.sh"
