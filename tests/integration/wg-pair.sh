#!/bin/bash
# Two namespaces joined by a veth pair; a WireGuard tunnel across it, brought
# up and configured by lib/wg*.c (through tests/integration/wg-tool.c) on
# wireguard-go, checked with ping, wg(8) and the library's own get.
#
#  ┌───────────── $ns1 ─────────────┐            ┌───────────── $ns2 ─────────────┐
#  │ $wg1  10.241.0.1/32 fd41::1    │            │ $wg2  10.241.0.2/32 fd41::2    │
#  │   routes 10.241.0.0/24 fd41::/64            │   routes 10.241.0.0/24 fd41::/64
#  │   udp 51821                    │            │   udp 51822                    │
#  │ veth1 192.168.241.1 fd40::1 ───┼────────────┼── veth2 192.168.241.2 fd40::2  │
#  └────────────────────────────────┘            └────────────────────────────────┘
#
# $wg1 knows $wg2 at 192.168.241.2:51822, $wg2 knows $wg1 at [fd40::1]:51821:
# both endpoint forms of the UAPI. wireguard-go's socket directory
# (/var/run/wireguard) is shared by all namespaces, hence names with our PID.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

TOOL=${OSI_WG_TOOL:?OSI_WG_TOOL must point at the wg-tool test program}
ns1=osi-wg1-$$ ns2=osi-wg2-$$
wg1=osw1-$$ wg2=osw2-$$
declare -a WG_PIDS=()

n0() { "$@"; }
n1() { in_ns "$ns1" "$@"; }
n2() { in_ns "$ns2" "$@"; }

# Only what this script started: wireguard-go by the PID wg-tool reported,
# checked to still be wireguard-go; lib.sh's cleanup deletes our namespaces.
stop_wg() { wg_go_stop "${WG_PIDS[@]}"; }
at_exit stop_wg

[[ $(id -u) == 0 && -c /dev/net/tun ]] || skip "needs root and /dev/net/tun"
for prog in wireguard-go wg ping ip; do
	command -v $prog >/dev/null || die "$prog not installed (Debian: wireguard-go wireguard-tools iputils-ping iproute2)"
done

# The underlay.
netns_add "$ns1" "$ns2"
n0 ip link add veth1 netns "$ns1" type veth peer name veth2 netns "$ns2"
n1 ip addr add 192.168.241.1/24 dev veth1
n1 ip addr add fd40::1/64 dev veth1 nodad
n2 ip addr add 192.168.241.2/24 dev veth2
n2 ip addr add fd40::2/64 dev veth2 nodad
n1 ip link set veth1 up
n2 ip link set veth2 up

# Keys: files only; the public halves are printed.
pub1=$("$TOOL" genkey "$T/key1")
pub2=$("$TOOL" genkey "$T/key2")
[[ $(stat -c %a "$T/key1") == 600 ]] || die "private key file mode"

# The tunnel, through the library.
# wireguard-go logs verbosely here, so that the key check below means something.
up() { # up NS IF ADDR4 ADDR6
	"$1" env LOG_LEVEL=verbose "$TOOL" up "$2" --log "$T/$2.log" "$3" "$4" \
		--route 10.241.0.0/24 --route fd41::/64 2>>"$T/tool.log"
}
pid=$(up n1 "$wg1" 10.241.0.1/32 fd41::1/128)
WG_PIDS+=("$pid")
pid=$(up n2 "$wg2" 10.241.0.2/32 fd41::2/128)
WG_PIDS+=("$pid")
for pid in "${WG_PIDS[@]}"; do
	(( pid > 0 )) || die "expected wireguard-go (no kernel module here), got pid $pid"
	[[ $(cat "/proc/$pid/comm") == wireguard-go ]] || die "pid $pid is not wireguard-go"
done
pass "wireguard-go up in both namespaces (pids ${WG_PIDS[*]})"
n1 ip -o addr show dev "$wg1" | grep >/dev/null 'inet 10.241.0.1/32' || die "address on $wg1"
n1 ip -o -6 addr show dev "$wg1" | grep >/dev/null 'fd41::1/128' || die "v6 address on $wg1"
n1 ip route show dev "$wg1" | grep >/dev/null '^10.241.0.0/24' || die "route on $wg1"
n1 ip -6 route show dev "$wg1" | grep >/dev/null '^fd41::/64' || die "v6 route on $wg1"
n1 ip -o link show dev "$wg1" | grep >/dev/null '[<,]UP[,>]' || die "$wg1 is not up"
pass "addresses, routes and link state set over rtnetlink"

n1 "$TOOL" set "$wg1" --private-key "$T/key1" --listen-port 51821 \
	--peer "$pub2" --endpoint 192.168.241.2:51822 --allowed-ip 10.241.0.2/32 --allowed-ip fd41::2/128
# Before any traffic: once packets flow, WireGuard roams to where they came from.
[[ $(n1 wg show "$wg1" endpoints) == "$pub2"$'\t'192.168.241.2:51822 ]] || die "wg show endpoints"
n2 "$TOOL" set "$wg2" --private-key "$T/key2" --listen-port 51822 \
	--peer "$pub1" --endpoint '[fd40::1]:51821' --allowed-ip 10.241.0.1/32 --allowed-ip fd41::1/128 \
	--keepalive 1
