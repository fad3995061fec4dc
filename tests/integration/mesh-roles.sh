#!/bin/bash
# Roles change through the ledger: `node grant` and `node ungrant`, signed by
# an admin, taken by the sequencer, pushed to every member; the fleet's API
# trusts what the ledger says. Over real wireguard-go.
#
#   ┌── $na: laptop-a ───────────┐        ┌── $nb: laptop-b ──────┐
#   │ eth0 192.168.7.1           ├─ veth ─┤ eth0 192.168.7.2      │
#   │ 10.77.0.1 node,fleet,admin │        │ 10.77.0.2 node        │
#   │ service-vm-fleet, agent    │        │ agent                 │
#   └────────────────────────────┘        └───────────────────────┘
#
# a is the founder, the fleet and so the sequencer. Once b is an admin, the
# entries it signs go through a's ledger before they count.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

na=osi-ra-$$ nb=osi-rb-$$
declare -A NS=([a]=$na [b]=$nb) IF=([a]=osra$$ [b]=osrb$$)

on() { local n=$1; shift; ip netns exec "${NS[$n]}" "$@"; }
osi() { local n=$1; shift; on "$n" "$OSI_BIN" --state-dir "$T/$n" "$@"; }
# api NODE ARGS...: the fleet's API over TCP, signed by NODE's identity.
api() { local n=$1; shift; osi "$n" --fleet 10.77.0.1:7102 "$@"; }

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

netns_add "$na" "$nb"
ip link add eth0 netns "$na" type veth peer name eth0 netns "$nb"
in_ns "$na" ip addr add 192.168.7.1/24 dev eth0
in_ns "$nb" ip addr add 192.168.7.2/24 dev eth0
in_ns "$na" ip link set eth0 up
in_ns "$nb" ip link set eth0 up

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
sas_of() { awk '/^SAS:/ { print $2 $3 }' "$T/$1.log" | tail -n 1; }
exchange_sas() {
	wait_until 15 in_log "$1" '^SAS:' || die "$1 shows no SAS"
	wait_until 15 in_log "$2" '^SAS:' || die "$2 shows no SAS"
	sas_of "$2" > "$T/$1.sas.tmp" && mv "$T/$1.sas.tmp" "$T/$1.sas"
	sas_of "$1" > "$T/$2.sas.tmp" && mv "$T/$2.sas.tmp" "$T/$2.sas"
}

# ---- the mesh: genesis on a (fleet), b joins as a plain node ----
bg genesis a "$OSI_BIN" --state-dir "$T/a" --genesis --name laptop-a --role fleet \
	--endpoint 192.168.7.1:51820 --interface "${IF[a]}" --listen 192.168.7.1:7104 --ttl 60s \
	--no-start --sas-from "$T/genesis.sas"
wait_until 20 in_log genesis '^Code:' || die "genesis printed no code"
awk '/^Code:/ { print $2 }' "$T/genesis.log" | tail -n 1 > "$T/join.code"
BG_IN=$T/join.code bg join b "$OSI_BIN" --state-dir "$T/b" --join - --via 192.168.7.1:7104 \
	--name laptop-b --endpoint 192.168.7.2:51820 --interface "${IF[b]}" --no-start \
	--sas-from "$T/join.sas"
exchange_sas genesis join
finish join
finish genesis
for n in a b; do
	bg "agent-$n" "$n" "$HOST_BIN" --config "$T/$n/host.conf" --set heartbeat_interval=500ms \
		--set guests_uri= --set ledger_sync_interval=2s
done
bg fleet a "$FLEET_BIN" --config "$T/a/fleet.conf" --set api_socket="$T/fleet.sock" \
	--set checkpoint_interval=1s
wait_until 10 test -S "$T/fleet.sock" || die "fleet socket"
wait_until 20 api b status || die "b cannot reach the fleet's API: $(api b status 2>&1)"
pass "laptop-a (node,fleet,admin) and laptop-b (node) in one mesh; the fleet answers b"

# Where systemd runs, a path unit reloads the fleet when the ledger changes
# (dist/systemd/service-vm-fleet-ledger.path); here we do what it does.
reload_fleet() {
	local n
	n=$(grep -c 'trust: .* from ledger' "$T/fleet.log")
	kill -HUP "${PIDS[fleet]}"
	reloaded() { (( $(grep -c 'trust: .* from ledger' "$T/fleet.log") > n )); }
	wait_until 5 reloaded || die "fleet did not reload"
}
same_ledger() { cmp -s "$T/a/ledger" "$T/b/ledger"; }
roles_of() { # roles_of NODE MEMBER: as NODE's copy of the ledger says
	osi "$1" mesh members --format json | jq -r --arg m "$2" '.[] | select(.name == $m) | .roles'
}
# fails NAME WANT_STATUS TEXT NODE ARGS...: the command exits WANT_STATUS saying TEXT.
fails() {
	local name=$1 want=$2 text=$3 rc=0; shift 3
	osi "$@" > "$T/$name.log" 2>&1 || rc=$?
	(( rc == want )) || die "$name: exit $rc, want $want: $(cat "$T/$name.log")"
	grep -qF -- "$text" "$T/$name.log" || die "$name: no \"$text\" in: $(cat "$T/$name.log")"
}
# hold-override is a change: without admin the API refuses it; with admin the
# fleet runs it and answers that it holds no evictions (nothing to release).
api_refused() { ! api b node hold-override > "$T/api-b.log" 2>&1 && in_log api-b 'needs the admin role'; }
api_allowed() {
	api b node hold-override > "$T/api-b.log" 2>&1 || in_log api-b 'not holding evictions'
}

