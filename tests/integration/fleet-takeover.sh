#!/bin/bash
# The fleet outlives its node: the cloud (fleet and sequencer) dies; two
# admins take over at once, the ledger keeps one winner; every agent reports
# to the winner's new fleet within one heartbeat interval; status from the
# other admin lists both laptops live and the cloud evicted; the cloud is
# revoked. Over real wireguard-go. Prints the takeover figures.
#
#            ┌──── $nsw: switch (bridge br0) ────┐
#       veth │                veth               │ veth
#   ┌── $na: laptop-a ──┐ ┌── $nb: laptop-b ──┐ ┌── $nc: cloud ─────────────┐
#   │ 192.168.9.1       │ │ 192.168.9.2       │ │ 192.168.9.3               │
#   │ 10.77.0.2 node    │ │ 10.77.0.3 node    │ │ 10.77.0.1 node,fleet,admin│
#   │ +admin, agent     │ │ +admin, agent     │ │ service-vm-fleet, agent   │
#   └───────────────────┘ └───────────────────┘ └───────────────────────────┘
set -euo pipefail
source "$(dirname "$0")/lib.sh"

na=osi-ta-$$ nb=osi-tb-$$ nc=osi-tc-$$ nsw=osi-tsw-$$
declare -A NS=([a]=$na [b]=$nb [c]=$nc) IF=([a]=osta$$ [b]=ostb$$ [c]=ostc$$)
WG_IFACES=("${IF[@]}") # lib.sh's cleanup stops a wireguard-go still serving them
declare -A IP=([a]=192.168.9.1 [b]=192.168.9.2 [c]=192.168.9.3)
declare -A NAME=([a]=laptop-a [b]=laptop-b [c]=cloud)
HB_MS=500

on() { local n=$1; shift; ip netns exec "${NS[$n]}" "$@"; }
osi() { local n=$1; shift; on "$n" "$OSI_BIN" --state-dir "$T/$n" "$@"; }

