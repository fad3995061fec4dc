#!/bin/bash
# The seed's real timing: heartbeats every 10 s, eviction after 30 s.
#
#   n1 n2 n3 ── udp every 10 s ──> service-vm-fleet (evict_after 30 s, defaults)
#
# Also: two quick placements do not both land on one node (pending
# reservations hold until that node's next heartbeat, ten seconds away).
source "$(dirname "$0")/lib.sh"

setup_members n1 n2 n3
EVICT_AFTER=30s
start_fleet --set checkpoint_interval=60s
# A node that reports no dispatch address is no candidate: give each one.
for i in 1 2 3; do HB_INTERVAL=10s start_agent n$i --set dispatch_listen="$ADDR:711$i"; done
wait_until 12 live_count_is 3 || die "three live"
[[ $(status_json | jq .fleet.evict_after_ms) == 30000 ]] || die "default window"

# Reserve half of a node's memory; until its next heartbeat (10 s away) the
# same request must not land there again: it no longer fits that node.
avail=$(node_field n1 mem_available_bytes)
half=$(( avail / 2 ))
first=$(osi place --memory $half --vcpus 1 --type mediakit --reserve --name g1 --format json | jq -r .suggestion)
[[ $first == n[123] ]] || die "no node took the first placement: $first"
again=$(osi place --memory $half --vcpus 1 --format json)
second=$(jq -r .suggestion <<<"$again")
[[ $second != "$first" && $second == n[123] ]] || die "reservation ignored: first=$first second=$second"
[[ $(jq -r --arg n "$first" '.excluded[] | select(.name == $n) | .reason' <<<"$again") == memory ]] ||
	die "$first should be excluded for memory: $again"
pass "pending reservation moved the second placement to $second"

stop n2 KILL
killed=$(now_ms)
wait_until 45 node_state_is n2 evicted || die "n2 not evicted within 45 s"
took=$(( $(now_ms) - killed ))
(( took >= 20000 )) || die "evicted ${took} ms after kill: the last heartbeat was at most 10 s before"
(( took <= 41500 )) || die "evicted late: ${took} ms"
age=$(node_field n2 last_seen_age_ms)
(( age > 30000 )) || die "evicted with only ${age} ms of silence"
pass "n2 evicted ${took} ms after kill with ${age} ms of silence (defaults 10 s / 30 s)"
