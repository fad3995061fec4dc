#!/bin/bash
# Four TCG guests, one of each type, from the test guest image, through the
# provisioning library and a private libvirtd.
#
#   virt-tool (root) ──unix socket $T/lv/sock──> libvirtd (session mode, as
#        │                                        "nobody", its own config,
#        │  image-import / create / destroy        XDG dirs under $T/lv)
#        │                                              │
#        └── reads $T/lv/consoles/<guest>.log <── qemu (TCG, 1 vCPU) x 4
#                                                 serial console log
#
# The test guest boots from its own disk and prints
#   osi-testguest instance-id=<id> hostname=<name>
# which must match what create reported. Then: a retried create makes no
# second guest; destroy removes domain, overlay, seed and console log but
# keeps data volumes until data-delete; a failure injected midway (seed
# upload cut in half, or a stop as the guest boots) leaves no volume and no
# definition. Skipped (77) without root, qemu, libvirtd or a Debian mirror.
source "$(dirname "$0")/lib.sh"

source "$(dirname "$0")/lib-libvirt.sh"
img=$TESTGUEST_IMG

wait_until 20 vt domains || die "libvirtd did not answer on $URI"
pass "private libvirtd up ($URI)"

out=$(vt image-import "$img" testguest) || die "image import: $out"
sha=$(sha256sum "$img" | cut -d' ' -f1)
[[ $out == *"format=raw"* && $out == *"sha256=$sha"* ]] || die "import recorded: $out"
vt image-list | grep -c "name=testguest .*sha256=$sha" >/dev/null || die "image list: $(vt image-list)"
vt image-verify testguest || die "verify after import"
out=$(vt image-import "$img" testguest 2>&1) && die "second import of the same name succeeded"
pass "base image streamed into the pool, sha256 recorded and verified"

out=$(vt image-fetch ubuntu-24.04 2>&1) && die "fetch succeeded offline"
[[ $out == *"offline? use image import"* ]] || die "fetch offline message: $out"
pass "image fetch offline: ${out#virt-tool: }"

create() { # create TYPE [extra args]
	local type=$1; shift
	vt create --type "$type" --name "tg-$type" --images "$SRC/images" --base testguest \
		--memory 192M --vcpus 1 "$@"
}

declare -A IID=() CREATED=()
for type in "${TYPES[@]}"; do
	net=none
	[[ $type == mediakit ]] && net=user # one guest exercises user-mode networking
	t1=$(now_ms)
	out=$(create "$type" --net $net 2>> "$T/virt-tool.log") || die "create $type: $(tail -n 3 "$T/virt-tool.log")"
	CREATED[$type]=$(now_ms)
	log "created in $(( ${CREATED[$type]} - t1 )) ms: $out"
	[[ $out == *"type=$type "* && $out == *"state=running"* && $out == *"accel=tcg"* &&
		$out == *"autostart=1"* && $out == *"existed=0"* ]] || die "create $type reported: $out"
	IID[$type]=$(sed -n 's/.*instance-id=\([^ ]*\).*/\1/p' <<<"$out")
done
pass "four guests defined, autostarted and running under TCG"

console_has() { grep -qa "osi-testguest instance-id=$2 hostname=tg-$1" "$LV/consoles/tg-$1.log" 2>/dev/null; }
for type in "${TYPES[@]}"; do
	wait_until 180 console_has "$type" "${IID[$type]}" ||
		die "tg-$type console never showed instance-id=${IID[$type]}: $(tail -c 600 "$LV/consoles/tg-$type.log" 2>/dev/null)"
	log "tg-$type console line at most $(( $(now_ms) - ${CREATED[$type]} )) ms after create returned"
done
pass "each console shows its own instance-id and hostname"