wg_pids() { grep -ho 'wireguard-go pid [0-9]*' "$T"/*.log 2>/dev/null | awk '{ print $3 }' | sort -u; }
stop_all() {
	local name
	for name in "${!PIDS[@]}"; do
		kill -TERM "${PIDS[$name]}" 2>/dev/null
	done
	for name in "${!PIDS[@]}"; do
		wait "${PIDS[$name]}" 2>/dev/null
	done
	PIDS=()
	# shellcheck disable=SC2046
	wg_go_stop $(wg_pids)
}
at_exit stop_all

[[ $(id -u) == 0 && -c /dev/net/tun ]] || skip "needs root and /dev/net/tun"
for prog in wireguard-go wg ip nft jq; do
	command -v $prog >/dev/null || die "$prog not installed (make deps)"
done

netns_add "$na" "$nb" "$nc" "$nsw"
in_ns "$nsw" ip link add br0 type bridge
in_ns "$nsw" ip link set br0 up
for n in a b c; do
	ip link add eth0 netns "${NS[$n]}" type veth peer name "to$n" netns "$nsw"
	in_ns "$nsw" ip link set "to$n" master br0 up
	on "$n" ip addr add "${IP[$n]}/24" dev eth0
	on "$n" ip link set eth0 up
done
wait_until 5 on a ping -c 1 -W 1 "${IP[c]}" || die "underlay: a cannot reach c"

bg() { # bg NAME NODE PROGRAM ARGS...: output in $T/NAME.log, input from $BG_IN
	local name=$1 node=$2; shift 2
	ip netns exec "${NS[$node]}" "$@" < "${BG_IN:-/dev/null}" >> "$T/$name.log" 2>&1 &
	PIDS[$name]=$!
}
in_log() { grep -q -- "$2" "$T/$1.log"; }
finish() {
	local rc=0
	wait "${PIDS[$1]}" || rc=$?
	unset "PIDS[$1]"
	(( rc == 0 )) || die "$1 exited with $rc: $(tail -n 5 "$T/$1.log")"
}
code_of() { awk '/^Code:/ { print $2 }' "$T/$1.log" | tail -n 1; }
sas_of() { awk '/^SAS:/ { print $2 $3 }' "$T/$1.log" | tail -n 1; }
exchange_sas() {
	wait_until 15 in_log "$1" '^SAS:' || die "$1 shows no SAS"
	wait_until 15 in_log "$2" '^SAS:' || die "$2 shows no SAS"
	sas_of "$2" > "$T/$1.sas.tmp" && mv "$T/$1.sas.tmp" "$T/$1.sas"
	sas_of "$1" > "$T/$2.sas.tmp" && mv "$T/$2.sas.tmp" "$T/$2.sas"
}
start_agent() {
	bg "agent-$1" "$1" "$HOST_BIN" --config "$T/$1/host.conf" --set heartbeat_interval=${HB_MS}ms \
		--set guests_uri= --set ledger_sync_interval=1s
}

# ---- the mesh: genesis on the cloud (the fleet), a and b join ----
bg genesis c "$OSI_BIN" --state-dir "$T/c" --genesis --name cloud --role fleet \
	--endpoint "${IP[c]}:51820" --interface "${IF[c]}" --listen "${IP[c]}:7104" --ttl 60s \
	--no-start --sas-from "$T/genesis.sas"
wait_until 20 in_log genesis '^Code:' || die "genesis printed no code"
code_of genesis > "$T/join-a.code"
BG_IN=$T/join-a.code bg join-a a "$OSI_BIN" --state-dir "$T/a" --join - --via "${IP[c]}:7104" \
	--name laptop-a --endpoint "${IP[a]}:51820" --interface "${IF[a]}" --no-start \
	--sas-from "$T/join-a.sas"
exchange_sas genesis join-a
finish join-a
finish genesis
bg fleet-c c "$FLEET_BIN" --config "$T/c/fleet.conf" --set api_socket="$T/c-fleet.sock" \
	--set evict_after=3s --set checkpoint_interval=1s --set hold_min_live=10
start_agent c
start_agent a
bg invite c "$OSI_BIN" --state-dir "$T/c" invite --listen "${IP[c]}:7104" --ttl 60s \
	--sas-from "$T/invite.sas"
wait_until 10 in_log invite '^Code:' || die "invite printed no code"
code_of invite > "$T/join-b.code"
BG_IN=$T/join-b.code bg join-b b "$OSI_BIN" --state-dir "$T/b" --join - --via "${IP[c]}:7104" \
	--name laptop-b --endpoint "${IP[b]}:51820" --interface "${IF[b]}" --no-start \
	--sas-from "$T/join-b.sas"
exchange_sas invite join-b
finish join-b
finish invite
start_agent b
for n in a b; do
	osi c node grant "${NAME[$n]}" admin > "$T/grant-$n.log" 2>&1 || die "grant: $(cat "$T/grant-$n.log")"
done
kill -HUP "${PIDS[fleet-c]}"
same_ledgers() { cmp -s "$T/c/ledger" "$T/a/ledger" && cmp -s "$T/c/ledger" "$T/b/ledger"; }
wait_until 15 same_ledgers || die "the grants did not reach every member"
status_on() { osi "$1" status --format json; }
state_at() { status_on "$1" | jq -r --arg n "$2" '.nodes[] | select(.name == $n) | .state'; }
live_at() { [[ $(state_at "$1" "$2") == live ]]; }
for m in laptop-a laptop-b cloud; do
	wait_until 20 live_at b "$m" || die "$m is not live at the cloud's fleet"
done
pass "three members, the fleet on the cloud; laptop-a and laptop-b are admins"

# ---- standby copies of fleet.db on both admins ----
for n in a b; do
	osi "$n" fleet standby > "$T/standby-$n.log" 2>&1 || die "standby on $n: $(cat "$T/standby-$n.log")"
	grep -q "standby copy: [0-9]* bytes in $T/$n/fleet.db.standby" "$T/standby-$n.log" ||
		die "standby on $n: $(cat "$T/standby-$n.log")"
done
osi c --fleet 10.77.0.1:7102 fleet standby > /dev/null 2>&1 || die "the cloud (admin) cannot pull"
pass "standby copies of fleet.db pulled by laptop-a and laptop-b over the signed API"

# ---- a takeover is refused while the cloud answers ----
osi a fleet takeover --after 2s --with-fleet --yes > "$T/early.log" 2>&1 && die "takeover of a live fleet"
grep -q "'cloud' answers" "$T/early.log" || die "early takeover: $(cat "$T/early.log")"
pass "refused while the cloud answers"

# ---- the cloud is gone ----
for name in fleet-c agent-c; do
	kill -KILL "${PIDS[$name]}" && wait "${PIDS[$name]}" 2>/dev/null || true
	unset "PIDS[$name]"
done
# shellcheck disable=SC2046
wg_go_stop $(grep -ho 'wireguard-go pid [0-9]*' "$T/genesis.log" | awk '{ print $3 }')
gone_ms=$(now_ms)

# ---- concurrent takeovers on a and b: one winner, no fork ----
cmd0_ms=$(now_ms)
bg takeover-a a "$OSI_BIN" --state-dir "$T/a" fleet takeover --after 3s --with-fleet --yes
bg takeover-b b "$OSI_BIN" --state-dir "$T/b" fleet takeover --after 3s --with-fleet --yes
wait "${PIDS[takeover-a]}" || true
wait "${PIDS[takeover-b]}" || true
unset "PIDS[takeover-a]" "PIDS[takeover-b]"
cmd1_ms=$(now_ms)
in_log takeover-a 'takeover (ledger entry' || in_log takeover-b 'takeover (ledger entry' ||
	die "no takeover: $(cat "$T/takeover-a.log" "$T/takeover-b.log")"
ab_same() { cmp -s "$T/a/ledger" "$T/b/ledger"; }
wait_until 10 ab_same || die "a and b did not converge"
seq_a=$(osi a mesh members --format json | jq -r '[.[] | select(.roles | test("fleet"))][0].name')
seq_b=$(osi b mesh members --format json | jq -r '[.[] | select(.roles | test("fleet"))][0].name')
[[ $seq_a == "$seq_b" && ( $seq_a == laptop-a || $seq_a == laptop-b ) ]] ||
	die "fleet: a says $seq_a, b says $seq_b"
w=a; [[ $seq_a == laptop-b ]] && w=b
l=b; [[ $w == b ]] && l=a
pass "concurrent takeovers: ${NAME[$w]} won on both copies ($(osi a mesh members --format json | jq length) members)"

# ---- the winner runs the fleet; every agent follows within a heartbeat ----
[[ -f $T/$w/fleet.conf ]] || die "the takeover wrote no fleet.conf on ${NAME[$w]}"
t0=$(now_ms)
bg fleet-new "$w" "$FLEET_BIN" --config "$T/$w/fleet.conf" --set api_socket="$T/new-fleet.sock" \
	--set evict_after=3s --set checkpoint_interval=1s --set hold_min_live=10
heard() { on "$w" "$OSI_BIN" --socket "$T/new-fleet.sock" status --format json |
	jq -e --arg n "$1" '.nodes[] | select(.name == $n and .state == "live")' >/dev/null; }
wait_until 10 test -S "$T/new-fleet.sock" || die "new fleet socket"
up_ms=$(now_ms)
wait_until 10 heard "${NAME[$w]}" || die "no heartbeat from ${NAME[$w]} at the new fleet"
first_ms=$(now_ms)
wait_until 10 heard "${NAME[$l]}" || die "${NAME[$l]}'s agent does not report to the new fleet"
all_ms=$(now_ms)
(( all_ms - up_ms <= 2 * HB_MS + 1000 )) || die "agents took $(( all_ms - up_ms )) ms after the fleet came up"
pass "both agents report to ${NAME[$w]} ($(( all_ms - up_ms )) ms after its fleet came up)"

# ---- status from the loser: both laptops live, the cloud evicted ----
complete() {
	local s
	s=$(status_on "$l") || return 1
	[[ $(jq -r '.nodes[] | select(.name == "laptop-a") | .state' <<<"$s") == live &&
	   $(jq -r '.nodes[] | select(.name == "laptop-b") | .state' <<<"$s") == live ]] || return 1
	[[ $(jq -r '.nodes[] | select(.name == "cloud") | .state' <<<"$s") == evicted ]]
}
wait_until 20 complete || die "status from ${NAME[$l]}: $(status_on "$l" 2>&1)"
done_ms=$(now_ms)
pass "status from ${NAME[$l]}: laptop-a and laptop-b live, cloud evicted"
osi "$l" events > "$T/events.log" 2>&1 || die "events: $(cat "$T/events.log")"
grep -q "new chapter: fleet.db from a standby copy on ${NAME[$w]} after the takeover at ledger entry 5 from 'cloud'" \
	"$T/events.log" || die "no new chapter in the events: $(cat "$T/events.log")"
grep -qE "registered +\| cloud " "$T/events.log" || die "the cloud era's events are lost: $(cat "$T/events.log")"
in_log "takeover-$w" "fleet.db: the standby copy" || die "the takeover did not use the standby copy"
pass "the new fleet started from the standby copy: the cloud's events kept, then a chapter naming the takeover"

# ---- the dead member is revoked: the sequencer is alive now ----
osi "$l" node revoke cloud > "$T/revoke.log" 2>&1 || die "revoke: $(cat "$T/revoke.log")"
wait_until 10 ab_same || die "the revocation did not reach ${NAME[$w]}"
[[ $(osi "$w" mesh members --format json | jq -r '.[] | select(.name == "cloud") | .state') == revoked ]] ||
	die "cloud is not revoked on ${NAME[$w]}"
pass "cloud revoked from ${NAME[$l]}, taken by the new sequencer ${NAME[$w]}"

log "figure: two concurrent takeover commands: $(( cmd1_ms - cmd0_ms )) ms, their 3 s watch included ($(( cmd0_ms - gone_ms )) ms after the cloud died)"
log "figure: from the takeover's end to the first heartbeat accepted by the new fleet: $(( first_ms - cmd1_ms )) ms (fleet started after $(( t0 - cmd1_ms )) ms); to a complete status from ${NAME[$l]}: $(( done_ms - cmd1_ms )) ms"
