#!/bin/bash
# The guest fabric's routing across the mesh (issue 11, item 3), with the
# project's own mesh code over real wireguard-go: each node gets the bridge
# its routed libvirt network would have (osibr0 at the node's gateway) and a
# stand-in guest (a network namespace on a veth in the bridge), so what is
# tested is the mesh's part: allowed IPs, routes, the relay, revocation.
#
#   ┌── $la: laptop-a ──┐   ┌── $lc: laptop-c ──┐   both behind one NAT, no endpoint
#   │ 192.168.1.2       │   │ 192.168.2.2       │
#   │ osibr0 10.78.1.1  │   │ osibr0 10.78.3.1  │
#   │  └ ga 10.78.1.10  │   │  └ gc 10.78.3.10  │
#   └────────┬──────────┘   └────────┬──────────┘
#          ┌─┴───────── $nat ────────┴─┐ masquerade out of wan, nothing in
#          └────────────┬──────────────┘
#          ┌─────────── $inet ─────────┐
#          └────────────┬──────────────┘
#   ┌── $lb: laptop-b, relay, endpoint 198.51.100.2:51820 ┐
#   │ osibr0 10.78.2.1  └ gb 10.78.2.10                   │
#   └─────────────────────────────────────────────────────┘
#
# Mesh 10.77.0.0/16: a .1 (genesis), b .2, c .3; guest subnets 10.78.N.0/24
# (lib/guest-net.h). a and c lack endpoints, so a<->c and their guests go
# through the relay b. No fleet: the agents only keep the mesh (ledger sync).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

la=osi-fa-$$ lb=osi-fb-$$ lc=osi-fc-$$ nat=osi-fn-$$ inet=osi-fi-$$
ga=osi-fga-$$ gb=osi-fgb-$$ gc=osi-fgc-$$
declare -A IF=([a]=osfa$$ [b]=osfb$$ [c]=osfc$$)
declare -A NS=([a]=$la [b]=$lb [c]=$lc [ga]=$ga [gb]=$gb [gc]=$gc)
declare -A MESH=([a]=10.77.0.1 [b]=10.77.0.2 [c]=10.77.0.3)
declare -A SUBNET=([a]=10.78.1.0/24 [b]=10.78.2.0/24 [c]=10.78.3.0/24)
declare -A GUEST=([a]=10.78.1.10 [b]=10.78.2.10 [c]=10.78.3.10)

on() { local n=$1; shift; ip netns exec "${NS[$n]}" "$@"; }
osi() { local n=$1; shift; on "$n" "$OSI_BIN" --state-dir "$T/$n" "$@"; }

