#!/bin/bash
# make bench (move): `vm move` of a Totebox whose data volume is 2 GiB, half
# of it written with random bytes (MOVE_BENCH_MIB=1024), between two members
# over real wireguard-go, against nc copying the same qcow2 file over the
# same mesh right after each move; MOVE_BENCH_ROUNDS (3) rounds, the guest
# moving back and forth; prints each round, the medians, MiB/s and the
# ratio of the medians. The set-up is
# tests/integration/vm-move.sh's (root, two private libvirtds); the move is
# timed end to end (a clean shutdown of a guest already off; the export, the
# transfer and the import, which run at once, each end hashing; the checks
# of the signed manifest, the define and the start), and up to its
# "transferred and verified" line (the guest defined on the target, not yet
# started); nc only the copy, and the copy with its sync. The move's lines
# are printed with their times (ms since the start).
set -euo pipefail
BUILD=$(realpath "${1:-build}")
SRC=$(realpath "$(dirname "$0")/..")
export OSI_BUILD=$BUILD OSI_SOURCE=$SRC OSI_VIRT_TOOL=$BUILD/tests/virt-tool \
	OSI_HELPER_CALL=$BUILD/tests/helper-call MOVE_BENCH_MIB=${MOVE_BENCH_MIB:-1024}
exec "$SRC/tests/integration/vm-move.sh"
