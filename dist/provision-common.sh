# shellcheck shell=bash
# Shared by provision-vm-infrastructure-onprem.sh and -cloud.sh; sourced.
# Installs what a fresh Debian or Ubuntu host needs, builds and installs the
# project from this source tree (prefix /usr/local: programs in bin, the
# agent's helpers in libexec/os-infrastructure, guest manifests in
# share/os-infrastructure/images; systemd units, configured with these paths,
# in systemd's unit directory; the user osi and its directories from
# sysusers.d and tmpfiles.d), then runs --genesis or --join.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC2034 # used by the scripts that source this
BUILD_PACKAGES=(meson ninja-build pkg-config gcc libsodium-dev libjansson-dev libuv1-dev
	libsqlite3-dev libvirt-dev libmnl-dev libncurses-dev libarchive-dev libnftables-dev libcurl4-openssl-dev libssl-dev scdoc libsystemd-dev)
# shellcheck disable=SC2034
RUN_PACKAGES=(wireguard-tools iproute2 nftables procps)

say() { printf '== %s\n' "$*"; }
fail() { printf 'provision: %s\n' "$*" >&2; exit 1; }

need_root() {
	[[ $(id -u) == 0 ]] || fail "run as root (sudo $0 ...)"
	. /etc/os-release 2>/dev/null || true
	[[ ${ID:-} == debian || ${ID:-} == ubuntu || ${ID_LIKE:-} == *debian* ]] ||
		fail "this script knows Debian and Ubuntu only (found ${PRETTY_NAME:-unknown})"
}

apt_install() {
	say "installing: $*"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# WireGuard: the kernel's when it has it (Ubuntu, Debian >= 11 kernels),
# else wireguard-go.
wireguard_engine() {
	if modprobe wireguard 2>/dev/null || [[ -d /sys/module/wireguard ]]; then
		say "kernel WireGuard present"
	else
		apt_install wireguard-go || fail "no kernel WireGuard and no wireguard-go package"
	fi
}

build_and_install() {
	say "building $SRC"
	meson setup /var/tmp/os-infrastructure-build "$SRC" --prefix /usr/local \
		--buildtype release -Dtests=false --wipe >/dev/null ||
		meson setup /var/tmp/os-infrastructure-build "$SRC" --prefix /usr/local \
			--buildtype release -Dtests=false
	ninja -C /var/tmp/os-infrastructure-build
	ninja -C /var/tmp/os-infrastructure-build install >/dev/null
	system_user
	if [[ -d /run/systemd/system ]]; then
		systemctl daemon-reload
		systemctl enable --now service-vm-host-virt.socket >/dev/null
	fi
}

# The services' user osi (sysusers.d) and the owners and modes of the state
# and runtime directories (tmpfiles.d), both installed with the units.
system_user() {
	local sysusers tmpfiles
	sysusers=$(pkg-config --variable=sysusersdir systemd 2>/dev/null || echo /usr/lib/sysusers.d)
	tmpfiles=$(pkg-config --variable=tmpfilesdir systemd 2>/dev/null || echo /usr/lib/tmpfiles.d)
	say "system user osi; /var/lib and /run directories"
	systemd-sysusers "$sysusers/os-infrastructure.conf"
	systemd-tmpfiles --create "$tmpfiles/os-infrastructure.conf"
}

# Opens WireGuard (and, while it runs, nothing else) where ufw guards the host.
open_firewall() {
	local port=$1
	if command -v ufw >/dev/null && ufw status | grep -q 'Status: active'; then
		say "ufw: allowing udp $port (WireGuard) and tcp 7104 (the pairing ceremony)"
		ufw allow "$port/udp" >/dev/null
		ufw allow 7104/tcp >/dev/null
		say "close tcp 7104 again once every machine has joined: ufw delete allow 7104/tcp"
	fi
}

# run_osi genesis|join ARGS...: the ceremony is interactive (the SAS).
run_osi() {
	local mode=$1
	shift
	if [[ $mode == genesis ]]; then
		exec /usr/local/bin/os-infrastructure --genesis "$@"
	fi
	[[ $# -ge 1 ]] || fail "join needs the short code"
	local code=$1
	shift
	exec /usr/local/bin/os-infrastructure --join "$code" "$@"
}