wg_pids() { grep -ho 'wireguard-go pid [0-9]*' "$T"/*.log 2>/dev/null | awk '{ print $3 }' | sort -u; }
stop_all() {
	local name
	for name in "${!PIDS[@]}"; do
		kill -TERM "${PIDS[$name]}" 2>/dev/null
	done
	for name in "${!PIDS[@]}"; do
		wait "${PIDS[$name]}" 2>/dev/null
	done
	PIDS=()
	# shellcheck disable=SC2046
	wg_go_stop $(wg_pids)
}
at_exit stop_all

[[ $(id -u) == 0 && -c /dev/net/tun ]] || skip "needs root and /dev/net/tun"
for prog in wireguard-go wg ip nft; do
	command -v $prog >/dev/null || skip "$prog not installed (make deps)"
done
for prog in ping nc jq; do
	command -v $prog >/dev/null || die "$prog not installed (make deps)"
done
ip netns add "osi-fprobe-$$" 2>/dev/null || skip "cannot make network namespaces"
ip netns del "osi-fprobe-$$"

# ---- the underlay (as in mesh-nat.sh) ----
netns_add "$la" "$lb" "$lc" "$nat" "$inet" "$ga" "$gb" "$gc"
link() { # link NS1 IF1 ADDR1 NS2 IF2 ADDR2
	ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
	in_ns "$1" ip addr add "$3" dev "$2"
	in_ns "$4" ip addr add "$6" dev "$5"
	in_ns "$1" ip link set "$2" up
	in_ns "$4" ip link set "$5" up
}
link "$la" eth0 192.168.1.2/24 "$nat" lan1 192.168.1.1/24
link "$lc" eth0 192.168.2.2/24 "$nat" lan2 192.168.2.1/24
link "$nat" wan 203.0.113.2/24 "$inet" tonat 203.0.113.1/24
link "$lb" eth0 198.51.100.2/24 "$inet" tob 198.51.100.1/24
in_ns "$la" ip route add default via 192.168.1.1
in_ns "$lc" ip route add default via 192.168.2.1
in_ns "$nat" ip route add default via 203.0.113.1
in_ns "$lb" ip route add default via 198.51.100.1
in_ns "$nat" sysctl -qw net.ipv4.ip_forward=1
in_ns "$inet" sysctl -qw net.ipv4.ip_forward=1
in_ns "$nat" nft -f - <<'EOF'
table ip nat {
	chain post { type nat hook postrouting priority srcnat; oifname "wan" masquerade; }
}
table ip filter {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname != "wan" accept
	}
}
EOF
wait_until 5 in_ns "$la" ping -c 1 -W 1 198.51.100.2 || die "laptop-a cannot reach the internet"
in_ns "$lb" ping -c 1 -W 1 192.168.1.2 >/dev/null 2>&1 && die "laptop-a reachable from outside"

# ---- the guest side of each node: what the routed libvirt network makes ----
# (the bridge at the gateway, forwarding on), and a stand-in guest on it.
guest_side() { # guest_side NODE
	local n=$1 gw=${SUBNET[$1]%.0/24}.1
	on "$n" ip link add osibr0 type bridge
	on "$n" ip addr add "$gw/24" dev osibr0
	on "$n" ip link set osibr0 up
	on "$n" sysctl -qw net.ipv4.ip_forward=1
	ip link add vnet0 netns "${NS[$n]}" type veth peer name eth0 netns "${NS[g$n]}"
	on "$n" ip link set vnet0 master osibr0 up
	on "g$n" ip addr add "${GUEST[$n]}/24" dev eth0
	on "g$n" ip link set eth0 up
	on "g$n" ip route add default via "$gw"
}
for n in a b c; do guest_side $n; done
wait_until 5 on ga ping -c 1 -W 1 10.78.1.1 || die "guest a does not reach its gateway"
pass "each node has osibr0 at its gateway and a stand-in guest at .10 routed through it"

# ---- the mesh: genesis on a (behind NAT) connecting out to b, the relay ----
bg() { # bg NAME NODE PROGRAM ARGS...: output in $T/NAME.log, input from $BG_IN
	local name=$1 node=$2; shift 2
	ip netns exec "${NS[$node]}" "$@" < "${BG_IN:-/dev/null}" >> "$T/$name.log" 2>&1 &
	PIDS[$name]=$!
}
bg_osi() { local name=$1 node=$2; shift 2; bg "$name" "$node" "$OSI_BIN" --state-dir "$T/$node" "$@"; }
in_log() { grep -q -- "$2" "$T/$1.log"; }
finish() {
	local rc=0
	wait "${PIDS[$1]}" || rc=$?
	unset "PIDS[$1]"
	(( rc == 0 )) || die "$1 exited with $rc: $(tail -n 5 "$T/$1.log")"
}
code_of() { awk '/^Code:/ { print $2 }' "$T/$1.log" | tail -n 1; }
bg_join() { # bg_join NAME NODE INVITER ARGS...: the code on stdin
	local name=$1 node=$2 inviter=$3; shift 3
	code_of "$inviter" > "$T/$name.code"
	BG_IN=$T/$name.code bg_osi "$name" "$node" --join - "$@"
}
sas_of() { awk '/^SAS:/ { print $2 $3 }' "$T/$1.log" | tail -n 1; }
exchange_sas() {
	wait_until 15 in_log "$1" '^SAS:' || die "$1 shows no SAS"
	wait_until 15 in_log "$2" '^SAS:' || die "$2 shows no SAS"
	sas_of "$2" > "$T/$1.sas.tmp" && mv "$T/$1.sas.tmp" "$T/$1.sas"
	sas_of "$1" > "$T/$2.sas.tmp" && mv "$T/$2.sas.tmp" "$T/$2.sas"
}
start_agent() {
	bg "agent-$1" "$1" "$HOST_BIN" --config "$T/$1/host.conf" --set heartbeat_interval=1s \
		--set guests_uri= --set ledger_sync_interval=2s
}

bg_osi a-genesis a --genesis --name laptop-a --interface "${IF[a]}" --connect 198.51.100.2:7104 \
	--ttl 60s --sas-from "$T/a-genesis.sas"
wait_until 20 in_log a-genesis '^Code:' || die "genesis printed no code"
bg_join b-join b a-genesis --listen 198.51.100.2:7104 --name laptop-b --role relay \
	--endpoint 198.51.100.2:51820 --interface "${IF[b]}" --sas-from "$T/b-join.sas"
exchange_sas a-genesis b-join
finish b-join
finish a-genesis
start_agent a
start_agent b
bg_osi a-invite a invite --listen 192.168.1.2:7104 --ttl 60s --sas-from "$T/a-invite.sas"
wait_until 10 in_log a-invite '^Code:' || die "invite printed no code"
bg_join c-join c a-invite --via 192.168.1.2:7104 --name laptop-c --interface "${IF[c]}" \
	--sas-from "$T/c-join.sas"
exchange_sas a-invite c-join
finish c-join
finish a-invite
start_agent c
wait_until 15 on a ping -c 1 -W 1 "${MESH[c]}" || die "a -> c over the mesh"
pass "laptop-a (genesis, behind NAT), laptop-b (relay) and laptop-c (behind NAT) form the mesh"

# ---- allowed IPs and routes carry the guest subnets ----
# allowed_has NODE PEER-NODE CIDR: NODE's peer for PEER-NODE lists CIDR.
pub() { on "$1" wg show "${IF[$1]}" public-key; }
allowed_has() {
	on "$1" wg show "${IF[$1]}" allowed-ips | awk -v k="$(pub "$2")" '$1 == k' |
		tr ' \t' '\n\n' | grep -qxF "$3"
}
allowed_anywhere() { on "$1" wg show "${IF[$1]}" allowed-ips | tr ' \t' '\n\n' | grep -qxF "$2"; }
for spec in "a b b" "a b c" "b a a" "b c c" "c b b" "c b a"; do
	read -r n p s <<< "$spec"
	wait_until 10 allowed_has "$n" "$p" "${SUBNET[$s]}" ||
		die "$n's peer $p lacks ${SUBNET[$s]}: $(on "$n" wg show "${IF[$n]}" allowed-ips)"
done
for n in a b c; do
	allowed_anywhere "$n" "${SUBNET[$n]}" && die "$n routes its own subnet into the mesh"
	on "$n" ip route show 10.78.0.0/16 | grep -q "dev ${IF[$n]}" ||
		die "$n has no route for the guest prefix: $(on "$n" ip route)"
	on "$n" ip route get "${GUEST[$n]}" | grep -q 'dev osibr0' || die "$n's own guests not on osibr0"
done
pass "wg show: each peer carries its guest subnet; the relay b carries c's for a and a's for c"

# ---- guest to guest: ping and a TCP exchange, both ways ----
guest_ping() { on "g$1" ping -c 3 -i 0.2 -W 2 "${GUEST[$2]}" > /dev/null; }
listening() { on "g$1" ss -Hltn "sport = :$2" | grep -q LISTEN; }
# tcp_exchange FROM TO: a line each way; TO sees FROM's own address (routed, no NAT)
tcp_exchange() {
	local from=$1 to=$2 port=$(( 20000 + RANDOM % 10000 )) got
	rm -f "$T/tcp-$to.out"
	on "g$to" timeout 10 nc -n -v -N -l "${GUEST[$to]}" "$port" <<< "reply-from-$to" \
		> "$T/tcp-$to.out" 2> "$T/tcp-$to.err" &
	local srv=$!
	wait_until 5 listening "$to" "$port" || { log "no listener in guest $to"; return 1; }
	got=$(on "g$from" timeout 5 nc -n -N "${GUEST[$to]}" "$port" <<< "hello-from-$from") || true
	wait "$srv" 2>/dev/null || true
	[[ $got == "reply-from-$to" ]] || { log "client $from got: '$got'"; return 1; }
	grep -qx "hello-from-$from" "$T/tcp-$to.out" || { log "server $to got: $(cat "$T/tcp-$to.out")"; return 1; }
	grep -qF "${GUEST[$from]}" "$T/tcp-$to.err" || { log "server $to saw: $(cat "$T/tcp-$to.err")"; return 1; }
}
for pair in "a b" "b a" "a c" "c a" "b c" "c b"; do
	read -r x y <<< "$pair"
	wait_until 15 on "g$x" ping -c 1 -W 1 "${GUEST[$y]}" || die "guest $x cannot ping guest $y"
	guest_ping "$x" "$y" || die "guest $x -> guest $y: pings lost"
	tcp_exchange "$x" "$y" || die "TCP guest $x -> guest $y"
done
pass "stand-in guests reach each other (ping, TCP with their own addresses) a<->b, a<->c through the relay, b<->c"

# ---- a member whose interface predates the guest fabric ----
# Its interface (kept across the upgrade, as a kernel one or one the CLI
# made outside the agent's unit) has no guest-prefix route; its new agent's
# first apply must route the prefix, not only set the allowed IPs, or its
# guests' traffic for other nodes leaves on the underlay.
prefix_routed() { on b ip route show 10.78.0.0/16 | grep -q "dev ${IF[b]}"; }
stop agent-b
on b ip route del 10.78.0.0/16 dev "${IF[b]}"
on gb ping -c 1 -W 1 "${GUEST[a]}" > /dev/null 2>&1 && die "b's guest reaches a's without the route"
start_agent b
wait_until 10 prefix_routed || die "b's agent did not route the guest prefix: $(on b ip route)"
guest_ping b a || die "guest b -> guest a after b's agent restart"
tcp_exchange b a || die "TCP guest b -> guest a after b's agent restart"
pass "a member up without the guest-prefix route gets it from its agent's apply"

# ---- revocation: c's subnet leaves every allowed IP and the flow stops ----
on ga ping -i 0.2 "${GUEST[c]}" > "$T/flow.log" 2>&1 &
flow=$!
wait_until 5 grep -q 'bytes from' "$T/flow.log" || die "the flow a -> c did not start"
osi a node revoke laptop-c > "$T/revoke.log" 2>&1 || die "revoke: $(cat "$T/revoke.log")"
subnet_gone() { ! allowed_anywhere "$1" "${SUBNET[c]}" && ! allowed_anywhere "$1" "${MESH[c]}/32"; }
for n in a b; do
	wait_until 10 subnet_gone $n || die "$n still carries c: $(on $n wg show "${IF[$n]}" allowed-ips)"
	[[ -z $(on $n ip route show "${SUBNET[c]}") ]] || die "$n has a route for c's subnet"
	# What is left for c's guests is the guest prefix on the mesh interface,
	# where no peer takes them: nothing goes out on the underlay.
	on $n ip route get "${GUEST[c]}" | grep -q "dev ${IF[$n]}" ||
		die "$n routes c's guests elsewhere: $(on $n ip route get "${GUEST[c]}")"
done
sleep 1
replies=$(grep -c 'bytes from' "$T/flow.log")
sleep 2
kill "$flow"; wait "$flow" 2>/dev/null || true
(( $(grep -c 'bytes from' "$T/flow.log") == replies )) || die "the flow a -> c goes on after the revocation"
on ga ping -c 2 -i 0.2 -W 1 "${GUEST[c]}" > /dev/null 2>&1 && die "guest a still reaches guest c"
on gc ping -c 2 -i 0.2 -W 1 "${GUEST[a]}" > /dev/null 2>&1 && die "guest c still reaches guest a"
on gc ping -c 2 -i 0.2 -W 1 "${GUEST[b]}" > /dev/null 2>&1 && die "guest c still reaches guest b"
for pair in "a b" "b a"; do
	read -r x y <<< "$pair"
	guest_ping "$x" "$y" || die "guest $x -> guest $y after c's revocation"
	tcp_exchange "$x" "$y" || die "TCP guest $x -> guest $y after c's revocation"
done
pass "laptop-c revoked: its subnet left a's and b's allowed IPs, the flow stopped, a<->b goes on"

for name in "${!PIDS[@]}"; do
	kill -TERM "${PIDS[$name]}" 2>/dev/null || true
	wait "${PIDS[$name]}" 2>/dev/null || die "$name did not stop cleanly"
	unset "PIDS[$name]"
done
! grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/*.log || die "sanitizer reports above"
pass "every service stopped cleanly; no sanitizer report"