# ---- refusals before anything changes ----
api_refused || die "b changed the fleet without the admin role: $(cat "$T/api-b.log")"
api_allowed && die "the check cannot tell a refusal from a run"
count=$(osi a mesh members --format json | jq length)
fails b-grants 1 "'laptop-b' is not a live admin" b node grant laptop-b admin
fails regrant 1 "'laptop-b' already holds node" a node grant laptop-b node
fails ungrant-lacking 1 "'laptop-b' does not hold relay" a node ungrant laptop-b relay
fails last-role 1 "'laptop-b' would hold no role" a node ungrant laptop-b node
fails last-admin 1 "'laptop-a' is the last admin" a node ungrant laptop-a admin
fails bad-role 2 "unknown role 'root'" a node grant laptop-b root
fails no-member 1 "no member named 'laptop-z'" a node grant laptop-z relay
same_ledger || die "a refusal changed a ledger"
pass "refused, exit 1: a non-admin signer, a held role, a lacking one, the last role, the last admin"

# ---- grant: b becomes an admin and may change the fleet ----
osi a node grant laptop-b admin > "$T/grant.log" 2>&1 || die "grant: $(cat "$T/grant.log")"
grep -q "'laptop-b' was granted admin (ledger entry 2); its roles are now node,admin" \
	"$T/grant.log" || die "grant: $(cat "$T/grant.log")"
wait_until 10 same_ledger || die "b never got the grant"
[[ $(roles_of b laptop-b) == node,admin ]] || die "b's copy: $(roles_of b laptop-b)"
reload_fleet
api_allowed || die "b, now admin, refused: $(cat "$T/api-b.log")"
pass "granted: b's copy says node,admin and b changes the fleet over TCP"

# ---- b signs; the sequencer a takes it first ----
fails fleet-guard 1 "'laptop-a' is the mesh's fleet" b node ungrant laptop-a fleet
osi b node grant laptop-b relay > "$T/grant-b.log" 2>&1 || die "grant by b: $(cat "$T/grant-b.log")"
wait_until 10 same_ledger || die "the sequencer's copy differs"
[[ $(roles_of a laptop-b) == node,admin,relay ]] || die "a's copy: $(roles_of a laptop-b)"
pass "an entry b signed is in the sequencer's copy; ungranting the fleet's fleet role needs --force"

# ---- ungrant: b loses admin and may no longer change anything ----
osi a node ungrant laptop-b admin > "$T/ungrant.log" 2>&1 || die "ungrant: $(cat "$T/ungrant.log")"
grep -q "'laptop-b' no longer holds admin (ledger entry 4); its roles are now node,relay" \
	"$T/ungrant.log" || die "ungrant: $(cat "$T/ungrant.log")"
wait_until 10 same_ledger || die "b never got the ungrant"
reload_fleet
api_refused || die "b changed the fleet after losing admin: $(cat "$T/api-b.log")"
api b status > /dev/null || die "b may no longer look"
fails b-grants-again 1 "'laptop-b' is not a live admin" b node grant laptop-b admin
pass "ungranted: the fleet refuses b's changes, b still reads, b signs nothing"

# ---- a revoked member takes no role ----
osi a node revoke laptop-b > "$T/revoke.log" 2>&1 || die "revoke: $(cat "$T/revoke.log")"
fails revoked 1 "'laptop-b' was revoked at entry 5" a node grant laptop-b admin
[[ $(osi a mesh members --format json | jq length) == "$count" ]] || die "members changed"
pass "a revoked member cannot be granted a role"

# ---- --force: the fleet's own fleet role goes; a, first admin, sequences ----
osi a node ungrant --force laptop-a fleet > "$T/unfleet.log" 2>&1 || die "--force: $(cat "$T/unfleet.log")"
[[ $(roles_of a laptop-a) == node,admin ]] || die "a's roles: $(roles_of a laptop-a)"
osi a node grant laptop-a fleet > "$T/refleet.log" 2>&1 || die "grant fleet: $(cat "$T/refleet.log")"
pass "with --force the fleet role leaves the fleet's member, and is granted back"
