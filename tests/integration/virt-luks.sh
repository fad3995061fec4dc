#!/bin/bash
# Encrypted data volumes against a private libvirtd: a Totebox's archive is
# LUKS-encrypted qcow2 under a private libvirt secret of its own (its key
# also sealed to root's seal key, not the node identity, in the secret's
# description, never in clear there), QEMU opens it (the guest starts), a marker written through
# the key with qemu-io (the test guest has no block driver for its data
# disk) is not in the host's file but reads back through the key; destroy
# keeps volume and secret, a new guest of that name opens the kept archive,
# is stopped and started again, and the marker is still there; a plain data
# volume made before still works plain, and data-delete removes volume and
# secret. Skipped (77) where virt-tcg.sh is.
#
# The read-back compares the image through the key with a plain control
# image (qemu-img compare): the archive is 200 GiB virtual, and a raw copy
# grepped whole made grep hold one NUL "line" of it in memory until the
# kernel killed it (how this test first failed).
source "$(dirname "$0")/lib.sh"

source "$(dirname "$0")/lib-libvirt.sh"
command -v qemu-io >/dev/null || skip "qemu-io not installed"

wait_until 20 vt domains || die "libvirtd did not answer on $URI"
vt image-import "$TESTGUEST_IMG" testguest > /dev/null || die "image import"
SECRETS=$LV/config/libvirt/secrets
mkdir -p "$T/state"
"$BUILD/os-infrastructure/os-infrastructure" keygen --name node-a --state-dir "$T/state" > /dev/null || die "keygen"
vt() { "$TOOL" --uri "$URI" --pool-dir "$LV/pool" --index "$T/index/images.json" \
	--consoles "$LV/consoles" --fetch-url http://127.0.0.1:9/ --seal-key "$T/seal/seal.key" "$@"; }
# absent NEEDLE FILE: the bytes are not in the file (grep failing is no answer).
absent() { local rc=0; grep -qaF "$1" "$2" || rc=$?; [[ $rc == 1 ]] || die "grep $2: rc $rc"; }

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
grep -q "<description>osi-seal-v1 [A-Za-z0-9+/=]\{108\} data volume $path</description>" "$SECRETS/$uuid.xml" ||
	die "no sealed copy of the key in the secret's description: $(cat "$SECRETS/$uuid.xml")"
absent "$key" "$SECRETS/$uuid.xml"
[[ $(stat -c %a:%u "$T/seal/seal.key") == 600:$(id -u) && $(stat -c %a "$T/seal") == 700 ]] ||
	die "the seal key is not made 0600 in a 0700 directory: $(ls -la "$T/seal")"
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
absent "$marker" "$path"
# The same bytes in a plain qcow2 do show: the grep above can see them.
qemu-img create -q -f qcow2 "$T/ctl.qcow2" 16M
qemu-io -f qcow2 -c "write -s $T/marker 1M 64k" "$T/ctl.qcow2" > /dev/null || die "control write"
grep -qaF "$marker" "$T/ctl.qcow2" || die "control: a plain qcow2 does not show the marker"
# readback: through the key, the archive reads as the control does (the
# rest of its 200 GiB unwritten, so zeros)
readback() { qemu-img compare --object "secret,id=k0,file=$T/key" --image-opts \
	"driver=qcow2,file.filename=$path,encrypt.key-secret=k0" "driver=qcow2,file.filename=$T/ctl.qcow2" \
	> "$T/compare.log" 2>&1 || die "through the key the archive is not the control: $(cat "$T/compare.log")"; }
readback
pass "a marker written through the key is absent from the host's file and reads back through the key"

out=$(create lk 2>> "$T/virt-tool.log") || die "re-create lk: $(tail -n 3 "$T/virt-tool.log")"
grep -q "reusing data volume $vol" "$T/index/virt-audit.log" || die "the kept archive was not reused"
[[ $(secret_of "$path") == "$uuid" ]] || die "the kept archive's secret changed"
[[ $(vt show lk) == *"state=running"* ]] || die "lk is not running on its kept archive: $(vt show lk)"
vt stop --force lk 2>> "$T/virt-tool.log" || die "stop lk"
wait_until 20 bash -c "$(declare -f vt); TOOL=$TOOL URI='$URI' LV=$LV T=$T; vt show lk | grep -q 'state=shut off'" ||
	die "lk did not stop: $(vt show lk)"
vt start lk 2>> "$T/virt-tool.log" || die "lk did not start again on its encrypted archive"
[[ $(vt show lk) == *"state=running"* ]] || die "lk restarted: $(vt show lk)"
vt destroy lk > /dev/null 2>> "$T/virt-tool.log" || die "destroy lk again"
readback
absent "$marker" "$path"
pass "a new guest lk started on the kept, encrypted archive, stopped and started again; the marker is intact"

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

# A secret that outlived its volume (the file removed behind libvirt's back):
# libvirt allows one secret per path, and that key may still open backups
# made under it, so a new guest of that name takes the secret over for its
# new volume instead of failing (as it did) or dropping the key.
out=$(create lk --no-start 2>> "$T/virt-tool.log") || die "create lk anew: $(tail -n 3 "$T/virt-tool.log")"
stale=$(secret_of "$path")
[[ -n $stale ]] || die "no secret for the new archive"
vt destroy lk > /dev/null 2>> "$T/virt-tool.log" || die "destroy lk"
rm -f "$path"
out=$(create lk 2>> "$T/virt-tool.log") || die "create lk over a stale secret: $(tail -n 3 "$T/virt-tool.log")"
[[ $(secret_of "$path") == "$stale" ]] || die "secret $stale was not taken over: $(ls "$SECRETS")"
qemu-img info -U "$path" | grep -q "encrypted: yes" || die "the new archive is not encrypted"
grep -q "takes over secret $stale" "$T/virt-tool.log" || die "the take-over was not logged"
[[ $(vt show lk) == *"state=running"* ]] || die "lk did not start on the new archive: $(vt show lk)"
vt destroy lk > /dev/null 2>> "$T/virt-tool.log" || die "destroy lk"
vt data-delete lk archive "integration test cleanup" 2>> "$T/virt-tool.log" || die "data-delete lk"
[[ -z $(vt domains) && $(vt volumes) == base-testguest.img && -z $(ls "$SECRETS" 2>/dev/null) ]] ||
	die "left: $(vt domains | tr '\n' ' ') / $(vt volumes | tr '\n' ' ') / $(ls "$SECRETS" | tr '\n' ' ')"
pass "a secret left without its volume is taken over by the new volume at its path (the guest starts)"
