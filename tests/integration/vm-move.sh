#!/bin/bash
# vm move (issue 12): a cold move between two members over real wireguard-go,
# each in its network namespace with its own private system libvirtd
# (lib-fabric.sh), privileged helper and agent; node-a runs the fleet.
#
#   ┌── $na: node-a, mesh 10.77.0.1 ───┐        ┌── $nb: node-b, mesh 10.77.0.2 ─┐
#   │ eth0 198.51.100.1  fleet, agent  ├─ veth ─┤ eth0 198.51.100.2  agent       │
#   │ libvirtd, helper (guests: user)  │        │ libvirtd, helper               │
#   └──────────────────────────────────┘        └────────────────────────────────┘
#
# A Totebox vault1 is created through the fleet on node-a; its archive (a
# data volume) gets a marker. Then, with the guest shut off (the test guest
# ignores ACPI, so the test pulls the plug; a running guest is shut down
# cleanly by the move itself):
#   1. vm move vault1 --to node-b: the guest boots on node-b with its
#      instance-id, its archive's qcow2 file has the same SHA-256, node-a has
#      no domain but keeps the file until vm release-source, which removes it;
#   2. a byte flipped as it arrives on node-a (OSI_MOVE_TEST_FLIP in its
#      agent's environment) fails the move back: the guest stays on node-b,
#      defined and startable, nothing of it on node-a;
#   backups of vault1 copied from node-b to node-a (vm backup --to): a
#      second copy of a chain grown by one incremental sends that incremental
#      alone; a full altered on node-a is sent again and replaced;
#   a guest with an encrypted archive (where libvirt keeps secrets) moves,
#      its key sealed to the target, and boots there; its backup copied back
#      carries its key, so made again there (a new key) it is restored from
#      the copy, its marker back, and boots (--put-back passes over a key
#      file's temporary cut short and refuses a kept file the volume's key
#      does not open; that restore killed midway first:
#      vm restore --put-back puts the old volume and key back; a local backup
#      under the key it had before restores after it: the key was kept);
#   the target evicted mid-move: vault1 runs on node-a and the move waits in
#      its clean shutdown, the movers saying so as they wait; node-b's
#      underlay goes down; when the fleet evicts
#      node-b (evict_after 10 s here) the move is undone at once, its reason
#      the eviction, vault1 still running on node-a; once node-b is back the
#      move ends (nothing of vault1 there) and vault1 is whole on node-a;
#   a full disk on the target: node-b's pool on a tmpfs 4 MiB larger than
#      what it holds; once node-b's agent has told the fleet, the move's
#      plan is refused, naming the numbers, while vault1 still runs on
#      node-a; the same pool filled after a plan was confirmed (the move
#      waiting in vault1's shutdown) is refused as the transfer begins,
#      before anything is made there, vault1 whole on node-a;
#   the target fails to start the guest (a directory where QEMU opens its
#      console log on node-b): the move is undone, vault1 whole on node-a;
#   3. kill -9 of the source agent, the target agent or the fleet at a random
#      instant of a move of a 96 MiB archive, MOVE_ROUNDS rounds (10, the
#      issue's minimum), each victim in each phase (plan and shutdown,
#      mid-transfer, checks and define), a kill that came after the move's
#      end not counted: afterwards the guest is defined on exactly one node,
#      starts there, and its archive's SHA-256 is unchanged;
#   with MOVE_EVICT_MID_STREAM=1 (an open defect, see that section): the
#      target evicted mid-stream (its underlay down once the transfer's
#      first progress shows): the move undone with its reason, no volume of
#      vault1 left on the target once back, vault1 whole on the source.
# Skipped (77) as fabric-guests.sh is.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-fabric.sh"

: "${OSI_VIRT_TOOL:?}" "${OSI_HELPER_CALL:?}" "${OSI_SOURCE:?}"
ZONE=osi.internal
ROUNDS=${MOVE_ROUNDS:-10}
na=osi-ma-$$ nb=osi-mb-$$
declare -A NS=([a]=$na [b]=$nb)
declare -A IF=([a]=osma$$ [b]=osmb$$)
WG_IFACES=("${IF[a]}" "${IF[b]}")
declare -A UNDER=([a]=198.51.100.1 [b]=198.51.100.2)
declare -A MESH=([a]=10.77.0.1 [b]=10.77.0.2)
declare -A OTHER=([a]=b [b]=a)

