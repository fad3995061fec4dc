#!/bin/bash
# Encrypted data volumes against a private libvirtd: a Totebox's archive is
# LUKS-encrypted qcow2 under a private libvirt secret of its own, QEMU opens
# it (the guest starts), a marker written through the key is not in the
# host's file but reads back through the key; destroy keeps volume and
# secret, a new guest of that name opens the kept archive, a plain data
# volume made before still works plain, and data-delete removes volume and
# secret. Skipped (77) where virt-tcg.sh is.
source "$(dirname "$0")/lib.sh"

source "$(dirname "$0")/lib-libvirt.sh"
command -v qemu-io >/dev/null || skip "qemu-io not installed"

wait_until 20 vt domains || die "libvirtd did not answer on $URI"
vt image-import "$TESTGUEST_IMG" testguest > /dev/null || die "image import"
SECRETS=$LV/config/libvirt/secrets

create() { # create NAME [extra args]
	local name=$1; shift
	vt create --type totebox --name "$name" --images "$SRC/images" --base testguest \
		--memory 192M --vcpus 1 --net none "$@"
}
# secret_of PATH: the uuid of the secret whose usage is the volume at PATH.
secret_of() { grep -lF "<volume>$1</volume>" "$SECRETS"/*.xml 2>/dev/null | xargs -r -n1 basename | sed 's/\.xml$//'; }

vol=lk.data.archive.qcow2
path=$LV/pool/$vol
out=$(create lk 2>> "$T/virt-tool.log") || die "create lk: $(tail -n 3 "$T/virt-tool.log")"
[[ $(vt domains) == *lk* ]] || die "lk not defined"
qemu-img info -U "$path" | grep -q "encrypted: yes" || die "archive not encrypted: $(qemu-img info -U "$path")"
qemu-img info -U "$path" | grep -q "format: luks" || die "archive not LUKS: $(qemu-img info -U "$path")"
uuid=$(secret_of "$path")
[[ $uuid =~ ^[0-9a-f-]{36}$ ]] || die "no secret for $path: $(ls "$SECRETS" 2>&1)"
grep -q "private='yes'" "$SECRETS/$uuid.xml" && grep -q "ephemeral='no'" "$SECRETS/$uuid.xml" ||
	die "secret not private and persistent: $(cat "$SECRETS/$uuid.xml")"
key=$(base64 -d < "$SECRETS/$uuid.base64")
[[ $key =~ ^[0-9a-f]{64}$ ]] || die "the key is not 32 bytes in hex"
pass "lk's archive is LUKS qcow2 under private secret $uuid, and the guest started with it"

out=$(vt destroy lk 2>> "$T/virt-tool.log") || die "destroy lk"
[[ $out == *"kept=1"* ]] || die "destroy lk: $out"
[[ -f $path && $(secret_of "$path") == "$uuid" ]] || die "destroy lost the archive or its secret"
pass "destroy kept the archive and its secret"

marker="osi-luks-marker-$RANDOM$RANDOM-"
m=$marker
while (( ${#m} < 65536 )); do m=$m$m; done
printf '%s' "${m:0:65536}" > "$T/marker"
umask 077
printf '%s' "$key" > "$T/key"
qio() { qemu-io --object "secret,id=k0,file=$T/key" \
	--image-opts "driver=qcow2,file.filename=$path,encrypt.key-secret=k0" "$@"; }
qio -c "write -s $T/marker 1M 64k" > "$T/qemu-io.log" 2>&1 || die "write through the key: $(cat "$T/qemu-io.log")"
grep -qaF "$marker" "$path" && die "the marker shows in the host's file"
qemu-img convert -O raw --object "secret,id=k0,file=$T/key" \
	--image-opts "driver=qcow2,file.filename=$path,encrypt.key-secret=k0" "$T/plain.raw" ||
	die "read back through the key"
grep -qaF "$marker" "$T/plain.raw" || die "the marker did not read back through the key"
rm -f "$T/plain.raw"
# The same bytes in a plain qcow2 do show: the grep above can see them.
qemu-img create -q -f qcow2 "$T/ctl.qcow2" 16M
qemu-io -f qcow2 -c "write -s $T/marker 1M 64k" "$T/ctl.qcow2" > /dev/null || die "control write"
grep -qaF "$marker" "$T/ctl.qcow2" || die "control: a plain qcow2 does not show the marker"
pass "a marker written through the key is absent from the host's file and reads back through the key"

out=$(create lk 2>> "$T/virt-tool.log") || die "re-create lk: $(tail -n 3 "$T/virt-tool.log")"
grep -q "reusing data volume $vol" "$T/index/virt-audit.log" || die "the kept archive was not reused"
[[ $(secret_of "$path") == "$uuid" ]] || die "the kept archive's secret changed"
vt destroy lk > /dev/null 2>> "$T/virt-tool.log" || die "destroy lk again"
qemu-img convert -O raw --object "secret,id=k0,file=$T/key" \
	--image-opts "driver=qcow2,file.filename=$path,encrypt.key-secret=k0" "$T/plain.raw" &&
	grep -qaF "$marker" "$T/plain.raw" || die "the marker is gone after the guest ran again"
rm -f "$T/plain.raw"
pass "a new guest lk started on the kept, encrypted archive; the marker is intact"

# A plain archive made before encryption: reused plain, and the guest starts.
qemu-img create -q -f qcow2 "$LV/pool/old.data.archive.qcow2" 64M
chown nobody:nogroup "$LV/pool/old.data.archive.qcow2"
out=$(create old 2>> "$T/virt-tool.log") || die "create old on a plain archive: $(tail -n 3 "$T/virt-tool.log")"
qemu-img info -U "$LV/pool/old.data.archive.qcow2" | grep -q "encrypted: yes" && die "the plain archive was re-encrypted"
[[ -z $(secret_of "$LV/pool/old.data.archive.qcow2") ]] || die "a plain archive got a secret"
vt destroy old > /dev/null 2>> "$T/virt-tool.log" || die "destroy old"
pass "a plain archive from before still attaches plain and its guest starts"

vt data-delete lk archive "integration test cleanup" 2>> "$T/virt-tool.log" || die "data-delete lk"
[[ ! -e $path && ! -e $SECRETS/$uuid.xml && ! -e $SECRETS/$uuid.base64 ]] ||
	die "data-delete left the archive or its secret: $(ls "$SECRETS" "$LV/pool")"
vt data-delete old archive "integration test cleanup" 2>> "$T/virt-tool.log" || die "data-delete old"
[[ -z $(vt domains) && $(vt volumes) == base-testguest.img ]] ||
	die "left after cleanup: $(vt domains | tr '\n' ' ') / $(vt volumes | tr '\n' ' ')"
pass "data-delete removed the archive and its secret"
