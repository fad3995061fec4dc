#!/bin/bash
# The guest fabric's own cost: TCP throughput and round-trip time between two
# stand-in guests on different nodes across the mesh, beside the same between
# the two hosts' mesh addresses, over real wireguard-go in network namespaces.
# Targets (issue 11): throughput ratio >= 0.9, at most 0.2 ms added to the RTT.
#
#   ┌── $na: node-a, behind NAT ──┐         ┌── $nb: node-b, endpoint ─────┐
#   │ 10.77.0.1  osibr0 10.78.1.1 ├─ $nat ──┤ 10.77.0.2  osibr0 10.78.2.1   │
#   │   └ $ga: guest 10.78.1.10   │         │   └ $gb: guest 10.78.2.10     │
#   └─────────────────────────────┘         └──────────────────────────────┘
#
# The guests are namespaces on a veth in each node's bridge (what the routed
# libvirt network makes), so TCG emulation does not hide the fabric's cost:
# the difference is one bridge, one veth and one forwarding step per side.
# Each measurement runs ROUNDS times, the two paths interleaved; medians.
#
#   bench/fabric.sh [BUILD] [ROUNDS] [SECONDS]   (root; default build, 3 rounds, 5 s)
#   FABRIC_TCP_TOOL=nc: nc + dd instead of iperf3 (the fallback where it is missing)
set -euo pipefail
BUILD=${1:-build}
ROUNDS=${2:-3}
SECS=${3:-5}
OSI=$BUILD/os-infrastructure/os-infrastructure
T=$(mktemp -d /tmp/osi-bench-fabric.XXXXXX)
na=osi-bfa-$$ nb=osi-bfb-$$ nat=osi-bfn-$$ ga=osi-bfga-$$ gb=osi-bfgb-$$
declare -A NS=([a]=$na [b]=$nb [ga]=$ga [gb]=$gb)
declare -a PIDS=() NSS=()