on() { local n=$1; shift; ip netns exec "${NS[$n]}" "$@"; }
wg_pids() { grep -ho 'wireguard-go pid [0-9]*' "$T"/*.log 2>/dev/null | awk '{ print $3 }' | sort -u; }
stop_wg() {
	# shellcheck disable=SC2046
	wg_go_stop $(wg_pids) $(wg_go_serving "${IF[a]}" "${IF[b]}")
}
at_exit stop_wg

fabric_libvirt_checks
[[ -c /dev/net/tun ]] || skip "needs /dev/net/tun"
for prog in wireguard-go wg ip nft jq sha256sum qemu-img; do
	command -v $prog >/dev/null || skip "$prog not installed (make deps)"
done
ip netns add "osi-mprobe-$$" 2>/dev/null || skip "cannot make network namespaces"
ip netns del "osi-mprobe-$$"
fabric_testguest
fabric_nwfilters
t_start=$(now_ms)

# ---- the underlay and the mesh; node-a holds the fleet role ----
netns_add "$na" "$nb"
ip link add eth0 netns "$na" type veth peer name eth0 netns "$nb"
on a ip addr add "${UNDER[a]}/24" dev eth0
on b ip addr add "${UNDER[b]}/24" dev eth0
on a ip link set eth0 up
on b ip link set eth0 up
bg() { # bg NAME NODE PROGRAM ARGS...: output in $T/NAME.log, input from $BG_IN
	local name=$1 node=$2; shift 2
	ip netns exec "${NS[$node]}" "$@" < "${BG_IN:-/dev/null}" >> "$T/$name.log" 2>&1 &
	PIDS[$name]=$!
}
bg_osi() { local name=$1 node=$2; shift 2; bg "$name" "$node" "$OSI_BIN" --state-dir "$T/$node" "$@"; }
in_log() { grep -q -- "$2" "$T/$1.log"; }
finish() {
	local rc=0
	wait "${PIDS[$1]}" || rc=$?
	unset "PIDS[$1]"
	(( rc == 0 )) || die "$1 exited with $rc: $(tail -n 5 "$T/$1.log")"
}
sas_of() { awk '/^SAS:/ { print $2 $3 }' "$T/$1.log" | tail -n 1; }
bg_osi a-genesis a --genesis --name node-a --role fleet --interface "${IF[a]}" \
	--listen "${UNDER[a]}:7104" --endpoint "${UNDER[a]}:51820" --ttl 60s --sas-from "$T/a-genesis.sas"
wait_until 20 in_log a-genesis '^Code:' || die "genesis printed no code"
awk '/^Code:/ { print $2 }' "$T/a-genesis.log" | tail -n 1 > "$T/b-join.code"
BG_IN=$T/b-join.code bg_osi b-join b --join - --via "${UNDER[a]}:7104" --name node-b \
	--interface "${IF[b]}" --sas-from "$T/b-join.sas"
wait_until 15 in_log a-genesis '^SAS:' || die "genesis shows no SAS"
wait_until 15 in_log b-join '^SAS:' || die "join shows no SAS"
sas_of b-join > "$T/a.tmp" && mv "$T/a.tmp" "$T/a-genesis.sas"
sas_of a-genesis > "$T/b.tmp" && mv "$T/b.tmp" "$T/b-join.sas"
finish b-join
finish a-genesis
wait_until 15 on b ping -c 1 -W 1 "${MESH[a]}" || die "b -> a over the mesh"
[[ -s $T/a/fleet.conf ]] || die "genesis --role fleet wrote no fleet.conf"
pass "node-a (genesis, fleet role) and node-b form the mesh"

# ---- per node: libvirtd, helper, agent; the fleet on node-a ----
start_agent_on() { # start_agent_on NODE [ENV=VALUE]
	local n=$1; shift
	bg "agent-$n" "$n" env OSI_MOVE_TEST_KEEPALIVE_S=2 "$@" "$HOST_BIN" --config "$T/$n/host.conf" --set heartbeat_interval=1s \
		--set guests_uri="${URI_OF[$n]}" --set ledger_sync_interval=2s \
		--set images_dir="$OSI_SOURCE/images" --set virt_socket="$T/virt-$n.sock" \
		--set base_image=testguest
}
start_fleet_on_a() {
	bg fleet a "$FLEET_BIN" --config "$T/a/fleet.conf" --set api_socket="$T/fleet.sock" \
		--set metrics_listen=127.0.0.1:9109 --set evict_after=10s
}
for n in a b; do
	start_node_libvirtd "$n" "${NS[$n]}"
	wait_until 20 lvt "$n" domains || die "node-$n's libvirtd did not answer"
	out=$(lvt "$n" image-import "$TESTGUEST_IMG" testguest) || die "image import on $n: $out"
	start_node_helper "$n" "node-$n" "$T/$n" "$ZONE"
	echo "guest_network = user" >> "$T/virt-$n.conf"
	start_agent_on "$n"
done
start_fleet_on_a
cli() { on a "$OSI_BIN" --state-dir "$T/a" --socket "$T/fleet.sock" "$@"; }
live() { [[ $(cli status --format json | jq '[.nodes[] | select(.state == "live")] | length') == 2 ]]; }
wait_until 30 live || die "the fleet does not see both nodes live: $(cli status 2>&1 | tail -n 5)"
fits() { cli place --memory 192M --vcpus 1 --type totebox --node "node-$1" --format json 2>/dev/null |
	jq -e .fits >/dev/null; }
wait_until 30 fits a || die "node-a cannot take vault1: $(cli place --memory 192M --type totebox --node node-a 2>&1)"
wait_until 30 fits b || die "node-b cannot take vault1: $(cli place --memory 192M --type totebox --node node-b 2>&1)"
pass "each node: a private libvirtd, helper and agent; the fleet sees both live, with the base image"

# ---- bench/move.sh: one move of a big volume against nc over the same mesh ----
if [[ -n ${MOVE_BENCH_MIB:-} ]]; then
	vol=${LVDIR[a]}/pool/vault1.data.archive.qcow2
	qemu-img create -q -f qcow2 "$vol" $(( MOVE_BENCH_MIB * 2 ))M || die "the bench volume"
	head -c $(( MOVE_BENCH_MIB << 20 )) /dev/urandom > "$T/fill.raw"
	truncate -s $(( MOVE_BENCH_MIB << 21 )) "$T/fill.raw"
	qemu-img convert -n -f raw -O qcow2 "$T/fill.raw" "$vol" || die "filling the bench volume"
	rm -f "$T/fill.raw"
	lvt a refresh || die "pool refresh"
	out=$(cli vm create --type totebox --name vault1 --node node-a --memory 192M --vcpus 1 --yes 2>&1) ||
		die "vm create: $out"
	lvt a stop --force vault1 > /dev/null
	# node-b's libvirtd has not yet defined a guest: the one-time probe of
	# QEMU its first define makes (3-4 s under TCG) is made now, as on a node
	# that ever ran one, not in round 1's move
	lvt b create --type orchestration --name warm --images "$OSI_SOURCE/images" --base testguest \
		--memory 128M --vcpus 1 --net none --no-start > /dev/null || die "a first guest on node-b"
	lvt b destroy warm > /dev/null || die "destroying node-b's first guest"
	bytes=$(stat -c %s "$vol")
	from=a to=b moves=() verified=() ncs=() ncsyncs=()
	for round in $(seq "${MOVE_BENCH_ROUNDS:-3}"); do
		vol=${LVDIR[$from]}/pool/vault1.data.archive.qcow2
		sync
		t0=$(now_ms)
		# each line of the CLI with its time since the start (ms): where the time goes
		out=$(set -o pipefail; cli vm move vault1 --to "node-$to" --yes 2>&1 |
			while IFS= read -r l; do echo "$(( $(now_ms) - t0 )) $l"; done) || die "vm move: $out"
		moves+=($(( $(now_ms) - t0 )))
		# and up to the line saying the guest is moved, verified and defined
		# there (the rest starts it there and undefines the source's)
		# (a start over between two of the CLI's looks shows no such line:
		# then the end, which the log says)
		v=$(awk '/^[0-9]+ starting — / { print $1; exit }' <<< "$out")
		[[ -n $v ]] || log "round $round: no 'starting' line seen, its end counted instead"
		verified+=(${v:-${moves[-1]}})
		# round 1's lines, of the progress only the first and the last
		(( round > 1 )) || log "$(awk '!/ MiB\/s, / { print; next } !seen++ { print } { last = $0 } END { print last }' <<< "$out")"
		# the guest the move started is stopped first: its boot under TCG takes CPU from nc
		lvt "$to" stop --force vault1 > /dev/null
		# nc right after, the same file from the same pool to the other's
		on "$to" nc -l -n "${MESH[$to]}" 7199 > "${LVDIR[$to]}/pool/nc-copy" &
		PIDS[nc]=$!
		wait_until 5 bash -c "ip netns exec ${NS[$to]} ss -Hltn 'sport = :7199' | grep -q LISTEN" ||
			die "no nc listener"
		t0=$(now_ms)
		on "$from" nc -N -n "${MESH[$to]}" 7199 < "$vol" || die "nc copy"
		wait "${PIDS[nc]}" || true
		unset "PIDS[nc]"
		ncs+=($(( $(now_ms) - t0 )))
		# and the copy made durable, as the move's import is (fdatasync) before it defines
		sync -f "${LVDIR[$to]}/pool/nc-copy"
		ncsyncs+=($(( $(now_ms) - t0 )))
		[[ $(stat -c %s "${LVDIR[$to]}/pool/nc-copy") == "$bytes" ]] ||
			die "nc copied $(stat -c %s "${LVDIR[$to]}/pool/nc-copy") of $bytes bytes"
		rm -f "${LVDIR[$to]}/pool/nc-copy"
		log "round $round, node-$from to node-$to: vm move ${moves[-1]} ms (moved and verified at ${verified[-1]} ms), nc ${ncs[-1]} ms (${ncsyncs[-1]} ms with its sync)"
		out=$(cli vm release-source vault1 2>&1) || die "release-source: $out"
		from=$to to=${OTHER[$to]}
	done
	mibs() { echo "scale=1; $1 * 1000 / $2 / 1048576" | bc; }
	median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
	move_ms=$(median "${moves[@]}") nc_ms=$(median "${ncs[@]}") ncsync_ms=$(median "${ncsyncs[@]}")
	verified_ms=$(median "${verified[@]}")
	log "volume: $(( MOVE_BENCH_MIB * 2 )) MiB, $MOVE_BENCH_MIB MiB written, qcow2 file $bytes bytes; medians of ${#moves[@]} rounds, each direction in turn"
	log "vm move (end to end: shutdown, export, transfer and import at once, each volume's SHA-256 on both ends, define, start): $move_ms ms, $(mibs "$bytes" "$move_ms") MiB/s"
	log "vm move up to 'transferred and verified' (the same, without the start):       $verified_ms ms, $(mibs "$bytes" "$verified_ms") MiB/s"
	log "nc over the same mesh (the same file, no verification):                         $nc_ms ms, $(mibs "$bytes" "$nc_ms") MiB/s"
	log "nc, then sync -f of its copy (durable, as the move's volume is before its define): $ncsync_ms ms, $(mibs "$bytes" "$ncsync_ms") MiB/s"
	log "ratio (move throughput / nc's): $(echo "scale=2; $nc_ms / $move_ms" | bc); against nc with its sync: $(echo "scale=2; $ncsync_ms / $move_ms" | bc)"
	log "ratio up to 'transferred and verified' / nc with its sync: $(echo "scale=2; $ncsync_ms / $verified_ms" | bc)"
	exit 0
fi

# ---- vault1 on node-a, a marker in its archive ----
# A plain archive made beforehand, which the creation takes back (a data
# volume made by a creation is encrypted where libvirt keeps secrets: vault2
# below moves an encrypted one).
arch() { echo "${LVDIR[$1]}/pool/vault1.data.archive.qcow2"; }
qemu-img create -q -f qcow2 "$(arch a)" 64M || die "a plain archive volume"
lvt a refresh || die "pool refresh"
lvt a volumes | grep -qx vault1.data.archive.qcow2 || die "libvirt does not list the archive: $(lvt a volumes)"
out=$(cli vm create --type totebox --name vault1 --node node-a --memory 192M --vcpus 1 --yes 2>&1) ||
	die "vm create: $out"
iid=$(lvt a show vault1 | sed -n 's/.*instance-id=\([^ ]*\).*/\1/p')
[[ -n $iid ]] || die "no instance-id: $(lvt a show vault1)"
qemu-img info -U "$(arch a)" | grep -q encrypt && die "the creation did not take the plain archive back"
shut_off() { lvt "$1" show vault1 2>/dev/null | grep -q 'state=shut off'; }
off() { lvt "$1" stop --force vault1 >/dev/null 2>&1 || true; wait_until 20 shut_off "$1"; }
off a || die "vault1 did not stop"
MARK="osi-move-marker-$RANDOM$RANDOM"
{ printf '%s' "$MARK"; head -c 65536 /dev/urandom; } > "$T/marker.raw"
truncate -s 1M "$T/marker.raw"
qemu-img convert -n -f raw -O qcow2 "$T/marker.raw" "$(arch a)" || die "writing the marker"
SUM=$(sha256sum < "$(arch a)")
pass "Totebox vault1 (instance $iid) created through the fleet on node-a, a marker in its archive"

defined_on() { lvt "$1" show vault1 >/dev/null 2>&1; }
fleet_node() { cli vm show vault1 --format json | jq -r '.node // .guest.node'; }
booted_on() { grep -qa "osi-testguest instance-id=$iid hostname=vault1" "${LVDIR[$1]}/consoles/vault1.log" 2>/dev/null; }

# ---- 1. a move, then the release of the source's copy ----
t0=$(now_ms)
out=$(cli vm move vault1 --to node-b --yes 2>&1) || die "vm move: $out"
ms=$(( $(now_ms) - t0 ))
log "$out"
[[ $out == *"moved to node-b"* ]] || die "vm move said: $out"
defined_on b || die "vault1 is not defined on node-b"
defined_on a && die "vault1 is still defined on node-a"
[[ $(sha256sum < "$(arch b)") == "$SUM" ]] || die "the archive's SHA-256 changed on node-b"
[[ -f $(arch a) && $(sha256sum < "$(arch a)") == "$SUM" ]] || die "node-a's copy was not kept intact"
[[ $(fleet_node) == node-b ]] || die "the fleet has vault1 on $(fleet_node)"
wait_until 180 booted_on b || die "vault1 did not boot on node-b: $(tail -c 400 "${LVDIR[b]}/consoles/vault1.log" 2>/dev/null)"
pass "moved to node-b in $ms ms: boots there with instance $iid, archive SHA-256 unchanged, node-a undefined but its copy intact"
cli vm show vault1 | grep -q "^move: kept from node-a to node-b" ||
	die "vm show has no move line: $(cli vm show vault1)"
out=$(cli vm move vault1 --to node-a --yes 2>&1) && die "a second move before the release succeeded"
[[ $out == *"release it first"* ]] || die "second move before the release: $out"
out=$(cli vm release-source vault1 2>&1) || die "release-source: $out"
[[ ! -e $(arch a) ]] || die "release-source left $(arch a)"
defined_on b || die "release-source touched node-b"
pass "vm release-source removed node-a's copy (a move before it was refused)"

# ---- 2. a byte corrupted in transit ----
stop agent-a
start_agent_on a OSI_MOVE_TEST_FLIP=300000
wait_until 30 live || die "node-a's agent did not come back"
off b || die "vault1 did not stop on node-b"
out=$(cli vm move vault1 --to node-a --yes 2>&1) && die "a move with a corrupted byte succeeded: $out"
log "$out"
[[ $out == *"altered (in the archive, or in transit): SHA-256"* ]] || die "the corrupted move said: $out"
defined_on b || die "vault1 is not defined on node-b after the failed move"
defined_on a && die "the failed move left vault1 defined on node-a"
[[ ! -e $(arch a) ]] || die "the failed move left a volume on node-a"
[[ $(sha256sum < "$(arch b)") == "$SUM" ]] || die "the failed move changed node-b's archive"
lvt b start vault1 >/dev/null || die "vault1 does not start on node-b after the failed move"
off b || die "vault1 did not stop"
pass "a byte flipped on arrival: the move fails (SHA-256 mismatch), vault1 stays whole and startable on node-b"

# ---- a backup of vault1 made on node-b, copied to node-a (vm backup --to) ----
# node-b's CLI as root there (its identity signs; the fleet's local socket
# stands for an admin's connection); node-a's helper stores the chain in its
# backup directory, <state_dir>/backups.
bk() { on b "$OSI_BIN" --state-dir "$T/b" --socket "$T/fleet.sock" vm backup vault1 --uri "${URI_OF[b]}" \
	--pool-dir "${LVDIR[b]}/pool" --dir "$T/b/backups" "$@"; }
backups_on_a() { on a "$OSI_BIN" --state-dir "$T/a" vm backups vault1 --dir "$T/a/backups"; }
stored_on_a() { ls "$T/a/backups/vault1/"*.json 2>/dev/null | wc -l; }
out=$(bk --to node-a 2>&1) && die "a backup copy with a byte corrupted in transit succeeded: $out"
log "$out"
[[ $out == *"altered (on its disk, or in transit): SHA-256"* ]] || die "the corrupted copy said: $out"
(( $(stored_on_a) == 0 )) || die "the corrupted copy left backups on node-a: $(ls -la "$T/a/backups/vault1")"
ls -a "$T/a/backups/vault1" 2>/dev/null | grep -q incoming && die "the corrupted copy left a staging directory"
pass "a backup's copy with a byte flipped on arrival fails (SHA-256 mismatch), nothing stored on node-a"
stop agent-a
start_agent_on a
wait_until 30 live || die "node-a's agent did not come back"
t0=$(now_ms)
out=$(bk --to node-a 2>&1) || die "vm backup --to node-a: $out"
ms=$(( $(now_ms) - t0 ))
log "$out"
BID=$(sed -n 's/^Backup \([0-9T]*Z\) of vault1.*/\1/p' <<< "$out" | tail -n 1)
[[ -n $BID ]] || die "no backup id in: $out"
[[ $out == *"stored"* ]] || die "vm backup --to did not say the copy was stored: $out"
out=$(backups_on_a 2>&1) || die "vm backups on node-a: $out"
grep -q "^$BID .* ok\$" <<< "$out" || die "node-a does not list $BID as ok: $out"
for f in "$T/b/backups/vault1/$BID".*; do
	cmp -s "$f" "$T/a/backups/vault1/${f##*/}" || die "node-a's ${f##*/} differs from node-b's"
done
grep -qa "$MARK" "$T/a/backups/vault1/$BID".*.qcow2 || die "the marker is not in node-a's copy"
out=$(bk --to node-a 2>&1) || die "a second copy: $out"
(( $(stored_on_a) == 2 )) || die "node-a holds $(stored_on_a) backups after two copies"
out=$(bk --to node-a --keep 2 2>&1) || die "a third copy, --keep 2: $out"
BIDL=$(sed -n 's/^Backup \([0-9T]*Z\) of vault1.*/\1/p' <<< "$out" | tail -n 1)
[[ $out == *"1 older backup(s) pruned (keep 2)"* ]] || die "the third copy did not prune node-a's oldest: $out"
(( $(stored_on_a) == 2 )) && [[ ! -e $T/a/backups/vault1/$BID.json && -e $T/a/backups/vault1/$BIDL.json ]] ||
	die "after --keep 2 node-a holds: $(ls "$T/a/backups/vault1")"
# what a compromised agent (osi) on node-a could ask its root helper: no
# backup leaves or enters the store, nor is restored, without the fleet's
# signed request for exactly that
HC=${OSI_HELPER_CALL:?OSI_HELPER_CALL must point at helper-call}
out=$(HELPER_CALL_RECORD=$BID "$HC" "$T/virt-a.sock" backup-out vault1 2>&1) &&
	die "the helper packed a backup without the fleet's approval: $out"
[[ $out == *"no approval of the fleet arrived"* ]] || die "backup-out without approval: $out"
n_a=$(stored_on_a)
out=$(HELPER_CALL_RECORD=$BID HELPER_CALL_APPROVAL=00112233445566778899 \
	"$HC" "$T/virt-a.sock" backup-in vault1 2>&1) && die "the helper took a backup-in without the fleet's approval: $out"
[[ $out == *"not approved by the fleet"* ]] || die "backup-in without approval: $out"
out=$(HELPER_CALL_FD="$T/marker.raw" "$HC" "$T/virt-a.sock" backup-in vault1 2>&1) &&
	die "the helper took a backup-in's file with its request: $out"
[[ $out == *"only a move-in brings a file with its request"* ]] || die "backup-in with a file: $out"
(( $(stored_on_a) == n_a )) || die "a refused backup-in changed node-a's store"
pass "node-a's helper refuses a backup-out and a backup-in (with a restore) that the fleet did not sign"
out=$(bk 2>&1) || die "a backup kept on node-b alone: $out"
BID2=$(sed -n 's/^Backup \([0-9T]*Z\) of vault1.*/\1/p' <<< "$out" | tail -n 1)
[[ -n $BID2 && ! -e $T/a/backups/vault1/$BID2.json ]] || die "backup $BID2 on node-b: $out"
pass "backup $BID of vault1 made on node-b and copied to node-a in $ms ms: listed ok there (signed by node-b, a live member), its files identical, the marker in it; a second copy adds the second backup, a third with --keep 2 prunes node-a's oldest"

# ---- a chain's next copies carry only what node-a lacks ----
# vault1 running on node-b: a full with a checkpoint, then incrementals on it.
# Each copy offers the chain's files; node-a's helper hashes those it holds
# and only the rest travel (the bytes sent: the copy line's first figure).
sent_bytes() { numfmt --from=iec "$(sed -n 's/.*copy: \([0-9.]*[KMGT]\?\)B\? of .*/\1/p' <<< "$1" | tail -n 1)"; }
qemu-img info -U "$(arch b)" | grep -q 'compat: 0.10' && qemu-img amend -f qcow2 -o compat=1.1 "$(arch b)"
lvt b start vault1 >/dev/null || die "vault1 does not start on node-b for the chain's copies"
out=$(bk --to node-a 2>&1) || die "a full of the running vault1, copied: $out"
CF=$(sed -n 's/^Backup \([0-9T]*Z\) of vault1.*/\1/p' <<< "$out" | tail -n 1)
[[ -n $CF && $out == *": full, "* && $out != *"no checkpoint"* ]] || die "a full with a checkpoint: $out"
[[ $out != *"held here already"* ]] || die "the chain's first copy held something: $out"
out=$(bk --to node-a 2>&1) || die "an incremental of vault1, copied: $out"
log "$out"
CI=$(sed -n 's/^Backup \([0-9T]*Z\) of vault1.*/\1/p' <<< "$out" | tail -n 1)
[[ $out == *"incremental on $CF"* ]] || die "not an incremental on $CF: $out"
[[ $out == *"1 backup(s) of vault1 stored in "*", 1 already there ("*"; 1 volume file(s) ("*") held here already, checked, not sent again"* ]] ||
	die "the incremental's copy did not leave out the full node-a holds: $out"
full_size=$(stat -c %s "$T/b/backups/vault1/$CF.archive.qcow2")
inc_size=$(stat -c %s "$T/b/backups/vault1/$CI.archive.qcow2")
sent=$(sent_bytes "$out")
(( sent < full_size && sent < inc_size + 1048576 )) ||
	die "the incremental's copy sent $sent bytes (the full's file $full_size, the incremental's $inc_size)"
for f in "$T/b/backups/vault1/$CI".*; do
	cmp -s "$f" "$T/a/backups/vault1/${f##*/}" || die "node-a's ${f##*/} differs from node-b's"
done
pass "a second copy of the chain ($CF, then $CI) sent $sent bytes: the incremental ($inc_size bytes), not the full ($full_size bytes) node-a held"
# the full's file on node-a altered (its size kept): not held, sent again, replaced
printf '\x5a\xa5' | dd of="$T/a/backups/vault1/$CF.archive.qcow2" bs=1 seek=1000 conv=notrunc status=none
cmp -s "$T/a/backups/vault1/$CF.archive.qcow2" "$T/b/backups/vault1/$CF.archive.qcow2" && die "the tampering changed nothing"
out=$(bk --to node-a 2>&1) || die "a copy over an altered full: $out"
log "$out"
[[ $out == *"incremental on $CI"* ]] || die "not an incremental on $CI: $out"
[[ $out == *", 2 already there, 1 of them damaged there and repaired ("*"; 1 volume file(s) ("*") held here already, checked, not sent again"* ]] ||
	die "the copy did not send the altered full again: $out"
sent=$(sent_bytes "$out")
(( sent >= full_size )) || die "the copy over an altered full sent $sent bytes, less than the full's $full_size"
cmp -s "$T/a/backups/vault1/$CF.archive.qcow2" "$T/b/backups/vault1/$CF.archive.qcow2" ||
	die "node-a's altered full was not replaced"
out=$(backups_on_a 2>&1) || die "vm backups on node-a: $out"
grep -q "^$CF .* ok\$" <<< "$out" || die "node-a does not list $CF as ok: $out"
off b || die "vault1 did not stop on node-b"
# the checkpoints' bitmaps out of the archive again: QEMU marks them in the
# file while the guest runs, which the byte-for-byte checks below would see
for bm in $(qemu-img info -U --output=json "$(arch b)" | jq -r '."format-specific".data.bitmaps[]?.name'); do
	qemu-img bitmap --remove "$(arch b)" "$bm" || die "removing bitmap $bm from vault1's archive"
done
SUM=$(sha256sum < "$(arch b)")
pass "the full's file altered on node-a: the next copy sent it again ($sent bytes) with the new incremental, and node-a's is whole again"

# ---- an encrypted data volume: its key travels sealed to the target ----
out=$(cli vm create --type totebox --name vault2 --node node-a --memory 192M --vcpus 1 --yes 2>&1) ||
	die "vm create vault2: $out"
enc() { qemu-img info -U "${LVDIR[$1]}/pool/vault2.data.archive.qcow2" 2>/dev/null | grep -q "encrypt"; }
if enc a; then
	iid2=$(lvt a show vault2 | sed -n 's/.*instance-id=\([^ ]*\).*/\1/p')
	lvt a stop --force vault2 > /dev/null
	out=$(cli vm move vault2 --to node-b --yes 2>&1) || die "the move of an encrypted guest: $out"
	enc b || die "vault2's archive on node-b is not encrypted: $(qemu-img info -U "${LVDIR[b]}/pool/vault2.data.archive.qcow2")"
	lvt b show vault2 | grep -q "state=running" || die "vault2 does not run on node-b: $(lvt b show vault2)"
	wait_until 180 grep -qa "osi-testguest instance-id=$iid2 hostname=vault2" "${LVDIR[b]}/consoles/vault2.log" ||
		die "vault2 did not boot on node-b"
	cli vm release-source vault2 > /dev/null 2>&1 || die "release-source vault2"
	pass "a guest with an encrypted archive moved: its key sealed to node-b, the volume still encrypted there, the guest boots"

	# ---- its backup copied to node-a carries its key: node-b lost, vault2 made
	# again on node-a (a new volume under a new key) is restored from the copy ----
	arch2() { echo "${LVDIR[$1]}/pool/vault2.data.archive.qcow2"; }
	# key_of NODE OUT: the archive's key, from that libvirtd's secret store
	key_of() {
		local lvp=${LVPID[$1]} x
		x=$(nsenter -t "$lvp" -m -- grep -lF "<volume>$(arch2 "$1")</volume>" -r /etc/libvirt/secrets) ||
			die "no secret for vault2's archive on node-$1"
		(umask 077; nsenter -t "$lvp" -m -- cat "${x%.xml}.base64" | base64 -d > "$2")
		basename "${x%.xml}"
	}
	off2() { lvt "$1" stop --force vault2 > /dev/null 2>&1 || true; wait_until 20 shut_off2 "$1"; }
	shut_off2() { lvt "$1" show vault2 2>/dev/null | grep -q 'state=shut off'; }
	off2 b || die "vault2 did not stop on node-b"
	key_of b "$T/key2-b" > /dev/null
	MARK2="osi-copy-key-marker-$RANDOM$RANDOM"
	{ printf '%s' "$MARK2"; head -c 65536 /dev/urandom; } > "$T/marker2.raw"
	truncate -s 1M "$T/marker2.raw"
	qemu-img convert -n -f raw --object "secret,id=k0,file=$T/key2-b" --target-image-opts "$T/marker2.raw" \
		"driver=qcow2,file.filename=$(arch2 b),encrypt.key-secret=k0" || die "writing vault2's marker"
	grep -qaF "$MARK2" "$(arch2 b)" && die "vault2's marker shows in clear in its volume"
	out=$(on b "$OSI_BIN" --state-dir "$T/b" --socket "$T/fleet.sock" vm backup vault2 --uri "${URI_OF[b]}" \
		--pool-dir "${LVDIR[b]}/pool" --dir "$T/b/backups" --to node-a 2>&1) || die "vm backup vault2 --to node-a: $out"
	log "$out"
	BID3=$(sed -n 's/^Backup \([0-9T]*Z\) of vault2.*/\1/p' <<< "$out" | tail -n 1)
	[[ -n $BID3 && $out == *"LUKS-encrypted, its volumes' keys kept here"* ]] ||
		die "the encrypted copy does not say its keys were kept: $out"
	kf=$T/a/backups/vault2/$BID3.keys
	[[ -f $kf && $(stat -c %a "$kf") == 600 && $(stat -c %u "$kf") == 0 ]] || die "no root-only $kf: $(ls -la "$T/a/backups/vault2")"
	grep -q '"format":"osi-backup-keys-local-v1"' "$kf" || die "$kf: $(cat "$kf")"
	for f in "$kf" "$T"/a/backups/vault2/*.json "$T"/*.log; do
		grep -aqF "$(cat "$T/key2-b")" "$f" && die "vault2's key in clear in $f"
	done
	cli vm destroy vault2 > /dev/null 2>&1 || die "vm destroy vault2 on node-b"
	out=$(cli vm create --type totebox --name vault2 --node node-a --memory 192M --vcpus 1 --yes 2>&1) ||
		die "vault2 made again on node-a: $out"
	enc a || die "vault2's archive made again on node-a is not encrypted"
	off2 a || die "vault2 did not stop on node-a"
	uuid_new=$(key_of a "$T/key2-new")
	cmp -s "$T/key2-new" "$T/key2-b" && die "vault2 made again has its old key already"
	ra() { on a "$OSI_BIN" --state-dir "$T/a" vm "$@" --config "$T/virt-a.conf" --uri "${URI_OF[a]}" \
		--pool-dir "${LVDIR[a]}/pool" --dir "$T/a/backups"; }
	# a local backup of vault2 made again, under its new key
	out=$(ra backup vault2 2>&1) || die "a local backup of vault2 made again: $out"
	BIDL2=$(sed -n 's/^Backup \([0-9T]*Z\) of vault2.*/\1/p' <<< "$out")
	[[ -n $BIDL2 ]] || die "a local backup of vault2 made again: $out"
	# what --put-back checks with no key of the restore left: a temporary of
	# the key file cut short (a restore killed while writing it, which had
	# changed nothing) is passed over and removed; a kept file that the
	# volume's key now does not open is refused, nothing renamed (it would
	# leave a volume nothing opens)
	sum2=$(sha256sum < "$(arch2 a)")
	left2=${LVDIR[a]}/pool/.osi-restore-vault2.data.archive.qcow2
	ln "$(arch2 a)" "$left2" && : > "$left2.key.tmp.4242" || die "making the leftovers"
	out=$(ra restore vault2 --put-back 2>&1) || die "put back beside a temporary cut short: $out"
	[[ $out == *"Put back 1 data volume(s) of vault2"* ]] || die "put back beside a temporary cut short: $out"
	[[ -z $(ls -A "${LVDIR[a]}/pool" | grep '^\.osi-restore') ]] || die "left after that put back: $(ls -A "${LVDIR[a]}/pool")"
	[[ $(sha256sum < "$(arch2 a)") == "$sum2" ]] || die "vault2's volume changed by that put back"
	luks_image "$left2" 1M || die "a LUKS file under another key"
	out=$(ra restore vault2 --put-back 2>&1) && die "put back of a file under another key succeeded: $out"
	[[ $out == *"refused, nothing was changed or removed"*"(no key of the restore is left) does not open"* ]] ||
		die "put back of a file under another key: $out"
	[[ -f $left2 && $(sha256sum < "$(arch2 a)") == "$sum2" ]] || die "the refused put back changed something"
	rm -f "$left2"
	pass "vm restore --put-back passed over a key file's temporary cut short, and refused a kept file the volume's key does not open"

	# the restore under the copy's key killed once it has kept the old volume
	# and its key aside: --put-back puts both back
	ip netns exec "${NS[a]}" "$OSI_BIN" --state-dir "$T/a" vm restore vault2 --from "$BID3" \
		--config "$T/virt-a.conf" --uri "${URI_OF[a]}" --pool-dir "${LVDIR[a]}/pool" \
		--dir "$T/a/backups" > "$T/killed2.out" 2>&1 &
	rpid=$!
	wait_until 60 test -e "$left2.key" || die "the restore kept no key aside: $(cat "$T/killed2.out")"
	kill -9 "$rpid"
	wait "$rpid" 2>/dev/null || true
	sleep 3 # libvirt ends what the killed restore asked of it
	[[ -f $left2 && -f $left2.key ]] || die "the killed restore left: $(ls -A "${LVDIR[a]}/pool")"
	out=$(ra restore vault2 --from "$BID3" 2>&1) && die "a restore over a leftover succeeded: $out"
	[[ $out == *"and .key remains from a restore that did not finish"*"--put-back"* ]] ||
		die "a restore over a leftover: $out"
	out=$(ra restore vault2 --put-back 2>&1) || die "put back of vault2: $out"
	[[ $out == *"Put back 1 data volume(s) of vault2"* ]] || die "put back of vault2: $out"
	[[ -z $(ls -A "${LVDIR[a]}/pool" | grep '^\.osi-restore') ]] || die "left after put back: $(ls -A "${LVDIR[a]}/pool")"
	[[ $(key_of a "$T/key2-back") == "$uuid_new" ]] || die "the put back changed the secret's uuid"
	cmp -s "$T/key2-back" "$T/key2-new" || die "vault2's old key is not back in its secret"
	[[ $(sha256sum < "$(arch2 a)") == "$sum2" ]] || die "vault2's old volume is not back"
	pass "a restore of vault2 under the copy's key killed midway: vm restore --put-back put its old volume and its old key back"
	out=$(ra restore vault2 --from "$BID3" 2>&1) || die "vm restore of vault2 on node-a from node-b's copy: $out"
	log "$out"
	uuid_now=$(key_of a "$T/key2-now")
	[[ $uuid_now == "$uuid_new" ]] || die "the restore changed the secret's uuid ($uuid_new -> $uuid_now)"
	cmp -s "$T/key2-now" "$T/key2-b" || die "vault2's archive on node-a is not under the backup's key"
	[[ -z $(ls -A "${LVDIR[a]}/pool" | grep '^\.osi-restore') ]] || die "the old volume kept aside: $(ls -A "${LVDIR[a]}/pool")"
	qemu-img convert -U -O raw --object "secret,id=k0,file=$T/key2-now" \
		--image-opts "driver=qcow2,file.filename=$(arch2 a),encrypt.key-secret=k0" "$T/restored2.raw" ||
		die "reading vault2's restored archive with its key"
	cmp -s -n 1048576 "$T/marker2.raw" "$T/restored2.raw" || die "vault2's marker is not back on node-a"
	rm -f "$T/restored2.raw"
	: > "${LVDIR[a]}/consoles/vault2.log"
	lvt a start vault2 > /dev/null || die "vault2 does not start on node-a after the restore"
	wait_until 180 grep -qa "osi-testguest instance-id=.* hostname=vault2" "${LVDIR[a]}/consoles/vault2.log" ||
		die "vault2 did not boot on node-a after the restore"
	pass "vault2's backup copied from node-b to node-a carried its key (sealed to node-a, kept root-only, never in clear): vault2 made again on node-a under a new key was restored from it, its volume under the backup's key in the same secret, the marker back, and it boots"
	# its local backup, under the key it had before, still restores: that
	# key was kept with it (BIDL2.keys)
	off2 a || die "vault2 did not stop on node-a"
	out=$(ra restore vault2 --from "$BIDL2" 2>&1) || die "restore of vault2's local backup after the copy's: $out"
	key_of a "$T/key2-local" > /dev/null
	cmp -s "$T/key2-local" "$T/key2-new" || die "vault2 is not under its local backup's key again"
	pass "vault2's local backup $BIDL2 (under the key it had before the copy's restore) restored after it, its key kept with it"
	cli vm destroy vault2 > /dev/null 2>&1 || die "vm destroy vault2"
else
	log "vault2's archive is plain here (this build does not encrypt data volumes): the sealed key is not exercised"
	cli vm destroy vault2 > /dev/null 2>&1 || die "vm destroy vault2"
fi

# ---- the target evicted mid-move ----
running_on() { lvt "$1" show vault1 2>/dev/null | grep -q 'state=running'; }
node_state() { cli status --format json | jq -r --arg n "node-$1" '.nodes[] | select(.name == $n) | .state'; }
out=$(cli vm move vault1 --to node-a --yes 2>&1) || die "vm move back to node-a: $out"
cli vm release-source vault1 > /dev/null 2>&1 || die "release-source after the move back"
wait_until 30 running_on a || die "vault1 does not run on node-a after the move back"
t0=$(now_ms)
cli vm move vault1 --to node-b --yes > "$T/evicted.log" 2>&1 &
PIDS[evicted]=$!
in_transfer() { [[ $(cli vm move-show vault1 2>&1) == *": transfer"* ]]; }
wait_until 20 in_transfer || die "the move did not begin: $(cli vm move-show vault1 2>&1)"
# the source's helper waits in the shutdown (the test guest ignores ACPI),
# and the movers say so (every 2 s here, 60 s by default: the fleet ends a
# step silent for 5 min, and a big guest's export takes longer)
still() { [[ $(cli vm move-show vault1 2>&1) == *"s so far"* ]]; }
wait_until 10 still || die "the waiting movers said nothing: $(cli vm move-show vault1 2>&1)"
on b ip link set eth0 down
evicted() { [[ $(node_state b) == evicted ]]; }
wait_until 40 evicted || die "node-b was not evicted: $(cli status 2>&1 | tail -n 3)"
aborting() { [[ $(cli vm move-show vault1 2>&1) == *"aborting"*"node-b was evicted"* ]]; }
wait_until 10 aborting || die "the eviction did not undo the move: $(cli vm move-show vault1 2>&1)"
ms=$(( $(now_ms) - t0 ))
running_on a || die "vault1 stopped on node-a while node-b was away: $(lvt a show vault1)"
lvt a show vault1 | grep -q "autostart=1" || die "vault1's autostart on node-a is off: $(lvt a show vault1)"
on b ip link set eth0 up
wait_until 60 live || die "node-b did not come back live"
wait_until 120 grep -q "undone" "$T/evicted.log" || die "the undone move did not end: $(cli vm move-show vault1 2>&1)"
rc=0
wait "${PIDS[evicted]}" || rc=$?
unset "PIDS[evicted]"
log "$(cat "$T/evicted.log")"
(( rc != 0 )) || die "the move to an evicted node-b succeeded: $(cat "$T/evicted.log")"
grep -q "node-b was evicted" "$T/evicted.log" || die "vm move did not say why: $(cat "$T/evicted.log")"
defined_on b && die "node-b defines vault1 after the undone move"
[[ $(fleet_node) == node-a ]] || die "the fleet has vault1 on $(fleet_node)"
lvt a stop --force vault1 > /dev/null 2>&1
off a || die "vault1 did not stop on node-a"
[[ $(sha256sum < "$(arch a)") == "$SUM" ]] || die "the archive changed on node-a"
# the restore drill: vault1's data overwritten on node-a, then restored there
# from the backup node-b made and copied to node-a
head -c 1048576 /dev/urandom > "$T/junk.raw"
qemu-img convert -n -f raw -O qcow2 "$T/junk.raw" "$(arch a)" || die "overwriting the archive"
out=$(on a "$OSI_BIN" --state-dir "$T/a" vm restore vault1 --from "$BIDL" --uri "${URI_OF[a]}" \
	--pool-dir "${LVDIR[a]}/pool" --dir "$T/a/backups" 2>&1) || die "vm restore on node-a from node-b's copy: $out"
qemu-img compare -q -U -f raw -F qcow2 "$T/marker.raw" "$(arch a)" ||
	die "the restored archive on node-a does not hold the marker's data"
pass "restore drill: vault1's archive overwritten on node-a, restored there from backup $BIDL that node-b made and copied; its data is back"
# restore --to: the backup only node-b holds, restored into vault1 on node-a
qemu-img convert -n -f raw -O qcow2 "$T/junk.raw" "$(arch a)" || die "overwriting the archive"
rs() { on b "$OSI_BIN" --state-dir "$T/b" --socket "$T/fleet.sock" vm restore vault1 --dir "$T/b/backups" "$@"; }
out=$(rs --from "$BID2" --to node-b 2>&1) && die "a restore --to a node vault1 is not on succeeded: $out"
[[ $out == *"runs on node-a, not node-b"* ]] || die "restore --to node-b: $out"
out=$(rs --from "$BID2" --to node-a 2>&1) || die "vm restore --to node-a from node-b's backup: $out"
log "$out"
[[ $out == *"Restored vault1's data volumes on node-a from backup $BID2"* ]] || die "restore --to said: $out"
[[ -f $T/a/backups/vault1/$BID2.json ]] || die "node-a does not hold $BID2 after the restore"
qemu-img compare -q -U -f raw -F qcow2 "$T/marker.raw" "$(arch a)" ||
	die "after restore --to, vault1's archive on node-a does not hold the marker's data"
SUM=$(sha256sum < "$(arch a)")
pass "vm restore --from $BID2 --to node-a run on node-b: the backup only node-b held copied and restored into vault1 on node-a (a restore --to a node the guest is not on refused)"
pass "node-b evicted mid-move (vault1 in its shutdown on node-a): undone ${ms} ms after the move began, vault1 kept running there with autostart on, vm move said why; nothing of vault1 on node-b once it was back"

# ---- a full disk on the target ----
POOL_B=${LVDIR[b]}/pool
# node-b's libvirtd has a mount namespace of its own (lib-fabric.sh): the
# tmpfs goes there, and with it when that libvirtd ends.
in_lv_b() { nsenter -t "${LVPID[b]}" -m -- "$@"; }
cp -a "$POOL_B" "$T/pool-b.saved"
fill_b() { # node-b's pool on a tmpfs 4 MiB larger than what it holds
	in_lv_b mount -t tmpfs -o "size=$(( $(du -sk "$T/pool-b.saved" | cut -f1) + 4096 ))k,mode=0711" \
		osi-test-full "$POOL_B" || return 1
	in_lv_b cp -a "$T/pool-b.saved/." "$POOL_B/" || die "cannot fill node-b's small pool"
	lvt b refresh > /dev/null || die "pool refresh on node-b"
}
unfill_b() { in_lv_b umount "$POOL_B"; lvt b refresh > /dev/null || die "pool refresh on node-b"; }
# what node-b's agent last told the fleet of its pool (every 15 s or so)
pool_free_b() { cli status --format json | jq -r '.nodes[] | select(.name == "node-b") | .pool_free_bytes'; }
pool_below() { local v; v=$(pool_free_b); [[ $v =~ ^[0-9]+$ ]] && (( v < $1 )); }
pool_above() { local v; v=$(pool_free_b); [[ $v =~ ^[0-9]+$ ]] && (( v > $1 )); }
nothing_on_b() { ! defined_on b && [[ -z $(in_lv_b find "$POOL_B" -name 'vault1.*' -print -quit) ]]; }
if fill_b; then
	# 1. the fleet knows node-b's pool is short: the plan is refused while
	# vault1 still runs on node-a, before anything shuts down
	lvt a start vault1 > /dev/null || die "vault1 does not start on node-a"
	wait_until 20 running_on a || die "vault1 is not running on node-a"
	wait_until 60 pool_below $(( 16 << 20 )) || die "the fleet did not learn node-b's small pool: $(pool_free_b)"
	out=$(cli vm move vault1 --to node-b --yes 2>&1) && die "a move into a full pool was planned: $out"
	log "$out"
	[[ $out == *"node-b's storage pool has "*" free; moving vault1 needs "*"nothing was shut down"* ]] ||
		die "the plan into a full pool said: $out"
	running_on a || die "vault1 stopped on node-a at a refused plan: $(lvt a show vault1)"
	[[ $(cli vm move-show vault1 2>&1) == *"no move recorded"* ]] || die "a move was recorded: $(cli vm move-show vault1 2>&1)"
	nothing_on_b || die "the refused plan left something of vault1 on node-b: $(in_lv_b ls "$POOL_B")"
	pass "a full pool on node-b, known to the fleet: the plan is refused naming the numbers, vault1 still running on node-a"
	# 2. the pool fills after the plan was confirmed (while the move waits
	# in vault1's clean shutdown): the transfer's own check refuses it
	unfill_b
	wait_until 60 pool_above $(( 64 << 20 )) || die "the fleet did not learn node-b's pool is roomy again: $(pool_free_b)"
	cli vm move vault1 --to node-b --yes > "$T/filled.log" 2>&1 &
	PIDS[filled]=$!
	wait_until 20 in_transfer || die "the move did not begin: $(cli vm move-show vault1 2>&1)"
	wait_until 10 still || die "the move is not waiting in the shutdown: $(cli vm move-show vault1 2>&1)"
	fill_b || die "cannot mount the small pool again"
	lvt a stop --force vault1 > /dev/null 2>&1 # the test guest ignores ACPI: the plug
	rc=0
	wait "${PIDS[filled]}" || rc=$?
	unset "PIDS[filled]"
	out=$(cat "$T/filled.log")
	log "$out"
	(( rc != 0 )) || die "a move into a pool filled after its plan succeeded: $out"
	[[ $out == *"storage pool"*"free"*"nothing was defined"* ]] || die "the move into a pool filled after its plan said: $out"
	nothing_on_b || die "the refused transfer left something of vault1 on node-b: $(in_lv_b ls "$POOL_B")"
	unfill_b
	[[ $(fleet_node) == node-a ]] || die "the fleet has vault1 on $(fleet_node)"
	off a || die "vault1 did not stop on node-a"
	lvt a start vault1 > /dev/null || die "vault1 does not start on node-a after the refused move"
	off a || die "vault1 did not stop on node-a"
	[[ $(sha256sum < "$(arch a)") == "$SUM" ]] || die "the archive changed on node-a"
	pass "node-b's pool filled after the plan was confirmed: the transfer is refused before anything is made there, with its free space; vault1 whole and startable on node-a"
else
	log "SKIP (this check only): cannot mount a tmpfs in node-b's libvirtd's namespace"
fi

move_line() { cli vm move-show vault1 2>&1; }
settled() { [[ $(move_line) == *"no move recorded"* || $(move_line) == *": kept"* ]]; }
# ---- the target fails to start the guest ----
# A directory where node-b's QEMU opens vault1's console log: the define
# there succeeds, its start fails; the move is undone, vault1 whole on node-a.
rm -f "${LVDIR[b]}/consoles/vault1.log"
mkdir "${LVDIR[b]}/consoles/vault1.log"
out=$(cli vm move vault1 --to node-b --yes 2>&1) && die "a move whose start fails on node-b succeeded: $out"
log "$out"
[[ $out == *"start failed"* ]] || die "vm move did not say the start failed: $out"
wait_until 60 settled || die "the failed start was not undone: $(move_line)"
defined_on b && die "node-b defines vault1 after its start failed"
[[ $(fleet_node) == node-a ]] || die "the fleet has vault1 on $(fleet_node) after the failed start"
off a || die "vault1 did not stop on node-a"
[[ $(sha256sum < "$(arch a)") == "$SUM" ]] || die "the archive changed on node-a"
lvt a start vault1 > /dev/null || die "vault1 does not start on node-a after the undone move"
off a || die "vault1 did not stop on node-a"
rmdir "${LVDIR[b]}/consoles/vault1.log"
pass "node-b defined vault1 but failed to start it: the move was undone, vault1 whole and startable on node-a, nothing of it on node-b"

# ---- 3. kill -9 at random instants of moves ----
# vault1's archive grown to KILL_MIB written (a transfer of some seconds
# here), so that a kill can land inside each of a move's phases. Counted
# round r kills victim r % 3 (source agent, target agent, fleet) in phase
# r / 3 % 3, found by the CLI's own lines, a random delay into it:
#   0 after "Confirmed": the plan, the clean shutdown, the export's start;
#   1 after the transfer's first progress line: mid-stream;
#   2 after the target's define ("volumes and NoCloud seed") or "starting":
#     the define and the start on the target.
# A kill counts only when the move was still under way just before it and,
# for an agent, just after it (vm move-show names a phase other than kept);
# a late one is tried again in the same victim and phase, at most ROUNDS
# times in all. The first 9 rounds so cover each victim in each phase.
KILL_MIB=${MOVE_KILL_MIB:-96}
qemu-img resize -q "$(arch a)" $(( KILL_MIB + 32 ))M || die "growing the archive"
{ printf '%s' "$MARK"; head -c $(( KILL_MIB << 20 )) /dev/urandom; } > "$T/kill.raw"
qemu-img convert -n -f raw -O qcow2 "$T/kill.raw" "$(arch a)" || die "filling the archive"
rm -f "$T/kill.raw"
lvt a refresh || die "pool refresh"
SUM=$(sha256sum < "$(arch a)")
whole() { # exactly one node defines vault1; it starts there; its archive is unchanged
	local n k=0 at=
	for n in a b; do defined_on $n && { k=$((k + 1)); at=$n; }; done
	(( k == 1 )) || { log "vault1 defined on $k nodes"; return 1; }
	[[ $(sha256sum < "$(arch $at)") == "$SUM" ]] || { log "archive changed on $at"; return 1; }
	lvt $at start vault1 >/dev/null 2>&1 || { log "vault1 does not start on $at"; return 1; }
	off $at
	WHERE=$at
}
phases=("Confirmed" " MiB/s, " "volumes and NoCloud seed|^starting — ")
phase_names=("plan, shutdown, export" "mid-transfer" "checks, define, start")
phase_ms=(400 2500 250)
# the CLI's line for phase p seen in the round's log (as printed, flushed each line)
at_phase() { grep -Eq "${phases[$1]}" "$2"; }
WHERE=a
declare -A COUNTED=() UNDONE=()
attempts=0 rounds=0 moved=0 undone=0 late=0
while (( rounds < ROUNDS )); do
	(( attempts < 2 * ROUNDS )) || die "$late of $attempts kills came after the move ended"
	src=$WHERE dst=${OTHER[$WHERE]}
	victims=("agent-$src" "agent-$dst" fleet)
	vk=$(( rounds % 3 )) ph=$(( rounds / 3 % 3 ))
	victim=${victims[$vk]} delay=$(( RANDOM % ${phase_ms[$ph]} ))
	attempts=$((attempts + 1))
	cli vm move vault1 --to "node-$dst" --yes > "$T/round-$attempts.log" 2>&1 &
	mover=$!
	wait_until 60 at_phase "$ph" "$T/round-$attempts.log" ||
		die "attempt $attempts: the move did not reach '${phase_names[$ph]}': $(cat "$T/round-$attempts.log")"
	sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
	before=$(move_line)
	kill -KILL "${PIDS[$victim]}" 2>/dev/null || true
	after=
	[[ $victim == fleet ]] || after=$(move_line)
	wait "${PIDS[$victim]}" 2>/dev/null || true
	unset "PIDS[$victim]"
	case $victim in
	fleet) start_fleet_on_a ;;
	agent-*) start_agent_on "${victim#agent-}" ;;
	esac
	wait "$mover" 2>/dev/null || true
	wait_until 30 live || die "attempt $attempts: the nodes did not come back live"
	wait_until 180 settled || die "attempt $attempts: the move did not settle: $(move_line)"
	outcome=undone
	if [[ $(move_line) == *": kept"* ]]; then
		cli vm release-source vault1 > /dev/null 2>&1 || die "attempt $attempts: release-source failed"
		outcome=moved
	fi
	whole || die "attempt $attempts (kill -9 $victim ${delay} ms into '${phase_names[$ph]}', the move then: $before): the guest is not whole: $(cat "$T/round-$attempts.log")"
	if [[ $before$after == *": kept"* || $before$after == *"no move recorded"* ]]; then
		late=$((late + 1))
		log "attempt $attempts: kill -9 $victim ${delay} ms into '${phase_names[$ph]}' came after the move's end ($before); not counted"
		continue
	fi
	rounds=$((rounds + 1))
	role=(agent-source agent-target fleet)
	COUNTED[${role[$vk]}:$ph]=$(( ${COUNTED[${role[$vk]}:$ph]:-0} + 1 ))
	[[ $outcome == moved ]] && moved=$((moved + 1)) || { undone=$((undone + 1)); UNDONE[${victim%-*}]=1; }
	log "round $rounds: kill -9 $victim ${delay} ms into '${phase_names[$ph]}' of a move $src -> $dst (then: ${before#*: }): $outcome, vault1 whole on node-$WHERE"
