#!/bin/bash
# A member replaces its keys under the same name and address: `node rekey`
# on the member, `node rekey-approve` on an admin, `node rekey --install`
# back on the member; and an admin re-keys itself in one step. Over real
# wireguard-go.
#
#   ┌── $na: laptop-a ───────────┐        ┌── $nb: laptop-b ──────────────┐
#   │ eth0 192.168.7.1           ├─ veth ─┤ eth0 192.168.7.2 (+ .3 later) │
#   │ 10.77.0.1 node,fleet,admin │        │ 10.77.0.2 node                │
#   │ service-vm-fleet, agent    │        │ agent                         │
#   └────────────────────────────┘        └───────────────────────────────┘
#
# b's rekey also moves its endpoint to 192.168.7.3. Its old keys are refused
# as soon as the fleet holds the entry: heartbeats (bad-mac), API requests.
# Last, b is wiped (state and interface gone) and comes back through
# `invite --for laptop-b`: same name, address and roles, new keys.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

na=osi-ka-$$ nb=osi-kb-$$
declare -A NS=([a]=$na [b]=$nb) IF=([a]=oska$$ [b]=oskb$$)
WG_IFACES=("${IF[@]}") # lib.sh's cleanup stops a wireguard-go still serving them

on() { local n=$1; shift; ip netns exec "${NS[$n]}" "$@"; }
osi() { local n=$1; shift; on "$n" "$OSI_BIN" --state-dir "$T/$n" "$@"; }
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
for prog in wireguard-go wg ip nft jq curl; do
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
stop() { kill -TERM "${PIDS[$1]}" 2>/dev/null; wait "${PIDS[$1]}" 2>/dev/null || true; unset "PIDS[$1]"; }
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
agent() { bg "agent-$1" "$1" "$HOST_BIN" --config "$T/$1/host.conf" \
	--set heartbeat_interval=500ms --set guests_uri= --set ledger_sync_interval=2s; }
fleet() { bg fleet a "$FLEET_BIN" --config "$T/a/fleet.conf" --set api_socket="$T/fleet.sock" \
	--set checkpoint_interval=1s --set metrics_listen=127.0.0.1:9191; }
