#!/bin/bash
# Makes a fresh Debian or Ubuntu machine on the premises (a laptop, a server
# in the office) a member of the mesh: libvirt and QEMU for guests, WireGuard,
# this project built and installed, then the first machine's genesis or a
# join with the short code another member printed.
#
#   provision-vm-infrastructure-onprem.sh genesis [--name N] [--endpoint HOST:PORT] ...
#   provision-vm-infrastructure-onprem.sh join CODE (--via HOST:PORT | --listen ADDR:PORT)
#                                         [--role relay|node] [--endpoint HOST:PORT] ...
#
# Options after the mode go to `os-infrastructure --genesis` / `--join`
# unchanged (see their --help). Behind NAT, give no --endpoint: the machine
# keeps its peers alive itself and is reached through the relay.
# shellcheck source=dist/provision-common.sh
source "$(dirname "$0")/provision-common.sh"

[[ $# -ge 1 && ( $1 == genesis || $1 == join ) ]] ||
	fail "usage: $0 genesis|join [CODE] [OPTIONS] (see the header of this script)"
mode=$1
shift
need_root
apt_install "${BUILD_PACKAGES[@]}" "${RUN_PACKAGES[@]}" libvirt-daemon-system qemu-system-x86 qemu-utils
wireguard_engine
build_and_install
if [[ -d /run/systemd/system ]]; then
	systemctl enable --now libvirtd >/dev/null 2>&1 || say "libvirtd not started: guests need it"
fi
port=51820
for ((i = 1; i <= $#; i++)); do
	[[ ${!i} == --port ]] && { j=$((i + 1)); port=${!j}; }
done
open_firewall "$port"
run_osi "$mode" "$@"
