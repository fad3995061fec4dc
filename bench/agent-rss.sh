#!/bin/bash
# The host agent's RSS beside prometheus-node-exporter's, same machine, same
# run, after the same settling time; printed as a ratio. Installs the peer
# (Debian's prometheus-node-exporter) with apt-get when it is missing.
set -euo pipefail
BUILD=${1:-build}
SETTLE=${SETTLE:-20}
OSI=$BUILD/os-infrastructure/os-infrastructure
T=$(mktemp -d /tmp/osi-bench-rss.XXXXXX)
ADDR=127.78.0.3
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$T"; }
trap cleanup EXIT
rss() { awk '/VmRSS/ { print $2 }' "/proc/$1/status"; }

PEER=/usr/bin/prometheus-node-exporter
if [[ ! -x $PEER ]]; then
	echo "  installing prometheus-node-exporter (apt-get)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		prometheus-node-exporter >/dev/null 2>&1 || { echo "  (cannot install the peer: skipped)"; exit 0; }
fi
"$OSI" --state-dir "$T/fleet" keygen --name fleet --role node,fleet > "$T/trust" 2>/dev/null
"$OSI" --state-dir "$T/agent" keygen --name agent --role node >> "$T/trust" 2>/dev/null
: > "$T/empty.conf"
"$BUILD/service-vm-fleet/service-vm-fleet" --config "$T/empty.conf" --set state_dir="$T/fleet" \
	--set trust_file="$T/trust" --set heartbeat_listen=$ADDR:7101 --set api_listen= \
	--set api_socket="$T/fleet.sock" --set metrics_listen= --set log_level=warn &
PIDS+=($!)
"$BUILD/service-vm-host/service-vm-host" --config "$T/empty.conf" --set name=agent \
	--set state_dir="$T/agent" --set trust_file="$T/trust" --set fleet_address=$ADDR:7101 \
	--set heartbeat_interval=10s --set guests_uri= --set log_level=warn &
agent=$!; PIDS+=($agent)
# The peer as packaged, on a loopback port of its own; scraped once, as
# Prometheus would, so both have done their periodic work.
"$PEER" --web.listen-address=$ADDR:9100 >"$T/peer.log" 2>&1 &
peer=$!; PIDS+=($peer)
sleep "$SETTLE"
curl -fsS "http://$ADDR:9100/metrics" >/dev/null || echo "  (the peer did not answer a scrape)"
sleep 1
a=$(rss $agent); p=$(rss $peer)
echo "  after ${SETTLE} s: service-vm-host VmRSS ${a} KiB, prometheus-node-exporter" \
	"$("$PEER" --version 2>&1 | awk 'NR == 1 { print $3 }') VmRSS ${p} KiB:" \
	"ratio agent/peer $(echo "scale=3; $a / $p" | bc)"
