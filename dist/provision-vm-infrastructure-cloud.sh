#!/bin/bash
# Makes a fresh Debian or Ubuntu cloud instance the mesh's fleet node: it
# joins (or founds) the mesh with the fleet and relay roles and a public
# endpoint, and runs service-vm-fleet next to service-vm-host. As the relay
# it carries the traffic between members that are both behind NAT (two
# laptops have no other path to each other). The inviter grants the fleet
# role by name: `os-infrastructure invite --grant fleet`.
#
#   provision-vm-infrastructure-cloud.sh join CODE [--listen 0.0.0.0:7104 | --via HOST:PORT]
#                                        [--endpoint PUBLIC-IP:51820] ...
#   provision-vm-infrastructure-cloud.sh genesis [--endpoint PUBLIC-IP:51820] ...
#
# Without --endpoint the instance's address on its default route is used;
# behind the provider's 1:1 NAT give the public address. A laptop founder
# behind NAT cannot be reached: join with --listen and let it connect out
# (`os-infrastructure invite --connect THIS-HOST:7104` on the laptop).
# The security group must let in udp 51820 (and tcp 7104 during the join).
# shellcheck source=dist/provision-common.sh
source "$(dirname "$0")/provision-common.sh"

[[ $# -ge 1 && ( $1 == genesis || $1 == join ) ]] ||
	fail "usage: $0 genesis|join [CODE] [OPTIONS] (see the header of this script)"
mode=$1
shift
need_root
apt_install "${BUILD_PACKAGES[@]}" "${RUN_PACKAGES[@]}"
wireguard_engine
build_and_install
args=("$@")
if [[ " $* " != *" --endpoint "* ]]; then
	addr=$(ip -4 route get 1.1.1.1 | awk '{ for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1) }')
	[[ -n $addr ]] || fail "cannot tell this instance's address: give --endpoint"
	say "endpoint $addr:51820 (give --endpoint if the public address differs)"
	args+=(--endpoint "$addr:51820")
fi
[[ " $* " == *" --role "* ]] || args+=(--role fleet,relay)
open_firewall 51820
run_osi "$mode" "${args[@]}"
