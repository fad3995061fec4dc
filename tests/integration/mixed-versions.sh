#!/bin/bash
# Mixed versions on one loopback address: the previous release (OLD_COMMIT,
# built once into a cache keyed by the commit) next to this tree.
#
#   old n1 ──┐
#   old n2 ──┼── udp heartbeats ──> new service-vm-fleet <── new and old CLI
#   new n3 ──┘
#
# then the same members with the old fleet. Every heartbeat is accepted, status
# lists all three live, a placement and a guest plan find a node, and either
# CLI reads either fleet.
#
# Then a mesh over real wireguard-go: a (new: genesis, fleet, admin), b (old,
# joined with the old CLI) and c (new). c's rekey puts a kind 7 entry in the
# ledger, which b's build does not know: b refuses the whole ledger, keeps its
# copy byte for byte, and its heartbeats are still accepted. docs/protocol.md's
# "Versions" section is the rule.
source "$(dirname "$0")/lib.sh"

OLD_COMMIT=${OSI_OLD_COMMIT:-fccdb35}
SRC=${OSI_SOURCE:?OSI_SOURCE must point at the source tree}
command -v git >/dev/null || skip "git missing: the previous release is built from git history"
git -C "$SRC" rev-parse --verify -q "$OLD_COMMIT^{commit}" >/dev/null 2>&1 ||
	skip "no git history with $OLD_COMMIT (a tarball without .git): the previous release cannot be built"
for prog in jq curl meson ninja; do command -v $prog >/dev/null || skip "$prog missing"; done

# The previous release: its three programs, built once per commit (plain
# buildtype, no tests) outside the tree, reused by later runs.
full=$(git -C "$SRC" rev-parse "$OLD_COMMIT^{commit}")
CACHE=${OSI_OLD_CACHE:-/var/tmp/osi-old-build}-$full
OLD_OSI=$CACHE/build/os-infrastructure/os-infrastructure
OLD_FLEET=$CACHE/build/service-vm-fleet/service-vm-fleet
OLD_HOST=$CACHE/build/service-vm-host/service-vm-host
if [[ ! -x $OLD_OSI || ! -x $OLD_FLEET || ! -x $OLD_HOST ]]; then
	start=$(date +%s)
	rm -rf "$CACHE" && mkdir -p "$CACHE/src"
	git -C "$SRC" archive "$full" | tar -x -C "$CACHE/src"
	{ meson setup -Dbuildtype=plain -Dtests=false "$CACHE/build" "$CACHE/src" &&
		ninja -C "$CACHE/build" os-infrastructure/os-infrastructure \
			service-vm-fleet/service-vm-fleet service-vm-host/service-vm-host; } \
		>"$T/old-build.log" 2>&1 || { tail -20 "$T/old-build.log"; die "building $OLD_COMMIT"; }
	log "built $OLD_COMMIT in $(($(date +%s) - start)) s (cached in $CACHE)"
fi
NEW_FLEET=$FLEET_BIN NEW_HOST=$HOST_BIN NEW_OSI=$OSI_BIN

old_osi() { "$OLD_OSI" --state-dir "$T/cli" --socket "$T/fleet.sock" --trust-file "$T/trust" "$@"; }
names_live() { status_json | jq -r '[.nodes[] | select(.state == "live") | .name] | join(",")'; }
rejected() { curl -fsS "http://$ADDR:$METRICS_PORT/metrics" |
	awk '$1 ~ /^osi_fleet_heartbeats_rejected_total/ { s += $2 } END { print s + 0 }'; }

# Identities made by the old CLI: what an upgraded member already holds.
OSI_BIN=$OLD_OSI setup_members n1 n2 n3

