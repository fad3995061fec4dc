#!/bin/bash
# The guest fabric's policy and publishing on one node (issue 11, items 5
# and 6): the node's agent applies a cached fabric table (fabric.json, as the
# fleet would have pushed it) with the manifests' ports in images/. The
# guests are stand-ins: network namespaces at guest addresses. Two sit on
# the node's osibr0 (as on the routed libvirt network); the Orchestration
# guest stands for a guest on another node, reached through a routed veth
# where the mesh interface would be, so its flows cross the node's forward
# hook as they would across the mesh.
#
#   $nb: neighbour 192.0.2.2 ── eth0 192.0.2.1 ┌── $nd: node-a (mesh 10.77.0.1) ──┐
#                                              │ osibr0 10.78.1.1/24              │
#                                              │  ├ vault (totebox)   10.78.1.11  │
#                                              │  └ site  (mediakit)  10.78.1.12  │
#                                              │ toorch ── orch (orchestration,   │
#                                              │  10.78.2.0/24 "node b") 10.78.2.10
#                                              └──────────────────────────────────┘
# totebox.json: 9190 from orchestration; mediakit.json: 80, 443 from public;
# orchestration.json: nothing. Published: site tcp/80 on the node's 8080.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

nd=osi-pd-$$ nb=osi-pb-$$ gv=osi-pv-$$ gs=osi-ps-$$ go=osi-po-$$
declare -A NS=([node]=$nd [nbr]=$nb [vault]=$gv [site]=$gs [orch]=$go)
declare -A IP=([vault]=10.78.1.11 [site]=10.78.1.12 [orch]=10.78.2.10)
WG=ospd$$
WG_IFACES=("$WG")
SRC=$(cd "$(dirname "$0")/../.." && pwd)

