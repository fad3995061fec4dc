#!/bin/bash
# Volume names no guest name can spell, against a private libvirtd: guest
# "vault1-data-archive" is spelled like vault1's archive under the old
# names (G-data-D.qcow2 beside G.qcow2). Creating it, failing to create it,
# and destroying it must leave that archive byte for byte; and Totebox
# "web" made while "web-data-archive" runs gets a fresh archive, not that
# guest's root overlay. No guest is started: qemu's guest-agent socket path
# under this private libvirtd ($T/lv/config/...) outgrows sun_path with
# names this long, and nothing here needs a running guest. Skipped (77)
# where virt-tcg.sh is.
source "$(dirname "$0")/lib.sh"

source "$(dirname "$0")/lib-libvirt.sh"

wait_until 20 vt domains || die "libvirtd did not answer on $URI"
vt image-import "$TESTGUEST_IMG" testguest > /dev/null || die "image import"

create() { # create TYPE NAME [extra args]
	local type=$1 name=$2; shift 2
	vt create --type "$type" --name "$name" --images "$SRC/images" --base testguest \
		--memory 192M --vcpus 1 --net none "$@"
}
has_vol() { vt volumes | grep -qxF "$1"; }

# Not started: nothing inside the guest writes to the archive meanwhile.
create totebox vault1 --no-start > /dev/null 2>> "$T/virt-tool.log" || die "create vault1"
arch=vault1.data.archive.qcow2
has_vol $arch || die "vault1's archive is not $arch: $(vt volumes | tr '\n' ' ')"
sum=$(sha256sum < "$LV/pool/$arch")
intact() { has_vol $arch && [[ $(sha256sum < "$LV/pool/$arch") == "$sum" ]]; }

out=$(create mediakit vault1-data-archive --no-start 2>> "$T/virt-tool.log") || die "create vault1-data-archive: $(tail -n 2 "$T/virt-tool.log")"
out=$(vt destroy vault1-data-archive 2>> "$T/virt-tool.log") || die "destroy vault1-data-archive"
intact || die "vault1's archive changed or vanished when vault1-data-archive was destroyed"
vt show vault1 | grep -q "data=archive" || die "vault1: $(vt show vault1 2>&1)"
pass "guest vault1-data-archive created and destroyed; vault1's archive intact"

out=$(vt destroy vault1 2>> "$T/virt-tool.log") || die "destroy vault1"
[[ $out == *"kept=1"* ]] || die "destroy vault1: $out"
for at in volumes defining; do
	out=$(create mediakit vault1-data-archive --fail-at $at 2>&1) && die "create with --fail-at $at succeeded"
	out=$(vt destroy vault1-data-archive 2>&1) && die "destroy after a failed create found something: $out"
	[[ $out == *"no guest vault1-data-archive"* ]] || die "destroy after failure says: $out"
	intact || die "vault1's kept archive changed or vanished (failure at $at)"
done
out=$(vt data-delete vault1-data archive "wrong guest" 2>&1) && die "data-delete of vault1-data succeeded"
intact || die "vault1's archive changed or vanished on data-delete of vault1-data"
pass "with vault1 gone, failed creates and destroys of vault1-data-archive left its archive"

create mediakit web-data-archive --no-start > /dev/null 2>> "$T/virt-tool.log" || die "create web-data-archive"
root=web-data-archive.root.qcow2
has_vol $root || die "web-data-archive's root is not $root"
before=$(vt volumes | wc -l)
create totebox web --no-start > /dev/null 2>> "$T/virt-tool.log" || die "create web"
[[ $(vt volumes | wc -l) == $(( before + 3 )) ]] || die "web did not get three volumes of its own: $(vt volumes | tr '\n' ' ')"
has_vol web.data.archive.qcow2 || die "web's archive missing: $(vt volumes | tr '\n' ' ')"
qemu-img info -U "$LV/pool/web.data.archive.qcow2" | grep -q "backing file" && die "web's archive has a backing file"
grep -q "reusing data volume" "$T/index/virt-audit.log" 2>/dev/null && die "a data volume was reused: $(cat "$T/index/virt-audit.log")"
has_vol $root && vt show web-data-archive > /dev/null || die "web-data-archive: $(vt show web-data-archive 2>&1)"
pass "Totebox web got a fresh archive beside web-data-archive"

for g in web web-data-archive; do
	vt destroy $g > /dev/null 2>> "$T/virt-tool.log" || die "destroy $g"
done
vt data-delete web archive "integration test cleanup" 2>> "$T/virt-tool.log" || die "data-delete web"
vt data-delete vault1 archive "integration test cleanup" 2>> "$T/virt-tool.log" || die "data-delete vault1"
[[ -z $(vt domains) && $(vt volumes) == base-testguest.img ]] ||
	die "left after cleanup: $(vt domains | tr '\n' ' ') / $(vt volumes | tr '\n' ' ')"
pass "destroy and data-delete removed exactly what they named"