run_fleet() { # run_fleet WHICH: n1 and n2 run the old agent, n3 the new one
	local fleet=$1 i
	FLEET_BIN=$fleet start_fleet
	for i in 1 2; do HOST_BIN=$OLD_HOST start_agent n$i --set dispatch_listen="$ADDR:711$i"; done
	HOST_BIN=$NEW_HOST start_agent n3 --set dispatch_listen="$ADDR:7113"
	wait_until 10 live_count_is 3 || die "$2: three live expected: $(status_json)"
	[[ $(names_live) == n1,n2,n3 ]] || die "$2: live names: $(names_live)"
	# Each agent's heartbeats keep arriving, none is refused.
	local seen
	seen=$(metric osi_fleet_heartbeats_accepted_total)
	sleep 1.2
	(( $(metric osi_fleet_heartbeats_accepted_total) >= seen + 6 )) || die "$2: heartbeats stalled"
	[[ $(rejected) == 0 ]] || die "$2: heartbeats rejected: $(curl -fsS "http://$ADDR:$METRICS_PORT/metrics" | grep rejected)"
	pass "$2: n1 n2 (old) and n3 (new) live, every heartbeat accepted"
	[[ $(old_osi status --format json | jq '[.nodes[] | select(.state == "live")] | length') == 3 ]] ||
		die "$2: the old CLI's status"
	pass "$2: the old and the new CLI list all three live"
	local p
	p=$(osi place --memory 64M --vcpus 1 --format json) || die "$2: place: $p"
	[[ $(jq -r .suggestion <<<"$p") == n[123] ]] || die "$2: no node for a placement: $p"
	pass "$2: a placement lands on $(jq -r .suggestion <<<"$p")"
}

run_fleet "$NEW_FLEET" "new fleet"
# A guest plan (new fleet, new CLI): it names a node and a token, creates nothing.
plan=$(osi vm plan --type mediakit --name mixed --memory 192M --vcpus 1 2>&1) || die "vm plan: $plan"
grep -q '^Token: ' <<<"$plan" || die "vm plan gave no token: $plan"
pass "new fleet: a guest plan: $(grep -m1 -iE 'node|on ' <<<"$plan" || echo ok)"
osi vm cancel "$(sed -n 's/^Token: //p' <<<"$plan")" >/dev/null 2>&1 || true
for n in fleet n1 n2 n3; do stop $n; done

: >"$T/fleet.log"
run_fleet "$OLD_FLEET" "old fleet"
grep -iE 'warn|error|unknown' "$T/fleet.log" && die "old fleet logged a complaint about the new agent"
pass "old fleet: nothing logged against the new agent"
# A request the old fleet predates is refused by name, and nothing else.
out=$(osi vm publish web 80 2>&1) && die "the old fleet took vm-publish: $out"
grep -q "unknown op 'vm-publish'" <<<"$out" || die "vm-publish at the old fleet: $out"
pass "old fleet: a newer request is refused: ${out#os-infrastructure: }"

for n in fleet n1 n2 n3; do stop $n; done