on() { local n=$1; shift; ip netns exec "${NS[$n]}" "$@"; }
wg_pids() { grep -ho 'wireguard-go pid [0-9]*' "$T"/*.log 2>/dev/null | awk '{ print $3 }' | sort -u; }
stop_wg() {
	# shellcheck disable=SC2046
	wg_go_stop $(wg_pids) $(wg_go_serving "$WG")
}
at_exit stop_wg

[[ $(id -u) == 0 && -c /dev/net/tun ]] || skip "needs root and /dev/net/tun"
for prog in wireguard-go ip nft nc ss curl; do
	command -v $prog >/dev/null || skip "$prog not installed (make deps)"
done
ip netns add "osi-pprobe-$$" 2>/dev/null || skip "cannot make network namespaces"
ip netns del "osi-pprobe-$$"

# ---- the topology ----
netns_add "$nd" "$nb" "$gv" "$gs" "$go"
on node sysctl -qw net.ipv4.ip_forward=1
ip link add eth0 netns "$nd" type veth peer name eth0 netns "$nb"
on node ip addr add 192.0.2.1/24 dev eth0
on nbr ip addr add 192.0.2.2/24 dev eth0
on node ip link set eth0 up
on nbr ip link set eth0 up
on node ip link add osibr0 type bridge
on node ip addr add 10.78.1.1/24 dev osibr0
on node ip link set osibr0 up
for g in vault site; do
	ip link add "v$g" netns "$nd" type veth peer name eth0 netns "${NS[$g]}"
	on node ip link set "v$g" master osibr0 up
	on "$g" ip addr add "${IP[$g]}/24" dev eth0
	on "$g" ip link set eth0 up
	on "$g" ip route add default via 10.78.1.1
done
ip link add toorch netns "$nd" type veth peer name eth0 netns "$go"
on node ip addr add 10.78.2.1/24 dev toorch
on node ip link set toorch up
on orch ip addr add 10.78.2.10/24 dev eth0
on orch ip link set eth0 up
on orch ip route add default via 10.78.2.1
wait_until 5 on orch ping -c 1 -W 1 10.78.1.11 || die "the stand-ins are not routed"
pass "node with osibr0, two guests on it, one routed in from 'another node', an underlay neighbour"

# ---- the mesh and node-a's agent, with a cached fabric table ----
# node-b is admitted (from the orch stand-in's namespace, its WireGuard
# removed after): the agent counts a guest only in its own node's subnet.
on node "$OSI_BIN" --state-dir "$T/node" --genesis --name node-a --role fleet --interface "$WG" \
	--connect 10.78.2.10:7104 --ttl 60s --sas-from "$T/genesis.sas" --no-start \
	> "$T/genesis.log" 2>&1 < /dev/null &
PIDS[genesis]=$!
has_line() { grep -q -- "$2" "$T/$1.log"; }
wait_until 20 has_line genesis '^Code:' || die "genesis printed no code: $(tail -n 5 "$T/genesis.log")"
awk '/^Code:/ { print $2 }' "$T/genesis.log" | tail -n 1 > "$T/join.code"
on orch "$OSI_BIN" --state-dir "$T/b" --join - --listen 10.78.2.10:7104 --name node-b \
	--interface "${WG}b" --sas-from "$T/join.sas" --no-start < "$T/join.code" > "$T/join.log" 2>&1 &
PIDS[join]=$!
wait_until 15 has_line genesis '^SAS:' || die "genesis shows no SAS: $(tail -n 5 "$T/genesis.log")"
wait_until 15 has_line join '^SAS:' || die "join shows no SAS: $(tail -n 5 "$T/join.log")"
awk '/^SAS:/ { print $2 $3 }' "$T/join.log" | tail -n 1 > "$T/genesis.sas"
awk '/^SAS:/ { print $2 $3 }' "$T/genesis.log" | tail -n 1 > "$T/join.sas"
wait "${PIDS[join]}" || die "join: $(tail -n 5 "$T/join.log")"
wait "${PIDS[genesis]}" || die "genesis: $(tail -n 5 "$T/genesis.log")"
unset "PIDS[join]" "PIDS[genesis]"
on orch ip link del "${WG}b" 2>/dev/null || true
# the stand-in for b's subnet goes over toorch, not the mesh
on node ip route replace 10.78.2.0/24 dev toorch
cat > "$T/node/fabric.json" <<'JSON'
{"zone":"osi.internal","guests":[
 {"name":"vault","type":"totebox","node":"node-a","addr":"10.78.1.11"},
 {"name":"site","type":"mediakit","node":"node-a","addr":"10.78.1.12"},
 {"name":"orch","type":"orchestration","node":"node-b","addr":"10.78.2.10"}],
 "published":[{"guest":"site","proto":"tcp","port":80,"host_port":8080}]}
JSON
ip netns exec "$nd" "$HOST_BIN" --config "$T/node/host.conf" --set images_dir="$SRC/images" \
	--set guests_uri= --set virt_socket="$T/no-helper.sock" --set heartbeat_interval=1s \
	>> "$T/agent.log" 2>&1 &
PIDS[agent]=$!
policy_applied() { grep -q "fabric: policy applied" "$T/agent.log"; }
wait_until 15 policy_applied || die "the agent did not apply the cached table"
[[ $(on node nft list chain inet osi published) == *"dnat ip to 10.78.1.12:80"* ]] ||
	die "no DNAT for the published port: $(on node nft list table inet osi)"
grep -q "10.78.1.11 vault.osi.internal" "$T/node/names" || die "names file: $(cat "$T/node/names")"
grep -q "10.77.0.1 node-a.osi.internal" "$T/node/names" || die "names file lacks the member"
[[ $(stat -c %a "$T/node/names") == 640 ]] || die "names file mode $(stat -c %a "$T/node/names")"
grep -q "cannot ask the helper" "$T/agent.log" || die "a missing helper was not logged"
pass "agent applied the cached fabric.json: policy, DNAT, names file (helper absent: logged, went on)"

# ---- flows ----
listening() { [[ $(on "$1" ss -Hltn "sport = :$2") == *LISTEN* ]]; }
serve() { # serve NS PORT: answers "hi-from-NS" to each connection
	ip netns exec "${NS[$1]}" bash -c "exec 2>/dev/null; while :; do echo hi-from-$1 | timeout 5 nc -n -N -l $2 >/dev/null 2>&1; done" \
		> /dev/null 2>&1 &
	PIDS[srv-$1-$2]=$!
	wait_until 5 listening "$1" "$2" || die "no listener in $1 on $2"
}
reach() { # reach FROM ADDR PORT: the listener's answer arrives
	[[ $(on "$1" timeout 4 nc -n -N -w 2 "$2" "$3" < /dev/null 2>/dev/null) == hi-from-* ]]
}
guest_denied() { on node nft list counter inet osi guest_denied | awk '/packets/ { print $2 }'; }

serve vault 9190
serve vault 22
serve site 80
serve orch 9190
reach orch 10.78.1.11 9190 || die "orchestration -> totebox:9190 (allowed) failed"
reach orch 10.78.1.12 80 || die "orchestration -> mediakit:80 (public) failed"
pass "allowed flows work: orchestration -> totebox 9190, anyone -> mediakit 80"

before=$(guest_denied)
reach orch 10.78.1.11 22 && die "orchestration -> totebox:22 went through"
reach site 10.78.2.10 9190 && die "mediakit -> orchestration:9190 went through"
after=$(guest_denied)
(( after > before )) || die "guest_denied did not rise ($before -> $after)"
pass "denied flows do not: orchestration -> totebox 22, mediakit -> orchestration; guest_denied $before -> $after"

# ---- the control plane: nothing of 7101-7105 on the host from a guest ----
for port in 7101 7102 7103 7104 7105; do
	ip netns exec "$nd" timeout 30 nc -n -l -k "$port" >/dev/null 2>&1 &
	PIDS[cp-$port]=$!
done
for port in 7101 7102 7103 7104 7105; do
	wait_until 5 listening node "$port" || die "no listener on $port"
done
for g in vault site; do
	for port in 7101 7103 7105; do
		for a in 10.78.1.1 10.77.0.1 192.0.2.1; do
			on "$g" timeout 3 nc -n -z -w 1 "$a" "$port" 2>/dev/null &&
				die "$g reached its host's $a:$port"
		done
	done
done
on orch timeout 3 nc -n -z -w 1 10.78.1.1 7102 2>/dev/null && die "orch reached 10.78.1.1:7102"
pass "no guest reaches its host's 7101-7105 (gateway, mesh or underlay address)"
for port in 7101 7102 7103 7104 7105; do stop "cp-$port"; done

# ---- publishing ----
reach nbr 192.0.2.1 8080 || die "the published port does not answer the underlay neighbour"
reach nbr 192.0.2.1 80 && die "mediakit's unpublished 80 answers on the host"
reach nbr 192.0.2.1 9190 && die "totebox's 9190 answers on the host"
pass "site's tcp/80 answers on the node's 8080 from the underlay; unpublished ports do not"

# the cache is what a restarted agent applies: drop the publication, restart
sed -i 's/"published":\[.*\]}/"published":[]}/' "$T/node/fabric.json"
stop agent
: > "$T/agent.log"
ip netns exec "$nd" "$HOST_BIN" --config "$T/node/host.conf" --set images_dir="$SRC/images" \
	--set guests_uri= --set virt_socket="$T/no-helper.sock" --set heartbeat_interval=1s \
	>> "$T/agent.log" 2>&1 &
PIDS[agent]=$!
wait_until 15 policy_applied || die "the restarted agent did not apply the cache"
reach nbr 192.0.2.1 8080 && die "an unpublished port still answers after the restart"
reach orch 10.78.1.11 9190 || die "policy lost across the restart"
pass "a restarted agent applies its cache first: the unpublished port is closed, the policy holds"

# ---- the fleet's push replaces the cache ----
# This fleet has no guest with an address (no libvirt here): after its first
# 25 s it pushes a table with none, which the agent stores and applies.
ip netns exec "$nd" "$FLEET_BIN" --config "$T/node/fleet.conf" --set api_socket="$T/fleet.sock" \
	--set metrics_listen=127.0.0.1:9102 >> "$T/fleet.log" 2>&1 &
PIDS[fleet]=$!
pushed() { grep -q '"guests":\[\]' "$T/node/fabric.json"; }
wait_until 60 pushed || die "the fleet's table did not reach the agent: $(cat "$T/node/fabric.json")"
grep -q '"zone":"osi.internal"' "$T/node/fabric.json" || die "pushed table: $(cat "$T/node/fabric.json")"
wait_until 10 grep -q "policy applied (0 guests" "$T/agent.log" || die "the pushed table was not applied"
reach orch 10.78.1.11 9190 && die "a guest the fleet does not list is still admitted"
metrics() { ip netns exec "$nd" curl -fsS http://127.0.0.1:9102/metrics; }
counted() { [[ $(metrics) =~ osi_node_guest_denied_packets_total\{node=\"node-a\"\}\ ([0-9]+) ]] &&
	(( BASH_REMATCH[1] >= after )); }
wait_until 5 counted || die "no guest_denied counter in the fleet's metrics: $(metrics | grep osi_node)"
pass "a real fleet pushes its table (signed, dispatch verb fabric); the agent stores and applies it; the fleet exports guest_denied"