[[ $(n2 wg show "$wg2" endpoints) == "$pub1"$'\t'"[fd40::1]:51821" ]] || die "wg show v6 endpoint"
[[ $(n1 "$TOOL" show "$wg1" | head -n1) == *" backend=uapi public_key=$pub1 listen_port=51821 peers=1" ]] ||
	die "show $wg1: $(n1 "$TOOL" show "$wg1")"

# Across the tunnel, both families.
wait_until 15 n1 ping -c 1 -W 1 10.241.0.2 || die "no ping from $ns1 to 10.241.0.2"
n2 ping -c 3 -i 0.2 -W 1 10.241.0.1 > "$T/ping.log" || die "ping from $ns2"
n1 ping -6 -c 2 -i 0.2 -W 1 fd41::2 >> "$T/ping.log" || die "ping -6 from $ns1"
pass "ping across the tunnel (IPv4 and IPv6)"

# wg(8) speaks the same UAPI and must agree.
hs=$(n1 wg show "$wg1" latest-handshakes | awk -v k="$pub2" '$1 == k { print $2 }')
now=$(date +%s)
[[ -n $hs ]] && (( hs > 0 && now - hs < 60 )) || die "wg show: no recent handshake ($hs)"
n2 wg show "$wg2" | tee "$T/wg-show.log" | grep -E >/dev/null 'latest handshake: (Now|.* ago)' || die "wg show $wg2"
[[ $(n2 wg show "$wg2" persistent-keepalive) == "$pub1"$'\t'1 ]] || die "wg show keepalive"
pass "wg show: handshake $(( now - hs )) s ago, keepalive as set"

# The library's own get: the peer with a handshake and traffic both ways.
check_get() { # check_get NS IF PEER ENDPOINT
	local line
	line=$("$1" "$TOOL" show "$2" | grep "^peer=$3 ") || die "get $2: no peer $3"
	log "$2: $line"
	[[ $line =~ " endpoint="($4)" " ]] || die "get $2: endpoint"
	[[ $line =~ last_handshake=([0-9]+) ]] && (( BASH_REMATCH[1] > 0 )) || die "get $2: handshake"
	[[ $line =~ rx_bytes=([0-9]+) ]] && (( BASH_REMATCH[1] > 0 )) || die "get $2: rx"
	[[ $line =~ tx_bytes=([0-9]+) ]] && (( BASH_REMATCH[1] > 0 )) || die "get $2: tx"
	[[ $line == *" allowed_ips=10.241.0."?"/32,fd41::"?"/128" ]] || die "get $2: allowed ips"
}
check_get n1 "$wg1" "$pub2" '192\.168\.241\.2:51822|\[fd40::2\]:51822'
check_get n2 "$wg2" "$pub1" '192\.168\.241\.1:51821|\[fd40::1\]:51821'
pass "wg_get_device: last_handshake, rx and tx bytes > 0 on both sides"

# The private key: in neither the engine's command line nor its environment,
# nor in anything the tools wrote.
priv1_hex=$(base64 -d < "$T/key1" | od -An -tx1 | tr -d ' \n')
for pid in "${WG_PIDS[@]}"; do
	env=$(tr '\0' '\n' < "/proc/$pid/environ" | sort | tr '\n' ' ')
	[[ $env == "LOG_LEVEL=verbose WG_PROCESS_FOREGROUND=1 " ]] || die "wireguard-go environment: $env"
	! tr '\0' ' ' < "/proc/$pid/cmdline" | grep -iF >/dev/null -e "$(cat "$T/key1")" -e "$priv1_hex" ||
		die "private key on a command line"
done
! grep -rqiF -e "$(cat "$T/key1")" -e "$priv1_hex" "$T"/*.log || die "private key in a log"
[[ $(n1 wg show "$wg1" private-key) == "$(cat "$T/key1")" ]] || die "private key as set"
pass "private key only where it belongs"

# Peers follow what is set: replace_peers empties, remove takes one away.
n1 "$TOOL" set "$wg1" --replace-peers
[[ $(n1 wg show "$wg1" peers) == "" ]] || die "replace_peers left peers"
n1 "$TOOL" set "$wg1" --peer "$pub2" --endpoint 192.168.241.2:51822 --allowed-ip 10.241.0.2/32
wait_until 10 n1 ping -c 1 -W 1 10.241.0.2 || die "no ping after re-adding the peer"
n2 "$TOOL" set "$wg2" --peer "$pub1" --remove
[[ $(n2 "$TOOL" show "$wg2" | head -n1) == *" peers=0" ]] || die "remove left the peer"
pass "replace_peers and remove"

# Deleting the interface ends wireguard-go and its socket.
n1 "$TOOL" down "$wg1"
wait_until 5 wg_go_gone "${WG_PIDS[0]}" || die "wireguard-go of $wg1 still running"
wait_until 5 test ! -e "/var/run/wireguard/$wg1.sock" || die "socket of $wg1 left behind"
n1 "$TOOL" show "$wg1" 2>>"$T/tool.log" && die "show on a deleted interface"
pass "down: interface, engine and socket gone"
