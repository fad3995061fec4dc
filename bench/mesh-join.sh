#!/bin/bash
# Time from `os-infrastructure --join` to the fleet's first accepted heartbeat
# from the new member, over real wireguard-go in network namespaces, with the
# SAS confirmation left out (the script reads both screens and confirms; the
# time from the first SAS on screen to both confirmations written is
# subtracted). Then the CPU each side spends on CPace and on the whole
# ceremony (bench-cpace).
#
#   ┌──── $hub: fleet (genesis --role fleet) ────┐
#   │ 10.99.N.1/24 per joiner, wg :51820          │
#   └──┬───────────────────┬──────────────────────┘
#      │ veth              │
#   $j1: node-1        $j2: node-2 ...      10.99.N.2/24, wg :51820
#
# Each run: invite on the fleet node; --join on a fresh machine; the fleet
# reloads the ledger (what the systemd path unit does); the machine's agent
# starts (what --join does where systemd runs); the fleet logs the member's
# first heartbeat. The agent sends its first heartbeat at start, then one
# a second (a first one lost while WireGuard shakes hands costs up to 1 s).
#
#   bench/mesh-join.sh [BUILD] [RUNS]      (root; default build, 5 runs)
set -euo pipefail
BUILD=${1:-build}
RUNS=${2:-5}
OSI=$BUILD/os-infrastructure/os-infrastructure
T=$(mktemp -d /tmp/osi-bench-join.XXXXXX)
hub=osi-bj-hub-$$
declare -a PIDS=() NSS=("$hub")

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
[[ $(id -u) == 0 && -c /dev/net/tun ]] || { echo "mesh-join: needs root and /dev/net/tun"; exit 77; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
wait_for() { # wait_for SECONDS FILE PATTERN
	local deadline=$(( $(now_ms) + $1 * 1000 ))
	until grep -q -- "$3" "$2" 2>/dev/null; do
		(( $(now_ms) < deadline )) || { echo "mesh-join: no '$3' in $(basename "$2")"; tail "$2"; exit 1; }
		sleep 0.01
	done
}
sas_of() { awk '/^SAS:/ { print $2 $3 }' "$1" | tail -n 1; }

ip netns add "$hub"
ip -n "$hub" link set lo up
ip netns exec "$hub" "$OSI" --state-dir "$T/fleet" --genesis --name fleet --role fleet \
	--endpoint 10.99.1.1:51820 --interface osbh$$ --no-invite --no-start > "$T/genesis.log" 2>&1
ip netns exec "$hub" "$BUILD/service-vm-fleet/service-vm-fleet" --config "$T/fleet/fleet.conf" \
	--set api_socket="$T/fleet.sock" --set metrics_listen= > "$T/fleet.log" 2>&1 &
fleet=$!; PIDS+=("$fleet")
ip netns exec "$hub" "$BUILD/service-vm-host/service-vm-host" --config "$T/fleet/host.conf" \
	--set guests_uri= --set heartbeat_interval=1s > "$T/agent-fleet.log" 2>&1 &
PIDS+=($!)
wait_for 10 "$T/fleet.log" 'node fleet registered'

results=()
for i in $(seq "$RUNS"); do
	ns=osi-bj-$i-$$
	NSS+=("$ns")
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip link add "hub$i" netns "$hub" type veth peer name eth0 netns "$ns"
	ip -n "$hub" addr add "10.99.$i.1/24" dev "hub$i"
	ip -n "$ns" addr add "10.99.$i.2/24" dev eth0
	ip -n "$hub" link set "hub$i" up
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via "10.99.$i.1"

	ip netns exec "$hub" "$OSI" --state-dir "$T/fleet" invite --listen "10.99.$i.1:7104" \
		--sas-from "$T/inv$i.sas" > "$T/invite$i.log" 2>&1 &
	inviter=$!
	wait_for 10 "$T/invite$i.log" '^Code:'
	code=$(awk '/^Code:/ { print $2 }' "$T/invite$i.log")
	t0=$(now_ms)
	ip netns exec "$ns" "$OSI" --state-dir "$T/n$i" --join "$code" --via "10.99.$i.1:7104" \
		--name "node-$i" --endpoint "10.99.$i.2:51820" --interface "osbj$i-$$" \
		--sas-from "$T/join$i.sas" --no-start > "$T/join$i.log" 2>&1 &
	joiner=$!
	wait_for 10 "$T/join$i.log" '^SAS:'
	t_sas=$(now_ms)
	wait_for 10 "$T/invite$i.log" '^SAS:'
	sas_of "$T/join$i.log" > "$T/inv$i.sas"
	sas_of "$T/invite$i.log" > "$T/join$i.sas"
	t_conf=$(now_ms)
	wait "$joiner"
	wait "$inviter"
	t_joined=$(now_ms)
	kill -HUP "$fleet"
	ip netns exec "$ns" "$BUILD/service-vm-host/service-vm-host" --config "$T/n$i/host.conf" \
		--set guests_uri= --set heartbeat_interval=1s > "$T/agent$i.log" 2>&1 &
	PIDS+=($!)
	wait_for 20 "$T/fleet.log" "node node-$i registered"
	stamp=$(grep -m 1 "node node-$i registered" "$T/fleet.log" | cut -d' ' -f1)
	t_hb=$(date -d "$stamp" +%s%3N)
	total=$(( t_hb - t0 - (t_conf - t_sas) ))
	results+=("$total")
	echo "  run $i: ${total} ms from --join to the first accepted heartbeat" \
		"(ceremony and interface $(( t_joined - t0 - (t_conf - t_sas) )) ms," \
		"agent start to heartbeat $(( t_hb - t_joined )) ms; SAS wait of $(( t_conf - t_sas )) ms excluded)"
done
sorted=$(printf '%s\n' "${results[@]}" | sort -n)
echo "== join to first heartbeat over the mesh ($RUNS runs): median $(sed -n "$(( (RUNS + 1) / 2 ))p" <<<"$sorted") ms," \
	"min $(head -n 1 <<<"$sorted") ms, max $(tail -n 1 <<<"$sorted") ms"
echo "== CPU per side of the pairing"
"$BUILD/bench/bench-cpace" 200 | sed 's/^/  /'
