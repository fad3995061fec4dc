#!/bin/bash
# Guests through the whole path: plan, confirmation, dispatch, libvirt.
#
#   os-infrastructure vm create --yes ──unix──> service-vm-fleet ──plan/confirm──┐
#                                                   │  signed dispatch (tcp 7103) │
#                                                   v                             │
#   service-vm-host n1 ──one fixed request (seqpacket)──> service-vm-host-virt ──> private libvirtd ──> qemu (TCG)
#        │                 (systemd-socket-activate --accept, as its socket unit;
#        │                  its own host.conf names the libvirtd, pool and base)
#        └──── progress frames (defining, booting, running) ──> fleet ──> vm list
#
# One guest of each type boots from the test guest image and prints its own
# instance-id and hostname on its serial console. Also: a Totebox without a
# node is refused; migrate is refused; an unconfirmed plan expires and creates
# nothing; a creation that fails (missing base image) leaves nothing behind
# and is retried under its name; start, stop and destroy wait for the node and
# exit with its answer; a destroyed guest is forgotten and its name used again
# (a Totebox's kept archive attached again); data-delete exits non-zero on
# each refusal; a creation cut off between steps (the fleet gone) is rolled
# back by the helper and retried cleanly.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib-libvirt.sh"

POOL=$LV/pool
vt() { "$TOOL" --uri "$URI" --pool-dir "$POOL" --consoles "$LV/consoles" --fetch-url http://127.0.0.1:9/ "$@"; }
wait_until 20 vt domains || die "libvirtd did not answer on $URI"
img() { "$OSI_BIN" image --uri "$URI" --pool-dir "$POOL" "$@"; }
sha=$(sha256sum "$TESTGUEST_IMG" | cut -d' ' -f1)
out=$(img import "$TESTGUEST_IMG" --name testguest --sha256 0000000000000000000000000000000000000000000000000000000000000000 2>&1) &&
	die "an import with the wrong checksum succeeded"
img import "$TESTGUEST_IMG" --name testguest --sha256 "$sha" > /dev/null || die "image import"
img list --format json | jq -e --arg s "$sha" '.[] | select(.name == "testguest" and .sha256 == $s)' > /dev/null ||
	die "image list: $(img list)"
pass "os-infrastructure image import: checksum checked and recorded (${out#os-infrastructure: })"

setup_members n1
start_fleet --set plan_ttl=3s
start_building_agent n1
wait_until 10 node_state_is n1 live || die "n1 live"

guest_field() { osi vm show "$1" --format json | jq -r ".guest.$2"; }
guest_state_is() { [[ $(guest_field "$1" state) == "$2" ]]; }
console_has() { grep -qa "osi-testguest instance-id=.* hostname=$1" "$LV/consoles/$1.log" 2>/dev/null; }

for type in "${TYPES[@]}"; do
	node=()
	[[ $type == totebox ]] && node=(--node n1)
	t1=$(now_ms)
	out=$(osi vm create --type "$type" --name "fp-$type" "${node[@]}" --memory 192M --vcpus 1 --yes 2>&1) ||
		die "vm create $type: $out"
	t2=$(now_ms)
	grep -q "fp-$type: running" <<<"$out" || die "create $type did not reach running: $out"
	[[ $(guest_field "fp-$type" accel) == tcg ]] || die "fp-$type accel: $(guest_field "fp-$type" accel)"
	wait_until 180 console_has "fp-$type" || die "fp-$type console: $(tail -c 400 "$LV/consoles/fp-$type.log" 2>/dev/null)"
	log "fp-$type: confirmation to running $(( t2 - t1 )) ms, to its console line $(( $(now_ms) - t1 )) ms"
done
[[ $(osi vm list --format json | jq '[.guests[] | select(.state == "running")] | length') == 4 ]] ||
	die "vm list: $(osi vm list)"
# ADDRESS: the guest's IPv4 address once its node reports one, else "-"
# (guest_network is none here: no lease, no ARP entry, so "-").
addr_cell() { osi vm list | awk -F'|' -v g="$1" '
	/ NAME / { for (i = 2; i < NF; i++) { t = $i; gsub(/ /, "", t); if (t == "ADDRESS") c = i } }
	c { n = $2; gsub(/ /, "", n); if (n == g) { a = $c; gsub(/ /, "", a); print a } }'; }
a=$(addr_cell fp-mediakit)
[[ $a == - || $a =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "vm list ADDRESS of fp-mediakit: '$a' ($(osi vm list))"
osi vm show fp-mediakit | grep -q ADDRESS || die "vm show has no ADDRESS: $(osi vm show fp-mediakit)"
pass "vm list and vm show have the guest's address: '$a'"
pass "four guests created through plan, confirm, dispatch and libvirt; each console shows its hostname"
[[ $(event_count confirmed n1) == 4 ]] || die "four confirmed events expected"
osi events --limit 100 | grep -c 'confirmed by unix:uid=0 (cli-yes)' >/dev/null || die "confirmation not logged as --yes"

out=$(osi vm create --type totebox --name vault2 --yes 2>&1) && die "a Totebox without a node was created"
grep -q 'node you name' <<<"$out" || die "Totebox refusal: $out"
out=$(osi vm migrate fp-mediakit 2>&1) && die "migrate succeeded"
grep -q 'excluded by design' <<<"$out" || die "migrate refusal: $out"
pass "Totebox without a node and migrate refused: ${out#os-infrastructure: }"

token=$(osi vm plan --type mediakit --name never --memory 192M --vcpus 1 | sed -n 's/^Token: //p')
[[ -n $token ]] || die "no plan token"
sleep 3.5   # plan_ttl is 3 s in this test
out=$(osi vm confirm "$token" --no-wait 2>&1) && die "an expired plan was confirmed: $out"
[[ $(osi vm list --format json | jq '[.guests[] | select(.name == "never")] | length') == 0 ]] ||
	die "the expired plan created a guest"
vt domains | grep -c never >/dev/null && die "the expired plan defined a domain"
pass "an unconfirmed plan expired and created nothing: ${out#os-infrastructure: }"

doms=$(vt domains | sort | tr '\n' ' ') vols=$(vt volumes | sort | tr '\n' ' ')
stop n1
virt_helper_conf n1 base_image=no-such-image
start_building_agent n1
wait_until 10 node_state_is n1 live || die "n1 back"
out=$(osi vm create --type mediakit --name broken --memory 192M --vcpus 1 --yes 2>&1) && die "create succeeded without its base"
[[ $(guest_field broken state) == failed ]] || die "broken: $(guest_field broken state)"
grep -q 'no base image no-such-image' <<<"$(guest_field broken detail)" || die "reason: $(guest_field broken detail)"
[[ $(vt domains | sort | tr '\n' ' ') == "$doms" && $(vt volumes | sort | tr '\n' ' ') == "$vols" ]] ||
	die "a failed creation left something: $(vt domains) / $(vt volumes)"
pass "a failed creation says why and leaves nothing: $(guest_field broken detail)"

# Each refusal of data-delete exits non-zero (it printed its reason and exited 0).
dd() { osi vm data-delete "$@" --uri "$URI" --pool-dir "$POOL"; }
out=$(dd fp-totebox archive --reason test 2>&1) && die "data-delete of a defined Totebox exited 0: $out"
grep -q 'still exists' <<<"$out" || die "data-delete refusal: $out"
out=$(dd nosuch archive --reason test 2>&1) && die "data-delete of a missing volume exited 0: $out"
pass "data-delete refuses with a non-zero exit: ${out#os-infrastructure: }"

# start, stop and destroy wait for the node's answer and exit with it.
out=$(osi vm stop fp-orchestration 2>&1) || die "stop: $out"
[[ $(guest_field fp-orchestration state) == stopped ]] ||
	die "stop returned before the node's answer: $(guest_field fp-orchestration state) ($out)"
out=$(osi vm start fp-orchestration 2>&1) || die "start: $out"
[[ $(guest_field fp-orchestration state) == running ]] ||
	die "start returned before the node's answer: $(guest_field fp-orchestration state) ($out)"
out=$(osi vm stop fp-orchestration --no-wait 2>&1) || die "stop --no-wait: $out"
grep -q 'sent to its node' <<<"$out" || die "stop --no-wait: $out"
wait_until 30 guest_state_is fp-orchestration stopped || die "fp-orchestration: $(guest_field fp-orchestration state)"
pass "start and stop follow the node's answer (--no-wait does not)"

out=$(osi vm destroy fp-mediakit 2>&1) || die "destroy: $out"
grep -q 'fp-mediakit: destroyed' <<<"$out" || die "destroy: $out"
vt domains | grep -c fp-mediakit >/dev/null && die "destroy returned with fp-mediakit still defined"
out=$(osi vm show fp-mediakit 2>&1) && die "a destroyed guest is still listed: $out"
grep -q 'no guest named' <<<"$out" || die "vm show after destroy: $out"
osi events --limit 1000 --format json | jq -e '.events[] | select(.kind == "guest-destroyed" and (.detail | test("fp-mediakit")))' \
	> /dev/null || die "the destroy is not in the event history"
pass "destroy waits for the node, removes the domain, and the fleet forgets the guest (history keeps it)"

# The failed creation, retried under its name once the node has its base.
dispatch_up() { (exec 3<>"/dev/tcp/$ADDR/7103") 2>/dev/null; }
stop n1
virt_helper_conf n1
start_building_agent n1
wait_until 10 dispatch_up || die "n1's dispatch port"
wait_until 10 node_state_is n1 live || die "n1 back"
out=$(osi vm create --type mediakit --name broken --memory 192M --vcpus 1 --yes 2>&1) ||
	die "the retry of a failed creation: $out"
grep -q 'broken: running' <<<"$out" || die "the retry did not reach running: $out"
[[ $(osi vm list --format json | jq '[.guests[] | select(.name == "broken")] | length') == 1 ]] ||
	die "vm list: $(osi vm list)"
pass "a failed creation is retried under its name"

# A creation cut off between steps: the fleet dies while the helper is in a
# libvirt call (libvirtd paused just after the first volume file appears), so
# the agent closes the helper's socket; the helper finishes that call, rolls
# back, and the retry under the same name after the fleet's restart succeeds.
doms=$(vt domains | sort | tr '\n' ' ') vols=$(vt volumes | sort | tr '\n' ' ')
before=$(ls "$POOL")
osi vm create --type mediakit --name cut --memory 192M --vcpus 1 --yes > "$T/cut.out" 2>&1 &
cli=$!
for (( i = 0; i < 3000; i++ )); do
	[[ $(ls "$POOL") != "$before" ]] && break
	sleep 0.01
done
kill -STOP "${PIDS[libvirtd]}"
[[ $(ls "$POOL") != "$before" ]] || { kill -CONT "${PIDS[libvirtd]}"; die "no volume of cut appeared"; }
stop fleet KILL
wait "$cli" 2>/dev/null || true
wait_until 10 grep -q 'the fleet left during create cut' "$T/host-n1.log" ||
	{ kill -CONT "${PIDS[libvirtd]}"; die "the agent did not close the helper's socket"; }
kill -CONT "${PIDS[libvirtd]}"
wait_until 60 grep -q 'create cut: the caller hung up.*rolling back' "$T/virt-n1.log" ||
	die "the helper did not roll back: $(tail -n 5 "$T/virt-n1.log")"
same_as_before() { [[ $(vt domains | sort | tr '\n' ' ') == "$doms" && $(vt volumes | sort | tr '\n' ' ') == "$vols" ]]; }
wait_until 30 same_as_before || die "an interrupted creation left something: $(vt domains) / $(vt volumes)"
pass "a creation cut off between steps was rolled back: $(grep -o 'create cut: .*' "$T/virt-n1.log" | head -1)"
start_fleet --set plan_ttl=3s
wait_until 10 node_state_is n1 live || die "n1 live after the fleet's restart"
out=$(osi vm create --type mediakit --name cut --memory 192M --vcpus 1 --yes 2>&1) ||
	die "the retry of the interrupted creation: $out"
grep -q 'cut: running' <<<"$out" || die "the retry did not reach running: $out"
pass "the interrupted creation is retried under its name and runs"

vt destroy broken > /dev/null || die "vt destroy broken"
out=$(osi vm stop broken 2>&1) && die "a stop the node cannot do exited 0: $out"
grep -q 'stop failed on its node' <<<"$out" || die "failed stop: $out"
[[ $(guest_field broken state) == running && $(guest_field broken op.state) == failed ]] ||
	die "a failed stop: state $(guest_field broken state), op $(guest_field broken op.state)"
out=$(osi vm destroy broken 2>&1) || die "destroy of a guest already gone from libvirt: $out"
pass "an action the node cannot do exits non-zero and keeps the guest's state"

# The same name again after destroy: a new guest; a Totebox's kept archive is attached again.
out=$(osi vm create --type mediakit --name fp-mediakit --memory 192M --vcpus 1 --yes 2>&1) ||
	die "re-create after destroy: $out"
grep -q 'fp-mediakit: running' <<<"$out" || die "re-create after destroy: $out"
archive=$(vt volumes | grep -o 'fp-totebox\.data\.archive[^ ]*' | head -1)
[[ -n $archive ]] || die "no archive volume: $(vt volumes)"
inode=$(stat -c %i "$POOL/$archive")
out=$(osi vm destroy fp-totebox 2>&1) || die "destroy fp-totebox: $out"
grep -q 'data volume kept' <<<"$out" || die "destroy fp-totebox: $out"
[[ $(stat -c %i "$POOL/$archive") == "$inode" ]] || die "the archive was not kept"
out=$(osi vm create --type totebox --name fp-totebox --node n1 --memory 192M --vcpus 1 --yes 2>&1) ||
	die "a new Totebox of the same name: $out"
[[ $(stat -c %i "$POOL/$archive" 2>/dev/null) == "$inode" ]] || die "the kept archive was not attached again"
pass "a destroyed guest's name is used again; the new Totebox attaches the kept archive $archive"

# Once the guest is gone, data-delete deletes the archive and exits 0. No
# --uri nor --pool-dir: the node's host.conf (the helper's) names them.
out=$(osi vm destroy fp-totebox 2>&1) || die "destroy fp-totebox: $out"
out=$(osi vm data-delete fp-totebox archive --reason "test over" --config "$T/virt-n1.conf" 2>&1) ||
	die "data-delete with host.conf's virt_uri and pool_dir: $out"
[[ -e $POOL/$archive ]] && die "data-delete left $archive"
pass "data-delete after destroy, libvirt and pool from host.conf: $out"


# A fleet whose fleet.db is gone (a takeover without a standby copy) learns
# the guests from the node's libvirt metadata: adopted, never created again.
iid=$(grep -ao 'osi-testguest instance-id=[^ ]* hostname=fp-mediakit' "$LV/consoles/fp-mediakit.log" |
	tail -1 | sed 's/.*instance-id=\([^ ]*\) .*/\1/')
[[ -n $iid ]] || die "no instance-id on fp-mediakit's console"
stop n1 # again, with its guests probe asking this libvirtd
start_building_agent n1 --set guests_uri="$URI"
stop fleet
mkdir -p "$T/fleet-db-aside" && mv "$T/fleet/fleet.db"* "$T/fleet-db-aside/"
log_lines=$(wc -l < "$T/fleet.log")
start_fleet --set plan_ttl=3s
wait_until 10 node_state_is n1 live || die "n1 live after the fleet lost fleet.db"
adopted() { [[ $(guest_field fp-mediakit node 2>/dev/null) == n1 ]]; }
wait_until 40 adopted || die "fp-mediakit not adopted: $(osi vm list 2>&1)"
[[ $(guest_field fp-mediakit type) == mediakit && $(guest_field fp-mediakit state) == running ]] ||
	die "adopted fp-mediakit: $(osi vm show fp-mediakit --format json)"
detail=$(guest_field fp-mediakit detail)
grep -q "owner [^ ,]*, instance-id $iid" <<<"$detail" || die "adopted fp-mediakit's detail: $detail (instance-id $iid)"
osi events --limit 1000 --format json |
	jq -e '[.events[] | select(.kind == "adopted" and .node == "n1")] | length > 0' > /dev/null ||
	die "no adopted event: $(osi events --format json)"
tail -n +"$((log_lines + 1))" "$T/fleet.log" | grep -q 'dispatching create' &&
	die "an adoption dispatched a create: $(tail -n +"$((log_lines + 1))" "$T/fleet.log" | grep dispatching)"
pass "a fleet without its fleet.db adopts the node's guests: fp-mediakit $detail, no create dispatched"
