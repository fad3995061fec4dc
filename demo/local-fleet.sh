#!/bin/bash
# make demo: a local fleet on this machine. One fleet controller and three host
# agents (laptop-a, laptop-b, cloud) on a private loopback address, heartbeats
# every 2 s, eviction after 6 s so the demo shows it within a minute. Stops
# everything it started on Ctrl-C or at its end.
set -euo pipefail
BUILD=${1:-build}
OSI=$BUILD/os-infrastructure/os-infrastructure
T=$(mktemp -d /tmp/osi-demo.XXXXXX)
ADDR=127.77.0.1
declare -A PIDS=()

stop_all() {
	for n in "${!PIDS[@]}"; do kill -TERM "${PIDS[$n]}" 2>/dev/null || true; done
	for n in "${!PIDS[@]}"; do wait "${PIDS[$n]}" 2>/dev/null || true; done
	PIDS=()
}
cleanup() { stop_all; echo; echo "demo stopped; state and logs were in $T (removed)"; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
osi() { "$OSI" --state-dir "$T/operator" --socket "$T/fleet.sock" --trust-file "$T/trust" "$@"; }
member() { "$OSI" --trust-file "$T/trust" trust add --line "$("$OSI" --state-dir "$T/$1" keygen --name "$1" --role "$2")" >/dev/null; }

say "identities: each member makes its own keys; the trust file lists the public halves"
member cloud node,fleet
member operator admin
for n in laptop-a laptop-b; do member $n node; done
osi trust list

say "service-vm-fleet (heartbeats on udp $ADDR:7101, api on the unix socket, metrics on http://$ADDR:9102/metrics)"
: > "$T/empty.conf"
"$BUILD/service-vm-fleet/service-vm-fleet" --config "$T/empty.conf" --set state_dir="$T/cloud" \
	--set trust_file="$T/trust" --set heartbeat_listen=$ADDR:7101 --set api_listen=$ADDR:7102 \
	--set api_socket="$T/fleet.sock" --set metrics_listen=$ADDR:9102 --set evict_after=6s \
	2> >(sed 's/^/    fleet | /' >&2) &
PIDS[fleet]=$!
for _ in $(seq 50); do [[ -S $T/fleet.sock ]] && break; sleep 0.1; done

start_agent() {
	"$BUILD/service-vm-host/service-vm-host" --config "$T/empty.conf" --set name=$1 \
		--set state_dir="$T/$1" --set trust_file="$T/trust" --set fleet_address=$ADDR:7101 \
		--set heartbeat_interval=2s --set guests_uri= 2> >(sed "s/^/    $1 | /" >&2) &
	PIDS[$1]=$!
}
say "three service-vm-host agents, heartbeat every 2 s"
for n in laptop-a laptop-b cloud; do start_agent $n; done
sleep 3

say "os-infrastructure status"
osi status
say "os-infrastructure place --memory 2G --vcpus 2 --type mediakit  (advisory)"
osi place --memory 2G --vcpus 2 --type mediakit
say "os-infrastructure place --memory 2G --vcpus 2 --type totebox --node laptop-a"
osi place --memory 2G --vcpus 2 --type totebox --node laptop-a

say "stopping laptop-b's agent: the fleet evicts it after 6 s of silence"
kill -KILL "${PIDS[laptop-b]}"; wait "${PIDS[laptop-b]}" 2>/dev/null || true; unset 'PIDS[laptop-b]'
sleep 8
osi status
say "laptop-b comes back and is readmitted"
start_agent laptop-b
sleep 3
osi status
say "os-infrastructure events"
osi events
say "a few lines of /metrics"
curl -fsS http://$ADDR:9102/metrics | grep -E '^osi_fleet_(nodes|heartbeats_accepted|evictions)' || true
say "done: stopping the fleet and the agents"
