#!/bin/bash
# Guests on the fabric across the mesh (issue 11): two members over real
# wireguard-go, one of them behind NAT, each in its network namespace with
# its own private system libvirtd (lib-fabric.sh), its privileged helper and
# its agent; one real TCG test guest per node, made by the helper on the
# routed network osi-fabric.
#
#   ┌── $na: node-a, mesh 10.77.0.1 ─────┐   ┌── $nr: NAT router ──┐   ┌── $nb: node-b, 10.77.0.2 ─────────┐
#   │ eth0 198.51.100.1 (:51820, :7104) ─┼───┼─ wan 198.51.100.2   │   │                                   │
#   │ osibr0 10.78.1.1 (libvirt dnsmasq) │   │  br0 192.168.2.1 ───┼───┼─ eth0 192.168.2.2 (no endpoint)   │
#   │  ├ ga (TCG, mediakit) 10.78.1.2    │   │  masquerade out of  │   │ osibr0 10.78.2.1                  │
#   │  └ $sa stand-in (orch) 10.78.1.200 │   │  wan, nothing in    │   │  ├ gb (TCG, mediakit) 10.78.2.2   │
#   └────────────────────────────────────┘   └─────────┬───────────┘   │  └ $sb stand-in (orch) 10.78.2.200│
#                                 $nl: LAN neighbour 192.168.2.3       └───────────────────────────────────┘
#
# node-a is the genesis, with an endpoint, and listens for the ceremony;
# node-b, behind the NAT router, connects out to it (--join --via) and has no
# endpoint: node-a learns where node-b is from node-b's handshakes, which its
# persistent keepalive keeps coming through the NAT.
#
# The test guest runs no commands of ours (it serves HTTP on 80 and a line on
# 7), so the flows start in stand-in guests: namespaces on each bridge that
# the fabric table lists as orchestration guests. The fabric table is written
# as fabric.json in each state dir, as the fleet would have pushed it (no
# fleet here: fabric-policy.sh covers the real push); each agent applies it:
# the policy in nftables, the names file, and the helper's `fabric` and
# `names` verbs, so each node's dnsmasq serves the other node's guests.
# Checks: B's guest by name from A's side (and A's from B's) over the mesh;
# mediakit's 80 allowed, its 7 (served, but in no manifest) denied; no guest
# reaches 7101-7105 on either node. Publishing: ga's 80 is published on
# node-a's host port 8080 and answers the NAT router's wan side (node-a's
# underlay neighbour); gb's 80 is published on node-b's 8080 and answers
# $nl, a neighbour on the NAT router's inside network (nothing outside the
# NAT reaches node-b: that is what NAT does); the unpublished host port 80
# answers neither. Skipped (77) as fabric-virt.sh is.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-fabric.sh"

: "${OSI_VIRT_TOOL:?}" "${OSI_HELPER_CALL:?}" "${OSI_SOURCE:?}"
ZONE=osi.internal
na=osi-ga-$$ nb=osi-gb-$$ sa=osi-gsa-$$ sb=osi-gsb-$$ nr=osi-gnr-$$ nl=osi-gnl-$$
declare -A NS=([a]=$na [b]=$nb [sa]=$sa [sb]=$sb [nat]=$nr [lan]=$nl)
declare -A IF=([a]=osga$$ [b]=osgb$$)
WG_IFACES=("${IF[a]}" "${IF[b]}")
declare -A UNDER=([a]=198.51.100.1 [b]=192.168.2.2 [wan]=198.51.100.2 [lan]=192.168.2.3)
declare -A MESH=([a]=10.77.0.1 [b]=10.77.0.2)
declare -A GW=([a]=10.78.1.1 [b]=10.78.2.1)
declare -A GUEST=([a]=10.78.1.2 [b]=10.78.2.2)
declare -A STAND=([a]=10.78.1.200 [b]=10.78.2.200)