cleanup() {
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	grep -ho 'wireguard-go pid [0-9]*' "$T"/*.log 2>/dev/null | awk '{ print $3 }' |
		while read -r p; do
			[[ $(cat "/proc/$p/comm" 2>/dev/null) == wireguard-go ]] && kill "$p"
		done
	for ns in "${NSS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
[[ $(id -u) == 0 && -c /dev/net/tun ]] || { echo "fabric: needs root and /dev/net/tun"; exit 77; }
for prog in wireguard-go wg ping nc jq bc; do
	command -v $prog >/dev/null || { echo "fabric: $prog not installed (make deps)"; exit 77; }
done

on() { local n=$1; shift; ip netns exec "${NS[$n]}" "$@"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
wait_for() { # wait_for SECONDS CMD...
	local deadline=$(( $(now_ms) + $1 * 1000 )); shift
	until "$@" >/dev/null 2>&1; do
		(( $(now_ms) < deadline )) || { echo "fabric: timed out waiting for: $*"; exit 1; }
		sleep 0.05
	done
}
in_log() { grep -q -- "$2" "$T/$1.log"; }
sas_of() { awk '/^SAS:/ { print $2 $3 }' "$T/$1.log" | tail -n 1; }

for ns in "$na" "$nb" "$nat" "$ga" "$gb"; do
	ip netns add "$ns"
	NSS+=("$ns")
	ip -n "$ns" link set lo up
done
link() { # link NS1 IF1 ADDR1 NS2 IF2 ADDR2
	ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
	ip -n "$1" addr add "$3" dev "$2"
	ip -n "$4" addr add "$6" dev "$5"
	ip -n "$1" link set "$2" up
	ip -n "$4" link set "$5" up
}
link "$na" eth0 192.168.1.2/24 "$nat" lan 192.168.1.1/24
link "$nat" wan 198.51.100.1/24 "$nb" eth0 198.51.100.2/24
ip -n "$na" route add default via 192.168.1.1
ip netns exec "$nat" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$nat" nft -f - <<'EOF'
table ip nat {
	chain post { type nat hook postrouting priority srcnat; oifname "wan" masquerade; }
}
EOF

# The mesh, by the project's own ceremony: a (behind NAT) connects out to b.
ip netns exec "$na" "$OSI" --state-dir "$T/a" --genesis --name node-a --interface osba$$ \
	--connect 198.51.100.2:7104 --ttl 60s --sas-from "$T/a.sas" > "$T/a.log" 2>&1 &
PIDS+=($!); genesis=$!
wait_for 20 in_log a '^Code:'
awk '/^Code:/ { print $2 }' "$T/a.log" | tail -n 1 > "$T/b.code"
ip netns exec "$nb" "$OSI" --state-dir "$T/b" --join - --listen 198.51.100.2:7104 --name node-b \
	--endpoint 198.51.100.2:51820 --interface osbb$$ --sas-from "$T/b.sas" \
	< "$T/b.code" > "$T/b.log" 2>&1 &
PIDS+=($!); joiner=$!
wait_for 15 in_log a '^SAS:'
wait_for 15 in_log b '^SAS:'
sas_of b > "$T/a.sas"
sas_of a > "$T/b.sas"
wait "$joiner"
wait "$genesis"
wait_for 15 on a ping -c 1 -W 1 10.77.0.2

# Each node's guest side: the bridge at its gateway, forwarding on, a guest.
guest_side() { # guest_side NODE N
	ip -n "${NS[$1]}" link add osibr0 type bridge
	ip -n "${NS[$1]}" addr add "10.78.$2.1/24" dev osibr0
	ip -n "${NS[$1]}" link set osibr0 up
	on "$1" sysctl -qw net.ipv4.ip_forward=1
	ip link add vnet0 netns "${NS[$1]}" type veth peer name eth0 netns "${NS[g$1]}"
	ip -n "${NS[$1]}" link set vnet0 master osibr0 up
	ip -n "${NS[g$1]}" addr add "10.78.$2.10/24" dev eth0
	ip -n "${NS[g$1]}" link set eth0 up
	ip -n "${NS[g$1]}" route add default via "10.78.$2.1"
}
guest_side a 1
guest_side b 2
wait_for 15 on ga ping -c 1 -W 1 10.78.2.10

# rtt FROM TO: "median avg" in ms of 200 pings 10 ms apart.
rtt() {
	on "$1" ping -n -c 200 -i 0.01 "$2" | awk -F'time=' '/time=/ { split($2, t, " "); print t[1] }' |
		sort -n | awk '{ v[NR] = $1; s += $1 }
			END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
			      printf "%.3f %.3f\n", m, s / NR }'
}
listening() { on "$1" ss -Hltn "sport = :$2" | grep -q LISTEN; }
# tput FROM TO-NODE TO-ADDR: Mbit/s received, FROM sending to TO for SECS.
tput() {
	if [[ $TOOL == iperf3 ]]; then
		on "$2" iperf3 -s -1 -B "$3" -p 5201 > /dev/null 2>&1 &
		local srv=$!
		wait_for 5 listening "$2" 5201
		on "$1" iperf3 -c "$3" -p 5201 -t "$SECS" -J | jq '.end.sum_received.bits_per_second / 1e5 | round / 10'
		wait "$srv" 2>/dev/null || true
	else
		on "$2" nc -n -l "$3" 5201 > /dev/null &
		local srv=$! t0 t1
		sleep 0.3
		t0=$(date +%s%N)
		on "$1" timeout $(( SECS * 4 )) dd if=/dev/zero bs=64k count=$(( SECS * 2000 )) status=none |
			on "$1" nc -n -N "$3" 5201
		t1=$(date +%s%N)
		wait "$srv" 2>/dev/null || true
		echo "scale=1; $SECS * 2000 * 65536 * 8 / (($t1 - $t0) / 1000)" | bc
	fi
}
median() { sort -n | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

TOOL=${FABRIC_TCP_TOOL:-$(command -v iperf3 >/dev/null && echo iperf3 || echo nc)}
tool=$([[ $TOOL == iperf3 ]] && echo "iperf3, $SECS s" || echo "nc + dd, $(( SECS * 128 )) MiB")
echo "  node-a behind NAT, node-b with an endpoint; wireguard-go; $ROUNDS rounds, medians; TCP by $tool"
: > "$T/hosts.tput"; : > "$T/guests.tput"; : > "$T/hosts.rtt"; : > "$T/guests.rtt"
for _ in $(seq "$ROUNDS"); do
	tput a b 10.77.0.2 >> "$T/hosts.tput"
	tput ga gb 10.78.2.10 >> "$T/guests.tput"
	rtt a 10.77.0.2 >> "$T/hosts.rtt"
	rtt ga 10.78.2.10 >> "$T/guests.rtt"
done
h_t=$(median < "$T/hosts.tput"); g_t=$(median < "$T/guests.tput")
h_m=$(awk '{ print $1 }' "$T/hosts.rtt" | median); g_m=$(awk '{ print $1 }' "$T/guests.rtt" | median)
h_a=$(awk '{ print $2 }' "$T/hosts.rtt" | median); g_a=$(awk '{ print $2 }' "$T/guests.rtt" | median)
printf '  %-34s %14s %14s\n' "" "hosts (mesh)" "guests (fabric)"
printf '  %-34s %14.1f %14.1f\n' "TCP a -> b, Mbit/s" "$h_t" "$g_t"
printf '  %-34s %14.3f %14.3f\n' "RTT median, ms (200 pings, 10 ms)" "$h_m" "$g_m"
printf '  %-34s %14.3f %14.3f\n' "RTT average, ms" "$h_a" "$g_a"
ratio=$(echo "scale=3; $g_t / $h_t" | bc)
added=$(echo "$g_m - $h_m" | bc)
printf '  throughput ratio guests/hosts %.2f (target >= 0.9); RTT added %.3f ms median (target <= 0.2)\n' \
	"$ratio" "$added"
echo "  per round, Mbit/s hosts: $(tr '\n' ' ' < "$T/hosts.tput")guests: $(tr '\n' ' ' < "$T/guests.tput")"
