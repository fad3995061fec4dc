#!/bin/bash
# The project's nftables table against an underlay neighbour that routes a
# node's mesh address through the node's LAN address (Linux accepts a packet
# for any local address on any interface): real connections, real
# wireguard-go, the real kernel's nftables.
#
#  ┌──── $nm (member) ────┐         ┌─────────── $nn (node) ───────────┐        ┌── $nb (neighbour) ──┐
#  │ $wgm 10.242.0.2/32   │ tunnel  │ $wgn 10.242.0.1/32               │        │ route 10.242.0.1/32 │
#  │ vm 192.168.242.2 ────┼─────────┼─ vn 192.168.242.1                │        │   via 192.168.243.1 │
#  └──────────────────────┘         │ vb 192.168.243.1 ────────────────┼────────┼─ vb 192.168.243.3   │
#                                   │ listeners: 10.242.0.1:7102,7103, │        └─────────────────────┘
#                                   │ 7105, 8022; *:7104 (ceremony)     │
#                                   └──────────────────────────────────┘
set -euo pipefail
source "$(dirname "$0")/lib.sh"

WG=${OSI_WG_TOOL:?OSI_WG_TOOL must point at the wg-tool test program}
FW=${OSI_FW_TOOL:?OSI_FW_TOOL must point at the fw-tool test program}
nm=osi-fwm-$$ nn=osi-fwn-$$ nb=osi-fwb-$$ ng=osi-fwg-$$
wgm=osfm-$$ wgn=osfn-$$
declare -a WG_PIDS=()

m() { in_ns "$nm" "$@"; }
n() { in_ns "$nn" "$@"; }
b() { in_ns "$nb" "$@"; }
g() { in_ns "$ng" "$@"; }

# wireguard-go by the PIDs wg-tool printed; lib.sh's cleanup stops the
# listeners in PIDS and deletes our namespaces.
stop_wg() { wg_go_stop "${WG_PIDS[@]}"; }
at_exit stop_wg

[[ $(id -u) == 0 && -c /dev/net/tun ]] || skip "needs root and /dev/net/tun"
PY=$(command -v /usr/bin/python3 python3 | head -n1)
for prog in wireguard-go ip python3 nft; do
	command -v $prog >/dev/null || die "$prog not installed (Debian: wireguard-go iproute2 python3 nftables)"
done

netns_add "$nm" "$nn" "$nb" "$ng"
ip link add vm netns "$nm" type veth peer name vn netns "$nn"
ip link add vb netns "$nn" type veth peer name vb netns "$nb"
m ip addr add 192.168.242.2/24 dev vm; m ip link set vm up
n ip addr add 192.168.242.1/24 dev vn; n ip link set vn up
n ip addr add 192.168.243.1/24 dev vb; n ip link set vb up
b ip addr add 192.168.243.3/24 dev vb; b ip link set vb up
b ip route add 10.242.0.1/32 via 192.168.243.1
# A guest stand-in behind the node's NAT, as on libvirt's default network:
# what it sends into the mesh leaves as the node's member address.
ip link add vg netns "$nn" type veth peer name vg netns "$ng"
n ip addr add 192.168.244.1/24 dev vg; n ip link set vg up
g ip addr add 192.168.244.2/24 dev vg; g ip link set vg up
g ip route add default via 192.168.244.1
n sysctl -qw net.ipv4.ip_forward=1
n nft add table ip osi_test_nat
n nft add chain ip osi_test_nat post '{ type nat hook postrouting priority srcnat; }'
n nft add rule ip osi_test_nat post ip saddr 192.168.244.0/24 masquerade

pubm=$("$WG" genkey "$T/keym")
pubn=$("$WG" genkey "$T/keyn")
WG_PIDS+=("$(m "$WG" up "$wgm" --log "$T/wgm.log" 10.242.0.2/32 --route 10.242.0.0/24)")
WG_PIDS+=("$(n "$WG" up "$wgn" --log "$T/wgn.log" 10.242.0.1/32 --route 10.242.0.0/24)")
n "$WG" set "$wgn" --private-key "$T/keyn" --listen-port 51831 --peer "$pubm" --allowed-ip 10.242.0.2/32
m "$WG" set "$wgm" --private-key "$T/keym" --listen-port 51832 \
	--peer "$pubn" --endpoint 192.168.242.1:51831 --allowed-ip 10.242.0.1/32 --keepalive 1
wait_until 15 m ping -c 1 -W 1 10.242.0.1 || die "no tunnel from the member to the node"
pass "wireguard-go tunnel member -> node"

