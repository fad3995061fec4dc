#!/bin/bash
# `os-infrastructure status --format json` against a fleet holding 10,000
# live nodes (target <= 50 ms). One sender speaks for sender-0..sender-9999
# with its own keys, which the trust file repeats under each name.
set -euo pipefail
BUILD=${1:-build}
N=${NODES:-10000}
OSI=$BUILD/os-infrastructure/os-infrastructure
T=$(mktemp -d /tmp/osi-bench-status.XXXXXX)
ADDR=127.78.0.2
fleet=
cleanup() { [[ $fleet ]] && kill "$fleet" 2>/dev/null && wait "$fleet" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
line() { "$OSI" --state-dir "$T/$1" keygen --name "$1" --role "$2"; }
osi() { "$OSI" --state-dir "$T/cli" --socket "$T/fleet.sock" --trust-file "$T/trust" "$@"; }

line fleet node,fleet > "$T/trust"
sender=$(line sender node)
read -r _ _ sign kx <<<"$sender"
echo "$sender" >> "$T/trust"
for ((i = 0; i < N; i++)); do echo "sender-$i node $sign $kx"; done >> "$T/trust"
: > "$T/empty.conf"
"$BUILD/service-vm-fleet/service-vm-fleet" --config "$T/empty.conf" \
	--set state_dir="$T/fleet" --set trust_file="$T/trust" --set heartbeat_listen=$ADDR:7101 \
	--set api_listen= --set api_socket="$T/fleet.sock" --set metrics_listen= \
	--set evict_after=600s --set log_level=warn 2>"$T/fleet.log" &
fleet=$!
for _ in $(seq 100); do [[ -S $T/fleet.sock ]] && break; sleep 0.1; done
# Paced so that no datagram is lost: every name must register.
"$BUILD/bench/bench-heartbeat-send" --state-dir "$T/sender" --trust "$T/trust" \
	--fleet $ADDR:7101 --count "$N" --names "$N" --rate 20000 >/dev/null
for _ in $(seq 100); do
	live=$(osi status --format json | jq '.fleet.nodes_live')
	(( live >= N )) && break
	sleep 0.2
done
bytes=$(osi status --format json | wc -c)
runs=()
for _ in $(seq 20); do
	t0=$(date +%s%N)
	osi status --format json >/dev/null
	runs+=($(( ($(date +%s%N) - t0) / 1000 )))
done
sorted=$(printf '%s\n' "${runs[@]}" | sort -n)
med=$(sed -n 10p <<<"$sorted"); max=$(tail -1 <<<"$sorted")
printf '  %s live nodes, %s bytes of JSON: median %.1f ms, max %.1f ms over 20 runs (target <= 50 ms)\n' \
	"$live" "$bytes" "$(bc -l <<<"$med / 1000")" "$(bc -l <<<"$max / 1000")"
