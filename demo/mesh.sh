#!/bin/bash
# make demo, act 1: the fleet forms itself. In network namespaces joined by an
# "internet", laptop-a (behind NAT, no inbound) runs --genesis; laptop-b joins
# as relay and the cloud as fleet, each through the pairing ceremony (CPace,
# the SAS compared on both "screens", scripted here); WireGuard (wireguard-go)
# comes up on each; service-vm-fleet on the cloud hears all three over the
# mesh. This is the start of tests/integration/mesh-nat.sh, stopped once the
# fleet has formed; everything it started is stopped at its end.
BUILD=$(realpath "${1:-build}")
OSI_DEMO=1 OSI_BUILD=$BUILD OSI_SOURCE=$(realpath "$(dirname "$0")/..") \
	exec "$(dirname "$0")/../tests/integration/mesh-nat.sh"