# ---- the mesh: a new kind of ledger entry reaches an old member ----
[[ $(id -u) == 0 && -c /dev/net/tun ]] || skip "mesh part needs root and /dev/net/tun (loopback part passed)"
for prog in wireguard-go wg ip; do command -v $prog >/dev/null || die "$prog not installed (make deps)"; done
na=osi-va-$$ nb=osi-vb-$$ nc=osi-vc-$$ nsw=osi-vsw-$$
declare -A NS=([a]=$na [b]=$nb [c]=$nc) IF=([a]=osva$$ [b]=osvb$$ [c]=osvc$$)
declare -A IP=([a]=192.168.8.1 [b]=192.168.8.2 [c]=192.168.8.3)
declare -A CLI=([a]=$NEW_OSI [b]=$OLD_OSI [c]=$NEW_OSI) AGENT=([a]=$NEW_HOST [b]=$OLD_HOST [c]=$NEW_HOST)
on() { local n=$1; shift; ip netns exec "${NS[$n]}" "$@"; }
mosi() { local n=$1; shift; on "$n" "${CLI[$n]}" --state-dir "$T/m$n" "$@"; }
wg_pids() { grep -ho 'wireguard-go pid [0-9]*' "$T"/*.log 2>/dev/null | awk '{ print $3 }' | sort -u; }
stop_mesh() {
	local name
	for name in "${!PIDS[@]}"; do kill -TERM "${PIDS[$name]}" 2>/dev/null; done
	for name in "${!PIDS[@]}"; do wait "${PIDS[$name]}" 2>/dev/null; done
	PIDS=()
	# shellcheck disable=SC2046
	wg_go_stop $(wg_pids)
}
at_exit stop_mesh
netns_add "$na" "$nb" "$nc" "$nsw"
in_ns "$nsw" ip link add br0 type bridge
in_ns "$nsw" ip link set br0 up
for n in a b c; do
	ip link add eth0 netns "${NS[$n]}" type veth peer name "to$n" netns "$nsw"
	in_ns "$nsw" ip link set "to$n" master br0 up
	on "$n" ip addr add "${IP[$n]}/24" dev eth0
	on "$n" ip link set eth0 up
done
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
join() { # join NODE INVITER_LOG: NODE's CLI joins with the code in that log
	code_of "$2" > "$T/join-$1.code"
	BG_IN=$T/join-$1.code bg "join-$1" "$1" "${CLI[$1]}" --state-dir "$T/m$1" --join - \
		--via "${IP[a]}:7104" --name "node-$1" --endpoint "${IP[$1]}:51820" \
		--interface "${IF[$1]}" --no-start --sas-from "$T/join-$1.sas"
	exchange_sas "$2" "join-$1"
	finish "join-$1"
	finish "$2"
}
magent() { bg "agent-$1" "$1" "${AGENT[$1]}" --config "$T/m$1/host.conf" \
	--set heartbeat_interval=500ms --set guests_uri= --set ledger_sync_interval=1s; }
mmetric() { on a curl -fsS http://127.0.0.1:9193/metrics | awk -v m="$1" '$1 == m { print $2 }'; }
grows() { local was=$1; shift; (( $("$@") > was )); }

bg genesis a "$NEW_OSI" --state-dir "$T/ma" --genesis --name node-a --role fleet \
	--endpoint "${IP[a]}:51820" --interface "${IF[a]}" --listen "${IP[a]}:7104" --ttl 60s \
	--no-start --sas-from "$T/genesis.sas"
wait_until 20 in_log genesis '^Code:' || die "genesis printed no code"
join b genesis
bg invite a "$NEW_OSI" --state-dir "$T/ma" invite --listen "${IP[a]}:7104" --ttl 60s \
	--sas-from "$T/invite.sas"
wait_until 20 in_log invite '^Code:' || die "invite printed no code"
join c invite
bg mfleet a "$NEW_FLEET" --config "$T/ma/fleet.conf" --set api_socket="$T/mfleet.sock" \
	--set checkpoint_interval=1s --set metrics_listen=127.0.0.1:9193
for n in a b c; do magent $n; done
mlive() { [[ $(mosi a status --format json | jq '[.nodes[] | select(.state == "live")] | length') == 3 ]]; }
wait_until 30 mlive || die "mesh: three live expected: $(mosi a status 2>&1)"
same_ab() { cmp -s "$T/ma/ledger" "$T/mb/ledger"; }
wait_until 15 same_ab || die "b never took c's admission (kinds it knows)"
pass "mesh: a (new), b (old CLI and agent), c (new) joined; all three live"

# c asks for new keys, a approves: entry 3 is a rekey (kind 7).
cp "$T/mb/ledger" "$T/b-ledger.before"
mosi c node rekey > "$T/request.log" 2>&1 || die "rekey on c: $(cat "$T/request.log")"
req=$(grep -o 'osi-rekey-request:[0-9a-f]*' "$T/request.log") || die "no request: $(cat "$T/request.log")"
mosi a node rekey-approve "$req" > "$T/approve.log" 2>&1 || die "approve: $(cat "$T/approve.log")"
grep -q "'node-c' re-keyed" "$T/approve.log" || die "approve: $(cat "$T/approve.log")"
refused() { grep -q 'unknown kind' "$T/agent-b.log"; }
wait_until 15 refused || die "b's agent never refused the new ledger: $(tail -5 "$T/agent-b.log")"
pass "b refused the ledger: $(grep -m1 'unknown kind' "$T/agent-b.log" | sed 's/^.*\] //')"
sleep 2 # more sync rounds: b still takes nothing
cmp -s "$T/mb/ledger" "$T/b-ledger.before" || die "b's ledger changed"
cmp -s "$T/ma/ledger" "$T/mb/ledger" && die "b holds the new ledger"
pass "b keeps its older copy byte for byte"
kill -0 "${PIDS[agent-b]}" || die "b's agent exited"
st_b() { mosi a status --format json | jq -r '.nodes[] | select(.name == "node-b") | .state'; }
acc=$(mmetric osi_fleet_heartbeats_accepted_total)
sleep 2
[[ $(st_b) == live ]] || die "b is no longer live: $(mosi a status 2>&1)"
(( $(mmetric osi_fleet_heartbeats_accepted_total) >= acc + 6 )) || die "heartbeats stalled"
pass "b's agent runs on and the new fleet still lists it live"
