#!/bin/bash
# kill -9 of the fleet, restart; mass silence and the eviction hold.
#
#   n1 n2 n3 ── udp ──> service-vm-fleet (killed with SIGKILL, restarted on the same fleet.db)
#
# Nodes and events survive; n3, silent across the restart, gets a full window
# from the restart before it is evicted; when every node falls silent at once
# the fleet holds evictions until they return or the operator overrides.
source "$(dirname "$0")/lib.sh"

setup_members n1 n2 n3
start_fleet
for n in n1 n2 n3; do start_agent $n; done
wait_until 10 live_count_is 3 || die "three live"
events_before=$(osi events --limit 1000 --format json | jq ".events | length")

stop n3 KILL
stop fleet KILL
sleep 2   # n3 silent for 2 s of its 3 s window while the fleet is down
start_fleet
[[ $(status_json | jq '.nodes | length') == 3 ]] || die "3 nodes after kill -9"
events_after=$(osi events --limit 1000 --format json | jq ".events | length")
(( events_after >= events_before )) || die "events lost: $events_before -> $events_after"
pass "nodes and $events_after events kept across kill -9"

wait_until 5 node_state_is n3 evicted || die "n3 never evicted after restart"
# Measured by the fleet's own clock: from its start line to n3's eviction line.
log_ms() { date -d "$(grep -- "$1" "$T/fleet.log" | tail -n 1 | cut -d' ' -f1)" +%s%3N; }
took=$(( $(log_ms 'node n3 evicted') - $(log_ms 'stored nodes each get a full') ))
(( took >= 3000 )) || die "n3 evicted ${took} ms after the fleet restarted: before its full window"
(( took <= 3000 + 1000 )) || die "n3 evicted ${took} ms after the restart: late"
pass "n3 evicted ${took} ms after the restart (full 3 s window, by the fleet's log)"
[[ $(node_field n1 state) == live ]] || die "n1 live"

# All three silent at once: the fleet suspects itself.
start_agent n3
wait_until 5 live_count_is 3 || die "n3 back"
for n in n1 n2 n3; do stop $n KILL; done
wait_until 8 holding_is true || die "no hold"
sleep 1
count_in_state_is evicted 0 || die "evicted during hold"
[[ $(metric osi_fleet_eviction_hold) == 1 ]] || die "metric hold"
osi status | grep -c 'Evictions are on hold' >/dev/null || die "status table must say the fleet is holding"
grep -q 'suspecting' "$T/fleet.log" || die "log must say why"
pass "mass silence: evictions held, shown in status, metrics, log"

for n in n1 n2; do start_agent $n; done
wait_until 5 holding_is false || die "hold did not end"
wait_until 5 node_state_is n3 evicted || die "n3 evicted once the others returned"
pass "hold ended when heartbeats returned; n3 evicted"

# All three back, then silent together again: the operator overrides the hold.
start_agent n3
wait_until 5 live_count_is 3 || die "all three back"
for n in n1 n2 n3; do stop $n KILL; done
wait_until 8 holding_is true || die "no second hold"
osi node hold-override >/dev/null || die "override refused"
wait_until 3 count_in_state_is evicted 3 || die "override must evict the silent nodes"
[[ $(osi events --limit 1000 --format json | jq '[.events[] | select(.kind == "hold-override")] | length') == 1 ]] \
	|| die "override logged as an event"
pass "operator override evicts, and is logged"