# Listeners that answer "ok" to every connection: the control-plane ports on
# the mesh address, the ceremony on every address, and a port of the
# operator's own (8022) that the project must not touch.
listen() { # listen ADDR PORT [NS] (ip netns exec execs python3, so $! is python3)
	ip netns exec "${3:-$nn}" "$PY" -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
for _ in range(100):  # the address may still be settling on a fresh interface
    try:
        s.bind((sys.argv[1], int(sys.argv[2]))); break
    except OSError:
        time.sleep(0.1)
s.listen(16)
while True:
    c, _ = s.accept(); c.sendall(b"ok\n"); c.close()
' "$1" "$2" &
	PIDS[listen-$1-$2]=$!
}
for p in 7102 7103 7105 8022; do listen 10.242.0.1 $p; done
for p in 7105 8022; do listen 10.242.0.2 $p "$nm"; done
listen 0.0.0.0 7104
reach() { # reach NSFN ADDR PORT: a real TCP connection that gets "ok"
	[[ $("$1" timeout 2 bash -c "exec 3<>/dev/tcp/$2/$3 && head -n1 <&3" 2>/dev/null) == ok ]]
}
for p in 7102 7103 7104 7105 8022; do
	wait_until 20 reach n 10.242.0.1 $p || die "the listener on 10.242.0.1:$p did not start"
done
for p in 7105 8022; do
	wait_until 20 reach m 10.242.0.2 $p || die "the listener on 10.242.0.2:$p did not start"
done

# Without the table, the finding as reported: the neighbour reaches ledger sync.
reach b 10.242.0.1 7105 || die "the neighbour should reach 7105 before the firewall (test set-up)"
pass "before: an underlay neighbour reaches 10.242.0.1:7105 through the node's LAN address"
wait_until 10 reach g 10.242.0.2 8022 || die "the guest stand-in cannot reach the member (test set-up)"
reach g 10.242.0.2 7105 || die "the guest should reach the member's 7105 before the firewall (test set-up)"
pass "before: a guest behind the node's NAT reaches the member's 7105 as the node"

before=$(n nft list ruleset)
n "$FW" apply "$wgn" 10.242.0.1 10.242.0.2 || die "fw-tool apply"
for p in 7102 7103 7104 7105; do
	reach b 10.242.0.1 $p && die "the neighbour reaches 10.242.0.1:$p through the firewall"
done
reach b 192.168.243.1 7104 && die "the neighbour reaches the closed ceremony port"
pass "after: the neighbour reaches none of 7102-7105 (mesh or LAN address)"
for p in 7102 7103 7105; do
	reach m 10.242.0.1 $p || die "the member cannot reach 10.242.0.1:$p over the mesh"
done
pass "a member reaches 7102, 7103, 7105 over the mesh"
reach b 10.242.0.1 8022 || die "the firewall blocked a port that is not the project's"
reach n 10.242.0.1 7105 || die "the node cannot reach its own services"
reach g 10.242.0.2 7105 && die "a guest behind the node's NAT reaches the member's 7105"
reach g 10.242.0.1 7105 && die "a guest reaches its own node's 7105"
reach g 10.242.0.2 8022 || die "the firewall blocked a guest's traffic to a port that is not the project's"
m ping -c 1 -W 2 10.242.0.1 > /dev/null || die "the mesh itself stopped"
pass "a guest behind the node's NAT reaches no control-plane port, on any member or its own node"
pass "other ports and the node's own loopback traffic untouched"
denied=$(n nft list counter inet osi denied | awk '/packets/ { print $2 }')
(( denied > 0 )) || die "denied counter did not count ($denied)"
pass "denied packets counted ($denied)"

n "$FW" ceremony 7104 30 || die "fw-tool ceremony 7104 30"
reach b 192.168.243.1 7104 || die "the ceremony port stayed closed while open"
n "$FW" apply "$wgn" 10.242.0.1 10.242.0.2 10.242.0.9 || die "fw-tool apply (a ledger change)"
reach b 192.168.243.1 7104 || die "a ledger change closed the open ceremony port"
n "$FW" ceremony 0 0
reach b 192.168.243.1 7104 && die "the ceremony port stayed open after closing"
pass "the ceremony port opens and closes, and survives a member change"

n "$FW" remove || die "fw-tool remove"
[[ $(n nft list ruleset) == "$before" ]] || die "removing the table did not restore the ruleset"
reach b 10.242.0.1 7105 || die "removing the table did not restore reachability"
pass "removing the table restores the host as it was"