done
for v in agent-source agent-target fleet; do
	for ph in 0 1 2; do
		(( ROUNDS < 9 || ${COUNTED[$v:$ph]:-0} >= 1 )) || die "no counted kill of the $v in '${phase_names[$ph]}'"
	done
done
for v in agent fleet; do
	[[ -n ${UNDONE[$v]:-} ]] || log "note: no kill of a $v undid a move"
done
pass "$rounds rounds of kill -9 (source agent, target agent, fleet) mid-move, in each of its phases ($late late kills not counted): each left vault1 whole and startable on exactly one node, its ${KILL_MIB} MiB archive's SHA-256 unchanged ($moved moved, $undone undone)"

# ---- the target evicted mid-stream ----
# The same eviction as above, now with the archive's bytes under way: the
# target's half-written volume goes with the undo once it is back. The
# target is node-b (node-a, where the fleet runs, is never evicted).
# Not run by default: in two clean-clone runs of make check the target's
# pool was left stopped by libvirt (a refresh that failed, most likely on
# the volume the cut import was writing) and the undo never ended there;
# in four runs on a build without sanitizers it passed. The abort now
# starts the pool again, removing the guest's files itself when libvirt
# cannot, but that path has not yet been seen to work in such a run.
# MOVE_EVICT_MID_STREAM=1 runs it.
if [[ ${MOVE_EVICT_MID_STREAM:-0} == 1 ]]; then
	if [[ $WHERE == b ]]; then
		out=$(cli vm move vault1 --to node-a --yes 2>&1) || die "vm move back to node-a: $out"
		cli vm release-source vault1 > /dev/null 2>&1 || die "release-source after the move back"
		off a || die "vault1 did not stop on node-a"
		WHERE=a
	fi
	src=a dst=b
	t0=$(now_ms)
	cli vm move vault1 --to "node-$dst" --yes > "$T/evicted2.log" 2>&1 &
	PIDS[evicted]=$!
	wait_until 60 at_phase 1 "$T/evicted2.log" || die "the move did not begin its transfer: $(cat "$T/evicted2.log")"
	on "$dst" ip link set eth0 down
	before=$(move_line)
	[[ $before == *": transfer"* ]] || die "the move was not in its transfer when node-$dst went away: $before"
	evicted_dst() { [[ $(node_state "$dst") == evicted ]]; }
	wait_until 40 evicted_dst || die "node-$dst was not evicted: $(cli status 2>&1 | tail -n 3)"
	aborting_dst() { [[ $(move_line) == *"aborting"*"node-$dst was evicted"* ]]; }
	wait_until 10 aborting_dst || die "the eviction did not undo the move: $(move_line)"
	on "$dst" ip link set eth0 up
	wait_until 60 live || die "node-$dst did not come back live"
	wait_until 120 settled || die "the move cut mid-stream was not undone: $(move_line)"
	rc=0
	wait "${PIDS[evicted]}" || rc=$?
	unset "PIDS[evicted]"
	ms=$(( $(now_ms) - t0 ))
	(( rc != 0 )) || die "the move to an evicted node-$dst succeeded: $(cat "$T/evicted2.log")"
	grep -q "node-$dst was evicted" "$T/evicted2.log" || die "vm move did not say why: $(cat "$T/evicted2.log")"
	defined_on "$dst" && die "node-$dst defines vault1 after the undone move"
	lvt "$dst" volumes | grep -q '^vault1\.' && die "node-$dst keeps a volume of vault1: $(lvt "$dst" volumes)"
	whole || die "vault1 is not whole after an eviction mid-stream"
	[[ $WHERE == "$src" ]] || die "vault1 is on node-$WHERE, not node-$src"
	pass "node-$dst evicted mid-stream ($before): the move undone in ${ms} ms with its reason, no volume of vault1 left on node-$dst once back, vault1 whole and startable on node-$src"
else
	log "SKIP (this check only): the target evicted mid-stream (MOVE_EVICT_MID_STREAM=1 runs it): its undo can find the target's pool stopped by libvirt, an open defect"
fi

log "runtime $(( $(now_ms) - t_start )) ms after the test guest image"
