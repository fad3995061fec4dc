#!/bin/bash
# Figures of the host image (no pass/fail): its size, boot to the first
# accepted heartbeat under QEMU TCG (the founder from its seed; a joiner,
# ceremony included), and WireGuard throughput between two host VMs over the
# kernel module (the mesh, osi0) against wireguard-go (a second tunnel, wgo0,
# between the same VMs) in the same run. Usage: bench/host-image.sh [BUILD]
# (OSI_HOST_IMAGE=PATH uses that image, else make host-image, cached).
export OSI_BUILD=${1:-${OSI_BUILD:-build}}
export OSI_SOURCE=${OSI_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}
SRC=$OSI_SOURCE
source "$OSI_SOURCE/tests/integration/lib.sh"
source "$OSI_SOURCE/tests/integration/host-image-lib.sh"
[[ $(id -u) -eq 0 ]] || skip "needs root"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing"
[[ -c /dev/net/tun ]] || skip "no /dev/net/tun (the VMs' taps)"
VMS=2
image_or_skip
at_exit stop_vms
echo "== host image: $(du -h --apparent-size "$IMG" | cut -f1) raw, $(du -h "$IMG" | cut -f1) allocated"

live() { qga "$1" os-infrastructure --fleet 10.77.0.1:7102 status 2>/dev/null | grep -q "^| host-$2 *| live"; }
t0=$(date +%s)
seed 1 mode=genesis name=host-1 address=192.168.77.1/24 endpoint=192.168.77.1:51820 \
	role=fleet invites=1 confirm=code
boot 1
wait_until 600 live 1 1 || die "host-1 never live"
echo "== founder: boot to its first accepted heartbeat under TCG: $(($(date +%s) - t0)) s"
has_code() { grep -qa '^Code: ' "$T/vm1.console"; }
wait_until 120 has_code || die "vm1 printed no code"
code=$(grep -a '^Code: ' "$T/vm1.console" | head -1 | awk '{ print $2 }' | tr -d '\r')
t1=$(date +%s)
seed 2 mode=join name=host-2 address=192.168.77.2/24 endpoint=192.168.77.2:51820 \
	via=192.168.77.1:7104 code="$code" confirm=code
boot 2
wait_until 600 live 1 2 || die "host-2 never live"
echo "== joiner: boot to its first accepted heartbeat (ceremony included): $(($(date +%s) - t1)) s"

iperf() { # iperf SERVER_ADDR: TCP from vm2 to vm1, Mbit/s
	qga 1 sh -c 'pkill -x iperf3; iperf3 -s -D -1 >/dev/null 2>&1' >/dev/null
	sleep 1
	qga 2 iperf3 -c "$1" -t 8 -J | jq -r '.end.sum_received.bits_per_second / 1e6 | floor'
}
echo "== WireGuard throughput vm2 -> vm1 (iperf3 TCP, 8 s, TCG; the emulation bounds both)"
echo "kernel module (osi0, mesh):  $(iperf 10.77.0.1) Mbit/s"
for n in 1 2; do
	qga "$n" sh -c 'umask 077; wg genkey > /run/wgo.key; wg pubkey < /run/wgo.key > /run/wgo.pub'
done
pub1=$(qga 1 cat /run/wgo.pub) pub2=$(qga 2 cat /run/wgo.pub)
for n in 1 2; do
	other=$((3 - n))
	peer=$([[ $n == 1 ]] && echo "$pub2" || echo "$pub1")
	qga "$n" sh -c "wireguard-go wgo0 >/dev/null 2>&1 &&
		wg set wgo0 listen-port 51900 private-key /run/wgo.key peer '$peer' \
			endpoint 192.168.77.$other:51900 allowed-ips 10.99.0.$other/32 &&
		ip addr add 10.99.0.$n/24 dev wgo0 && ip link set wgo0 up" ||
		die "wireguard-go on vm$n"
done
echo "wireguard-go (wgo0):         $(iperf 10.99.0.1) Mbit/s"
