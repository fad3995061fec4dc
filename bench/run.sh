#!/bin/bash
# make bench: prints figures; no pass/fail. Targets (issue 2):
#   heartbeats accepted per second on one core   >= 50,000
#   placement with 10,000 nodes                  >= 20,000 decisions/s, p99 <= 100 us
#   host agent over 60 s                          <= 4 MiB RSS
set -euo pipefail
BUILD=${1:-build}
OSI=$BUILD/os-infrastructure/os-infrastructure
T=$(mktemp -d /tmp/osi-bench.XXXXXX)
ADDR=127.78.0.1
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$T"; }
trap cleanup EXIT
member() { "$OSI" --trust-file "$T/trust" trust add --line "$("$OSI" --state-dir "$T/$1" keygen --name "$1" --role "$2")" >/dev/null; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
metric() { curl -fsS "http://$ADDR:9102/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

echo "== heartbeat ingest: fleet on cpu 0, sender (another process) on cpu 1, loopback"
member fleet fleet; member sender node
: > "$T/empty.conf"
taskset -c 0 "$BUILD/service-vm-fleet/service-vm-fleet" --config "$T/empty.conf" \
	--set state_dir="$T/fleet" --set trust_file="$T/trust" --set heartbeat_listen=$ADDR:7101 \
	--set api_listen= --set api_socket="$T/fleet.sock" --set metrics_listen=$ADDR:9102 \
	--set log_level=warn &
fleet=$!; PIDS+=($fleet)
for _ in $(seq 50); do [[ -S $T/fleet.sock ]] && break; sleep 0.1; done
hz=$(getconf CLK_TCK)
for rate in 60000 0; do
	a0=$(metric osi_fleet_heartbeats_accepted_total); c0=$(cpu_ticks $fleet); t0=$(date +%s%N)
	label=$([[ $rate == 0 ]] && echo "unpaced (as fast as the sender can)" || echo "paced at $rate/s")
	out=$(taskset -c 1 "$BUILD/bench/bench-heartbeat-send" --state-dir "$T/sender" --trust "$T/trust" \
		--fleet $ADDR:7101 --count 600000 --rate $rate --seq-start $(( $(date +%s) * 1000000 )))
	sleep 0.5
	a1=$(metric osi_fleet_heartbeats_accepted_total); c1=$(cpu_ticks $fleet); t1=$(date +%s%N)
	acc=$((a1 - a0)); cpu=$(echo "scale=3; ($c1 - $c0) / $hz" | bc)
	echo "  $label: $out"
	echo "    accepted $acc of 600000 in $(echo "scale=2; ($t1 - $t0) / 1000000000" | bc) s wall;" \
		"fleet cpu ${cpu} s => $(echo "scale=0; $acc / ($cpu + 0.0001)" | bc) accepted per cpu-second"
done

echo "== placement decisions (in-process, 10,000 registered nodes)"
"$BUILD/bench/bench-placement"

echo "== host agent: RSS and CPU over 60 s"
for interval in 10s 1s; do
	member "agent$interval" node 2>/dev/null || true
	"$BUILD/service-vm-host/service-vm-host" --config "$T/empty.conf" --set name="agent$interval" \
		--set state_dir="$T/agent$interval" --set trust_file="$T/trust" \
		--set fleet_address=$ADDR:7101 --set heartbeat_interval=$interval --set guests_uri= \
		--set log_level=warn &
	agent=$!; PIDS+=($agent)
	c0=$(cpu_ticks $agent)
	sleep 60
	c1=$(cpu_ticks $agent)
	rss=$(awk '/VmRSS/ { print $2 }' /proc/$agent/status); hwm=$(awk '/VmHWM/ { print $2 }' /proc/$agent/status)
	echo "  interval $interval: VmRSS ${rss} KiB, VmHWM ${hwm} KiB, cpu $(( (c1 - c0) * 1000 / hz )) ms in 60 s"
	kill $agent; wait $agent 2>/dev/null || true
done

echo "== mesh: CPace CPU per side, and --join to the first heartbeat over WireGuard"
"$(dirname "$0")/mesh-join.sh" "$BUILD" || echo "  (mesh benchmark skipped: $?)"

echo "== guests: see bench/guests.sh"
"$(dirname "$0")/guests.sh" "$BUILD" || echo "  (guest benchmark skipped: $?)"

echo "== guest fabric: two stand-in guests across the mesh beside their hosts (bench/fabric.sh)"
"$(dirname "$0")/fabric.sh" "$BUILD" || echo "  (fabric benchmark skipped: $?)"

echo "== status --format json with 10,000 live nodes (target <= 50 ms)"
"$(dirname "$0")/status.sh" "$BUILD" || echo "  (status benchmark failed: $?)"

echo "== host agent RSS beside prometheus-node-exporter's"
"$(dirname "$0")/agent-rss.sh" "$BUILD" || echo "  (RSS comparison failed: $?)"

echo "== guest export beside qemu-img convert of the same volume (bench/export.sh)"
"$(dirname "$0")/export.sh" "$BUILD" || echo "  (export benchmark skipped: $?)"

echo "== vm move of a 2 GiB volume (half full) beside nc over the same mesh (bench/move.sh)"
"$(dirname "$0")/move.sh" "$BUILD" || echo "  (move benchmark skipped: $?)"