metric() { on a curl -fsS http://127.0.0.1:9191/metrics | awk -v m="$1" '$1 == m { print $2 }'; }
bad_mac() { metric 'osi_fleet_heartbeats_rejected_total{reason="bad-mac"}'; }
accepted() { metric osi_fleet_heartbeats_accepted_total; }
member() { # member NODE NAME FIELD: as NODE's copy of the ledger says
	osi "$1" mesh members --format json | jq -r --arg m "$2" ".[] | select(.name == \$m) | .$3"
}
wg_pub() { on "$1" wg show "${IF[$1]}" public-key; }
has_peer() { on "$1" wg show "${IF[$1]}" peers | grep -qxF "$2"; }
same_ledger() { cmp -s "$T/a/ledger" "$T/b/ledger"; }
reload_fleet() {
	local n
	n=$(grep -c 'trust: .* from ledger' "$T/fleet.log")
	kill -HUP "${PIDS[fleet]}"
	reloaded() { (( $(grep -c 'trust: .* from ledger' "$T/fleet.log") > n )); }
	wait_until 5 reloaded || die "fleet did not reload"
}
grows() { local was=$1; shift; (( $("$@") > was )); }

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
agent a
agent b
fleet
wait_until 10 test -S "$T/fleet.sock" || die "fleet socket"
wait_until 20 api b status || die "b cannot reach the fleet's API: $(api b status 2>&1)"
wait_until 10 grows 0 accepted || die "no heartbeat accepted"
pass "laptop-a (node,fleet,admin) and laptop-b (node) in one mesh"

# ---- b asks; the request alone changes nothing ----
addr_b=$(member a laptop-b address)
old_wg=$(wg_pub b)
mkdir -p "$T/b-old" && cp "$T/b/identity" "$T/b-old/identity"
osi b node rekey --endpoint 192.168.7.3:51820 > "$T/request.log" 2>&1 ||
	die "rekey on b: $(cat "$T/request.log")"
req=$(grep -o 'osi-rekey-request:[0-9a-f]*' "$T/request.log") || die "no request: $(cat "$T/request.log")"
[[ -f $T/b/rekey/identity ]] || die "no staged identity"
cmp -s "$T/b/identity" "$T/b-old/identity" || die "the identity changed before approval"
osi b node rekey --install > "$T/early.log" 2>&1 && die "installed without approval"
grep -q "the old keys stay" "$T/early.log" || die "early install: $(cat "$T/early.log")"
wait_until 10 api b status || die "b lost the mesh after a refused install"
osi b node rekey-approve "$req" > "$T/b-approves.log" 2>&1 && die "a non-admin approved"
pass "b's request is printed, its new keys staged; an install before approval keeps the old keys"

# ---- a approves: the old keys die at once ----
in_ns "$nb" ip addr add 192.168.7.3/24 dev eth0
osi a node rekey-approve "$req" > "$T/approve.log" 2>&1 || die "approve: $(cat "$T/approve.log")"
grep -q "'laptop-b' re-keyed (ledger entry 2)" "$T/approve.log" || die "approve: $(cat "$T/approve.log")"
reload_fleet
has_peer a "$old_wg" && die "a still has a peer with b's old WireGuard key"
[[ $(member a laptop-b address) == "$addr_b" ]] || die "b's address moved"
[[ $(member a laptop-b endpoint) == 192.168.7.3:51820 ]] || die "endpoint: $(member a laptop-b endpoint)"
pass "approved: a drops b's old WireGuard key; b keeps its address, its endpoint moves"

# ---- b installs: same name and address, new WireGuard key, tunnel back ----
osi b node rekey --install > "$T/install.log" 2>&1 || die "install: $(cat "$T/install.log")"
same_ledger || die "b did not pull the entry"
[[ ! -e $T/b/rekey/identity ]] || die "the staged identity is still staged"
new_wg=$(wg_pub b)
[[ $new_wg != "$old_wg" ]] || die "b's WireGuard key did not change"
has_peer a "$new_wg" || die "a has no peer with b's new key"
# b's agent still signs with the old keys it loaded, now through a live tunnel.
mac0=$(bad_mac)
wait_until 5 grows "$mac0" bad_mac || die "heartbeats signed with the old key are not rejected"
on b "$OSI_BIN" --state-dir "$T/b-old" --fleet 10.77.0.1:7102 status > "$T/old-api.log" 2>&1 &&
	die "the old key still reaches the API"
grep -q "bad signature" "$T/old-api.log" || die "old key: $(cat "$T/old-api.log")"
pass "b's heartbeats signed with the old key count as bad-mac; the API refuses the old key"
stop agent-b
agent b
acc=$(accepted)
wait_until 10 grows "$acc" accepted || die "b's new heartbeats are not accepted"
wait_until 10 api b status > /dev/null || die "b's new key cannot reach the API"
api a status | grep -q laptop-b || die "the fleet no longer lists laptop-b"
[[ $(member b laptop-b address) == "$addr_b" ]] || die "b's own copy moved its address"
on a ping -c 1 -W 2 "$addr_b" > /dev/null || die "no tunnel to b's address"
pass "installed: b keeps name and address $addr_b, its new WireGuard key carries the tunnel"

# ---- an admin re-keys itself in one step ----
old_wg=$(wg_pub a)
osi a node rekey > "$T/rekey-a.log" 2>&1 || die "rekey on a: $(cat "$T/rekey-a.log")"
grep -q "'laptop-a' now holds its new keys" "$T/rekey-a.log" || die "rekey a: $(cat "$T/rekey-a.log")"
[[ $(wg_pub a) != "$old_wg" ]] || die "a's WireGuard key did not change"
wait_until 10 same_ledger || die "b never got a's rekey"
wait_until 10 has_peer b "$(wg_pub a)" || die "b has no peer with a's new key"
stop fleet
stop agent-a
fleet
agent a
wait_until 10 test -S "$T/fleet.sock" || die "fleet socket"
wait_until 20 api b status > /dev/null || die "b cannot reach the re-keyed fleet"
osi a node grant laptop-b relay > "$T/grant.log" 2>&1 || die "a's new key cannot sign: $(cat "$T/grant.log")"
pass "a re-keyed itself: b follows, and a signs with its new key"

# ---- b is wiped and reinstalled: invite --for brings it back as laptop-b ----
stop agent-b
on b ip link del "${IF[b]}"
mv "$T/b" "$T/b-wiped"
fails() { # fails NAME TEXT NODE ARGS...: exit 1 saying TEXT
	local name=$1 text=$2 rc=0; shift 2
	osi "$@" > "$T/$name.log" 2>&1 || rc=$?
	(( rc == 1 )) && grep -qF -- "$text" "$T/$name.log" || die "$name: exit $rc: $(cat "$T/$name.log")"
}
fails for-nobody "'laptop-z' is not a live member" a invite --for laptop-z --ttl 5s
rm -f "$T/invite.sas" "$T/join.sas"
bg invite a "$OSI_BIN" --state-dir "$T/a" invite --for laptop-b --listen 192.168.7.1:7104 \
	--ttl 60s --sas-from "$T/invite.sas"
wait_until 20 in_log invite '^Code:' || die "invite printed no code"
awk '/^Code:/ { print $2 }' "$T/invite.log" | tail -n 1 > "$T/join.code"
: > "$T/join.log"
BG_IN=$T/join.code bg join b "$OSI_BIN" --state-dir "$T/b" --join - --via 192.168.7.1:7104 \
	--name laptop-b --endpoint 192.168.7.2:51820 --interface "${IF[b]}" --no-start \
	--sas-from "$T/join.sas"
exchange_sas invite join
finish join
finish invite
grep -q "'laptop-b' reinstated with new keys at $addr_b" "$T/invite.log" ||
	die "invite: $(cat "$T/invite.log")"
[[ $(member a laptop-b address) == "$addr_b" ]] || die "b came back at $(member a laptop-b address)"
[[ $(member a laptop-b roles) == node,relay ]] || die "b's roles: $(member a laptop-b roles)"
(( $(osi a mesh members --format json | jq length) == 2 )) || die "a second laptop-b"
reload_fleet
agent b
acc=$(accepted)
wait_until 10 grows "$acc" accepted || die "the reinstalled b's heartbeats are not accepted"
wait_until 10 api b status > /dev/null || die "the reinstalled b cannot reach the API"
on b "$OSI_BIN" --state-dir "$T/b-wiped" --fleet 10.77.0.1:7102 status > "$T/wiped-api.log" 2>&1 &&
	die "the wiped machine's key still reaches the API"
pass "a wiped b rejoins through invite --for under its name, address $addr_b and roles"