# The same request again is the same guest; another spec under the name is refused.
doms=$(vt domains | wc -l)
vols=$(vt volumes | wc -l)
out=$(create mediakit --net user 2>> "$T/virt-tool.log") || die "retried create failed"
[[ $out == *"existed=1"* && $out == *"instance-id=${IID[mediakit]} "* ]] || die "retry reported: $out"
out=$(create mediakit --net none 2>&1) && die "create with another spec succeeded: $out"
[[ $out == *"different spec"* ]] || die "refusal says: $out"
[[ $(vt domains | wc -l) == "$doms" && $(vt volumes | wc -l) == "$vols" ]] || die "retry made something"
vt show tg-totebox | grep -c "type=totebox owner=virt-tool .*data=archive" >/dev/null || die "show: $(vt show tg-totebox)"
pass "retried create made no second guest; a different spec was refused"

qemu_pid() { cat "$LV/run/libvirt/qemu/run/$1.pid" 2>/dev/null; }
for type in "${TYPES[@]}"; do
	pid=$(qemu_pid "tg-$type")
	out=$(vt destroy "tg-$type" 2>> "$T/virt-tool.log") || die "destroy tg-$type"
	case $type in
	totebox|privategit) [[ $out == *"kept=1"* ]] || die "destroy tg-$type: $out" ;;
	*) [[ $out == *"kept=0"* ]] || die "destroy tg-$type: $out" ;;
	esac
	[[ -z $pid ]] || wait_until 10 test ! -e "/proc/$pid" || die "qemu of tg-$type still running"
	[[ ! -e $LV/consoles/tg-$type.log ]] || die "console log of tg-$type left"
done
[[ -z $(vt domains) ]] || die "domains left: $(vt domains)"
left=$(vt volumes | sort | tr '\n' ' ')
[[ $left == "base-testguest.img tg-privategit.data.repos.qcow2 tg-totebox.data.archive.qcow2 " ]] ||
	die "volumes after destroy: $left"
pass "destroy removed domains, overlays, seeds and console logs; data volumes kept"

out=$(vt data-delete tg-totebox archive "" 2>&1) && die "data-delete without a reason succeeded"
vt data-delete tg-totebox archive "integration test cleanup" 2>> "$T/virt-tool.log" || die "data-delete totebox"
vt data-delete tg-privategit repos "integration test cleanup" 2>> "$T/virt-tool.log" || die "data-delete privategit"
grep -q "tg-totebox.data.archive.qcow2 of guest tg-totebox deleted on request: integration test cleanup" \
	"$T/index/virt-audit.log" || die "audit log: $(cat "$T/index/virt-audit.log")"
[[ $(vt volumes) == base-testguest.img ]] || die "volumes after data-delete: $(vt volumes | tr '\n' ' ')"
pass "data volumes removed only by the explicit, logged step"

for at in seed-upload booting; do
	out=$(create totebox --net none --fail-at $at 2>&1) && die "create with --fail-at $at succeeded"
	log "injected failure at $at: $(grep 'create' <<<"$out" | tail -n 1)"
	[[ -z $(vt domains) ]] || die "definition left after failure at $at: $(vt domains)"
	[[ $(vt volumes) == base-testguest.img ]] ||
		die "volumes left after failure at $at: $(vt volumes | tr '\n' ' ')"
	[[ ! -e $LV/run/libvirt/qemu/run/tg-totebox.pid ]] || die "qemu left after failure at $at"
done
pass "a failure midway (seed upload, boot) left no volume and no definition"

# One guest alone, for a boot time not shared with three others.
t1=$(now_ms)
out=$(create orchestration --net none 2>> "$T/virt-tool.log") || die "create alone"
t2=$(now_ms)
iid=$(sed -n 's/.*instance-id=\([^ ]*\).*/\1/p' <<<"$out")
wait_until 120 console_has orchestration "$iid" || die "guest alone never printed its line"
t3=$(now_ms)
vt destroy tg-orchestration > /dev/null 2>> "$T/virt-tool.log" || die "destroy alone"
[[ -z $(vt domains) && $(vt volumes) == base-testguest.img ]] || die "guest alone left something"
pass "one guest alone: create $(( t2 - t1 )) ms, create returned to console line $(( t3 - t2 )) ms"

log "timings: test guest ${build_ms} ms (cached when small); total $(( $(now_ms) - t0 )) ms"
