#!/bin/bash
# make demo: a local fleet on this machine, on a private loopback address.
# One fleet controller and three host agents (laptop-a, laptop-b, cloud),
# heartbeats every 2 s and eviction after 6 s so the demo shows it within a
# minute; then one guest built through the whole path (plan, confirm,
# dispatch, libvirt) from a small test image under TCG. Everything it starts
# is stopped on Ctrl-C or at its end, by PID.
BUILD=$(realpath "${1:-build}")
export OSI_BUILD=$BUILD OSI_SOURCE=$(realpath "$(dirname "$0")/..") OSI_VIRT_TOOL=$BUILD/tests/virt-tool
source "$OSI_SOURCE/tests/integration/lib.sh"
trap 'exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '\033[2m$ os-infrastructure %s\033[0m\n' "$*"; osi "$@"; }

say "identities: each member makes its own keys; the trust file holds the public halves"
setup_members laptop-a laptop-b cloud   # and "fleet" (the controller) and "cli" (you)
show trust list --format csv | cut -d, -f1-2

say "service-vm-fleet: heartbeats udp $ADDR:$HB_PORT, api on a unix socket, http://$ADDR:$METRICS_PORT/metrics"
EVICT_AFTER=6s start_fleet
say "three service-vm-host agents (laptop-a, laptop-b, cloud), a heartbeat every 2 s"
# Each agent says where it takes the fleet's dispatch (a node without a
# dispatch address is no placement candidate).
declare -A PORT=([laptop-a]=7111 [laptop-b]=7112 [cloud]=7113)
agent() { HB_INTERVAL=2s start_agent "$1" --set dispatch_listen="$ADDR:${PORT[$1]}"; }
for n in laptop-a laptop-b cloud; do agent "$n"; done
wait_until 10 live_count_is 3 || die "the agents did not register"
show status
show place --memory 2G --vcpus 2 --type mediakit
show place --memory 2G --vcpus 2 --type totebox --node laptop-a

say "laptop-b's agent dies: the fleet evicts it after 6 s of silence, never earlier"
stop laptop-b KILL
wait_until 15 node_state_is laptop-b evicted
show status
say "laptop-b comes back and is readmitted"
agent laptop-b
wait_until 10 node_state_is laptop-b live
show events
curl -fsS "http://$ADDR:$METRICS_PORT/metrics" | grep -E '^osi_fleet_(nodes|heartbeats_accepted|evictions)' || true

say "a guest, through the whole path: plan, your confirmation, dispatch, libvirt (TCG)"
source "$OSI_SOURCE/tests/integration/lib-libvirt.sh"
POOL=$LV/pool
wait_until 20 "$OSI_BIN" image --uri "$URI" --pool-dir "$POOL" list || die "libvirtd did not answer"
printf '\033[2m$ os-infrastructure image import %s --name testguest\033[0m\n' "$(basename "$TESTGUEST_IMG")"
"$OSI_BIN" image --uri "$URI" --pool-dir "$POOL" import "$TESTGUEST_IMG" --name testguest 2>/dev/null
stop cloud
start_building_agent cloud
wait_until 10 node_state_is cloud live
show vm create --type mediakit --name web1 --node cloud --memory 192M --vcpus 1 --yes
show vm list
wait_until 120 grep -qa 'osi-testguest' "$LV/consoles/web1.log" || die "web1 printed nothing"
say "web1's serial console"
grep -a 'osi-testguest' "$LV/consoles/web1.log"
show vm destroy web1
say "done: stopping the fleet, the agents, libvirtd and its guests"