on() { local n=$1; shift; ip netns exec "${NS[$n]}" "$@"; }
wg_pids() { grep -ho 'wireguard-go pid [0-9]*' "$T"/*.log 2>/dev/null | awk '{ print $3 }' | sort -u; }
stop_wg() {
	# shellcheck disable=SC2046
	wg_go_stop $(wg_pids) $(wg_go_serving "${IF[a]}" "${IF[b]}")
}
at_exit stop_wg

fabric_libvirt_checks
[[ -c /dev/net/tun ]] || skip "needs /dev/net/tun"
for prog in wireguard-go wg ip nft nc ss; do
	command -v $prog >/dev/null || skip "$prog not installed (make deps)"
done
ip netns add "osi-gprobe-$$" 2>/dev/null || skip "cannot make network namespaces"
ip netns del "osi-gprobe-$$"
fabric_testguest
fabric_nwfilters
t_start=$(now_ms)

# ---- the underlay: node-b and a LAN neighbour behind the NAT router ----
netns_add "$na" "$nb" "$sa" "$sb" "$nr" "$nl"
veth() { # veth NODE1 IF1 NODE2 IF2 ADDR2: a link, ADDR2 on the second end
	ip link add "$2" netns "${NS[$1]}" type veth peer name "$4" netns "${NS[$3]}"
	on "$3" ip addr add "$5" dev "$4"
	on "$1" ip link set "$2" up
	on "$3" ip link set "$4" up
}
veth nat wan a eth0 "${UNDER[a]}/24"
on nat ip addr add "${UNDER[wan]}/24" dev wan
on nat ip link add br0 type bridge
on nat ip addr add 192.168.2.1/24 dev br0
on nat ip link set br0 up
veth nat lanb b eth0 "${UNDER[b]}/24"
veth nat lanl lan eth0 "${UNDER[lan]}/24"
on nat ip link set lanb master br0
on nat ip link set lanl master br0
on b ip route add default via 192.168.2.1
on nat sysctl -qw net.ipv4.ip_forward=1
on nat nft -f - <<'NFT'
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
NFT
wait_until 5 on b ping -c 1 -W 1 "${UNDER[a]}" || die "node-b cannot reach node-a through the NAT"
on a ping -c 1 -W 1 "${UNDER[b]}" >/dev/null 2>&1 && die "node-b reachable from outside its NAT"
wait_until 5 on lan ping -c 1 -W 1 "${UNDER[b]}" || die "the LAN neighbour does not reach node-b"
pass "underlay: node-b and a LAN neighbour behind a NAT router (masquerade, nothing in), node-a on its wan side"

# ---- the mesh: b, behind the NAT, connects out to a's ceremony ----
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
sas_of() { awk '/^SAS:/ { print $2 $3 }' "$T/$1.log" | tail -n 1; }
bg_osi a-genesis a --genesis --name node-a --interface "${IF[a]}" --listen "${UNDER[a]}:7104" \
	--endpoint "${UNDER[a]}:51820" --ttl 60s --sas-from "$T/a-genesis.sas"
wait_until 20 in_log a-genesis '^Code:' || die "genesis printed no code"
awk '/^Code:/ { print $2 }' "$T/a-genesis.log" | tail -n 1 > "$T/b-join.code"
BG_IN=$T/b-join.code bg_osi b-join b --join - --via "${UNDER[a]}:7104" --name node-b \
	--interface "${IF[b]}" --sas-from "$T/b-join.sas"
wait_until 15 in_log a-genesis '^SAS:' || die "genesis shows no SAS"
wait_until 15 in_log b-join '^SAS:' || die "join shows no SAS"
sas_of b-join > "$T/a.tmp" && mv "$T/a.tmp" "$T/a-genesis.sas"
sas_of a-genesis > "$T/b.tmp" && mv "$T/b.tmp" "$T/b-join.sas"
finish b-join
finish a-genesis
wait_until 15 on b ping -c 1 -W 1 "${MESH[a]}" || die "b -> a over the mesh"
wait_until 15 on a ping -c 1 -W 1 "${MESH[b]}" || die "a -> b over the mesh"
on a wg show "${IF[a]}" endpoints | grep -q "	${UNDER[wan]}:" ||
	die "node-a does not see node-b at its NAT's address: $(on a wg show "${IF[a]}" endpoints)"
pass "node-a (genesis) and node-b (behind NAT, its endpoint learnt from its handshakes) form the mesh"

# ---- per node: libvirtd, helper, stand-in guest, fabric table, agent ----
cat > "$T/fabric.json" <<JSON
{"zone":"$ZONE","guests":[
 {"name":"ga","type":"mediakit","node":"node-a","addr":"${GUEST[a]}"},
 {"name":"gb","type":"mediakit","node":"node-b","addr":"${GUEST[b]}"},
 {"name":"sa","type":"orchestration","node":"node-a","addr":"${STAND[a]}"},
 {"name":"sb","type":"orchestration","node":"node-b","addr":"${STAND[b]}"}],
 "published":[{"guest":"ga","proto":"tcp","port":80,"host_port":8080},
              {"guest":"gb","proto":"tcp","port":80,"host_port":8080}]}
JSON
for n in a b; do
	start_node_libvirtd "$n" "${NS[$n]}"
	wait_until 20 lvt "$n" domains || die "node-$n's libvirtd did not answer"
	out=$(lvt "$n" image-import "$TESTGUEST_IMG" testguest) || die "image import on $n: $out"
	start_node_helper "$n" "node-$n" "$T/$n" "$ZONE"
	cp "$T/fabric.json" "$T/$n/fabric.json"
	bg "agent-$n" "$n" "$HOST_BIN" --config "$T/$n/host.conf" --set heartbeat_interval=1s \
		--set guests_uri= --set ledger_sync_interval=2s --set images_dir="$OSI_SOURCE/images" \
		--set virt_socket="$T/virt-$n.sock"
done
has_gw() { on "$1" ip -4 -br addr show osibr0 2>/dev/null | grep -q " ${GW[$1]}/24"; }
for n in a b; do
	wait_until 30 in_log "agent-$n" "fabric: policy applied" || die "node-$n's agent applied no table"
	wait_until 20 has_gw $n || die "node-$n: no osibr0 at ${GW[$n]} from the agent's fabric call"
	ip link add "vs$n" netns "${NS[$n]}" type veth peer name eth0 netns "${NS[s$n]}"
	on $n ip link set "vs$n" master osibr0 up
	on "s$n" ip addr add "${STAND[$n]}/24" dev eth0
	on "s$n" ip link set eth0 up
	on "s$n" ip route add default via "${GW[$n]}"
done
pass "each node: a private libvirtd in its namespace; its agent applied fabric.json and had the helper make osi-fabric"

# ---- one TCG guest per node ----
for n in a b; do
	out=$("$OSI_HELPER_CALL" "$T/virt-$n.sock" create "g$n" mediakit 160 1) || die "create g$n: $out"
	[[ $out == *'"state":"running"'*"\"detail\":\"${GUEST[$n]}\""* ]] || die "create g$n reported: $out"
done
for n in a b; do
	wait_until 300 console_ip $n "g$n" "${GUEST[$n]}" ||
		die "g$n never took ${GUEST[$n]}: $(tail -c 600 "${LVDIR[$n]}/consoles/g$n.log" 2>/dev/null)"
done
boot_ms=$(( $(now_ms) - t_start ))
pass "ga on node-a took ${GUEST[a]}, gb on node-b took ${GUEST[b]} by DHCP (mesh + boots: ${boot_ms} ms)"

# ---- names: each node's dnsmasq serves the other node's guest ----
resolve() { # resolve FROM NAME: the address the stand-in's gateway gives for NAME
	on "s$1" busybox nslookup "$2" "${GW[$1]}" 2>/dev/null | sed -n '/^Name:/,$p' |
		sed -n 's/^Address: *\([0-9.]*\)$/\1/p' | head -n 1
}
resolves() { [[ $(resolve "$1" "$2") == "$3" ]]; }
wait_until 10 resolves a "gb.$ZONE" "${GUEST[b]}" || die "gb.$ZONE from a: '$(resolve a "gb.$ZONE")'"
wait_until 10 resolves b "ga.$ZONE" "${GUEST[a]}" || die "ga.$ZONE from b: '$(resolve b "ga.$ZONE")'"
wait_until 10 resolves a "node-b.$ZONE" "${MESH[b]}" || die "node-b.$ZONE from a: '$(resolve a "node-b.$ZONE")'"
pass "names: gb.$ZONE resolves at node-a's dnsmasq, ga.$ZONE at node-b's, node-b.$ZONE too"

# ---- flows: mediakit's 80 is public, its 7 is in no manifest ----
fetch() { # fetch FROM GUEST-NODE: HTTP by name, the address from FROM's dnsmasq
	local name=g$2.$ZONE
	on "s$1" curl -fsS -m 5 --resolve "$name:80:$(resolve "$1" "$name")" "http://$name/"
}
line7() { on "$1" timeout 5 nc -n -w 3 "$2" 7 < /dev/null 2>/dev/null; }
wait_until 30 fetch a b || die "a's side cannot fetch gb.$ZONE over the mesh"
[[ $(fetch a b) == "osi-testguest gb "* ]] || die "gb served: $(fetch a b)"
[[ $(fetch b a) == "osi-testguest ga "* ]] || die "b's side fetching ga.$ZONE: $(fetch b a)"
pass "allowed across the mesh by name: node-a's guest side -> gb.$ZONE:80, node-b's -> ga.$ZONE:80"

[[ $(line7 b "${GUEST[b]}") == "osi-testguest gb "* ]] || die "gb does not serve 7 to its own host"
guest_denied() { on "$1" nft list counter inet osi guest_denied | awk '/packets/ { print $2 }'; }
before=$(guest_denied b)
[[ -n $(line7 sa "${GUEST[b]}") ]] && die "node-a's orchestration stand-in reached gb:7"
[[ -n $(line7 sb "${GUEST[a]}") ]] && die "node-b's orchestration stand-in reached ga:7"
(( $(guest_denied b) > before )) || die "node-b's guest_denied did not rise"
pass "denied: gb's port 7 (served, in no manifest) from node-a's side, and ga's from node-b's; guest_denied rose"

# ---- the control plane: no guest reaches 7101-7105 on any node ----
listening() { [[ $(on "$1" ss -Hltn "sport = :$2") == *LISTEN* ]]; }
for n in a b; do
	for port in 7101 7102 7103 7104 7105; do
		listening $n $port && continue
		ip netns exec "${NS[$n]}" timeout 60 nc -n -l -k "$port" >/dev/null 2>&1 &
		PIDS[cp-$n-$port]=$!
		wait_until 5 listening $n $port || die "no listener on node-$n:$port"
	done
done
# All 60 attempts at once (a dropped SYN costs nc its 1 s wait), each
# writing what it reached.
: > "$T/reached"
probes=()
for s in a b; do
	for port in 7101 7102 7103 7104 7105; do
		for addr in "${GW[a]}" "${GW[b]}" "${MESH[a]}" "${MESH[b]}" "${UNDER[a]}" "${UNDER[b]}"; do
			{ on "s$s" timeout 3 nc -n -z -w 1 "$addr" "$port" 2>/dev/null &&
				echo "node-$s's stand-in guest reached $addr:$port" >> "$T/reached"; } &
			probes+=($!)
		done
	done
done
wait "${probes[@]}" || true
[[ ! -s $T/reached ]] || die "$(cat "$T/reached")"
pass "no guest reaches 7101-7105 on either node (gateways, mesh and underlay addresses)"

# ---- publishing: each node's 8080 is its guest's 80, from its underlay ----
page() { on "$1" curl -fsS -m 5 "http://$2:$3/" 2>/dev/null; }
[[ $(page nat "${UNDER[a]}" 8080) == "osi-testguest ga "* ]] ||
	die "ga's published 80 does not answer node-a's underlay neighbour: $(page nat "${UNDER[a]}" 8080)"
[[ $(page lan "${UNDER[b]}" 8080) == "osi-testguest gb "* ]] ||
	die "gb's published 80 does not answer node-b's LAN neighbour: $(page lan "${UNDER[b]}" 8080)"
page nat "${UNDER[a]}" 80 && die "node-a's unpublished 80 answers"
page lan "${UNDER[b]}" 80 && die "node-b's unpublished 80 answers"
page a "${UNDER[b]}" 8080 && die "node-b's published port answers from outside its NAT"
pass "published: ga:80 on node-a's 8080 from its wan neighbour, gb:80 on node-b's 8080 from its LAN neighbour; unpublished 80 closed"
log "runtime $(( $(now_ms) - t_start )) ms after the test guest image"
