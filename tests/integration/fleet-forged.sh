#!/bin/bash
# Forged and broken datagrams against a serving fleet; the signed TCP API.
#
#   n1 (real agent) ──┐
#   forger ───────────┴── udp ──> service-vm-fleet ──> /metrics counts each reason
#   admin / stranger ──── tcp (signed requests) ──┘
#
# Every forgery is dropped and counted by reason; the fleet keeps serving.
source "$(dirname "$0")/lib.sh"

setup_members n1 n2
"$OSI_BIN" --state-dir "$T/stranger" keygen --name stranger --role admin >/dev/null
start_fleet
start_agent n1
wait_until 10 node_state_is n1 live || die "n1 live"

send() { "$SEND_BIN" --state-dir "$T/n2" --trust "$T/trust" --fleet "$ADDR:$HB_PORT" "$@" >/dev/null; }
rejected() { metric "osi_fleet_heartbeats_rejected_total{reason=\"$1\"}"; }
expect() { # expect REASON COUNT
	wait_until 5 metric_is "osi_fleet_heartbeats_rejected_total{reason=\"$1\"}" "$2" || die "$1: expected $2, got $(rejected "$1")"
	pass "$2 x $1 counted"
}

send --mode wrong-key --count 5 && expect bad-mac 5
send --mode unknown --count 4 && expect unknown 4
send --mode truncated --count 3 && expect truncated 3
send --mode random --count 2 && expect oversized 2
send --mode garbage --count 3 && expect malformed 3

# A genuine heartbeat from n2, then the same bytes again: replayed.
send --mode replay --seq-start 5000000 --count 4 && expect replayed 3
wait_until 5 node_state_is n2 live || die "the genuine first datagram registers n2"
# Far ahead, then far behind the window: stale.
send --mode good --seq-start 9000000 --count 1
send --mode good --seq-start 8000000 --count 2 && expect stale 2


osi status >/dev/null || die "fleet stopped serving"
[[ $(node_field n1 state) == live ]] || die "n1 stays live"
pass "fleet still serving after forgeries"

# The signed TCP API: a trusted member may ask, a stranger may not.
"$OSI_BIN" --state-dir "$T/cli" --fleet "$ADDR:$API_PORT" status --format json | jq -e '.nodes | length == 2' >/dev/null \
	|| die "signed status over tcp"
pass "signed request from a trusted member answered"
if out=$("$OSI_BIN" --state-dir "$T/stranger" --fleet "$ADDR:$API_PORT" status 2>&1); then
	die "a stranger's request was answered: $out"
fi
grep -q 'not a trusted member' <<<"$out" || die "stranger refusal message: $out"
(( $(metric osi_fleet_api_rejected_total) >= 1 )) || die "api rejection counted"
pass "stranger refused: $out"

# A member without the admin role may look, not change.
"$OSI_BIN" --state-dir "$T/n2" --fleet "$ADDR:$API_PORT" status > /dev/null || die "status for a node member"
out=$("$OSI_BIN" --state-dir "$T/n2" --fleet "$ADDR:$API_PORT" vm create --type mediakit --name x --yes 2>&1) &&
	die "a node member created a guest: $out"
grep -q 'needs the admin role' <<<"$out" || die "non-admin refusal: $out"
pass "a node member reads status over TCP but cannot change anything: ${out#os-infrastructure: }"

# Trust changes on disk take effect without a signal: a new member is heard,
# a removed one is refused as revoked.
make_member n3 node
start_agent n3
wait_until 10 node_state_is n3 live || die "a member added to the trust file was not heard"
"$OSI_BIN" --trust-file "$T/trust" trust remove n1 > /dev/null
wait_until 10 metric_is_positive 'osi_fleet_heartbeats_rejected_total{reason="revoked"}' ||
	die "n1's heartbeats not refused after its removal"
pass "trust file edits picked up without SIGHUP (n3 added and heard, n1 removed and refused)"
