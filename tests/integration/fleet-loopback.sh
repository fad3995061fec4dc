#!/bin/bash
# A fleet and three host agents on one loopback address.
#
#        n1 ──┐
#        n2 ──┼── udp heartbeats ──> service-vm-fleet <── os-infrastructure (unix socket)
#        n3 ──┘     every 0.5 s        evict after 3 s       /metrics (http)
#
# All three appear in status; n2 killed is evicted on time and never early;
# n2 restarted is readmitted; the events and metrics say so.
source "$(dirname "$0")/lib.sh"

setup_members n1 n2 n3
start_fleet
for n in n1 n2 n3; do start_agent $n; done
wait_until 10 live_count_is 3 || die "three live nodes expected: $(status_json)"
pass "n1 n2 n3 live in status --format json"
[[ $(status_json | jq -r '[.nodes[].name] | join(",")') == "n1,n2,n3" ]] || die "names sorted"
osi status | grep -c '| NAME ' >/dev/null || die "table header"

# Kill n2 hard; watch the fleet until it evicts, remembering how long n2 had
# been silent at the last look before and the first look after.
stop n2 KILL
killed=$(now_ms)
age_before=0
while :; do
	s=$(status_json)
	st=$(jq -r '.nodes[] | select(.name == "n2") | .state' <<<"$s")
	age=$(jq -r '.nodes[] | select(.name == "n2") | .last_seen_age_ms' <<<"$s")
	[[ $st == evicted ]] && break
	[[ $st == live ]] || die "n2 in state $st before eviction"
	age_before=$age
	(( $(now_ms) - killed < 8000 )) || die "n2 not evicted within 8 s"
	sleep 0.05
done
took=$(( $(now_ms) - killed ))
log "n2 evicted ${took} ms after kill; last seen ${age_before} ms before the last live look"
(( age_before <= 3000 + 100 )) || die "n2 shown live with ${age_before} ms of silence (window 3000)"
(( took >= 2400 )) || die "n2 evicted early: ${took} ms after kill (heartbeat every 500 ms, window 3 s)"
(( took <= 4200 )) || die "n2 evicted late: ${took} ms after kill"
pass "n2 evicted on time (${took} ms after kill)"
[[ $(node_field n1 state) == live && $(node_field n3 state) == live ]] || die "n1/n3 must stay live"
[[ $(metric osi_fleet_evictions_total) == 1 ]] || die "evictions_total should be 1"
# The fleet's own measure: silence at the eviction, from its event's detail.
# The sweep is armed for the deadline, so it lands well within 0.2 s of it.
silent=$(osi events --limit 1000 --format json | jq -r '[.events[] | select(.kind == "evicted" and
	.node == "n2")][0].detail' | sed -n 's/^silent for \([0-9.]*\) s, over the 3 s limit$/\1/p')
[[ $silent ]] || die "evicted event detail: $(osi events --format json)"
awk -v s="$silent" 'BEGIN { exit !(s > 3 && s < 3.2) }' || die "n2 evicted ${silent} s after its last heartbeat (deadline 3 s)"
pass "eviction ${silent} s after n2's last heartbeat: within 0.2 s of the deadline"

start_agent n2
wait_until 5 node_state_is n2 live || die "n2 not readmitted"
[[ $(event_count readmitted n2) == 1 ]] || die "one readmitted event for n2"
[[ $(event_count evicted n2) == 1 ]] || die "one evicted event for n2"
for n in n1 n2 n3; do [[ $(event_count registered $n) == 1 ]] || die "registered event for $n"; done
pass "n2 readmitted; events registered x3, evicted, readmitted"

[[ $(metric 'osi_fleet_nodes{state="live"}') == 3 ]] || die "metrics: 3 live"
(( $(metric osi_fleet_heartbeats_accepted_total) > 10 )) || die "metrics: heartbeats accepted"
pass "metrics"

# One state change, one log line: no per-heartbeat lines at the info level.
lines=$(grep -c 'node n1' "$T/fleet.log" || true)
(( lines == 1 )) || die "fleet log has $lines lines about n1, expected 1 (registered)"
pass "quiet logs"
