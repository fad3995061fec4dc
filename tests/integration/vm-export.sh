#!/bin/bash
# vm export and vm import against a private libvirtd (see lib-libvirt.sh).
#
#   node-a: a one-member ledger (genesis, node-a its admin); virt-tool:
#   image import, Totebox vault1 (not started), its archive LUKS-encrypted
#   under a libvirt secret with its key sealed to node-a, a marker written
#   into it through the key with qemu-img; then the CLI on this "node":
#   export refused while it runs; export refused without --recipient;
#   export --recipient node-a: the archive holds the ciphertext (no marker)
#   and the key sealed to node-a; import refused while vault1 is here;
#   destroy + data-delete; a tampered archive (one byte of the volume, one
#   of the manifest), a truncated one, one from an untrusted signer, and an
#   import by a member that is not a recipient each refused with nothing
#   defined, no volume made and no secret left; the good archive imported:
#   same instance-id and MAC, the archive's volume byte for byte (SHA-256
#   of the pool file), a new secret with the same key (the marker reads
#   back through it), and the guest boots (QEMU opens the volume) and prints
#   its instance-id. Skipped (77) where virt-tcg.sh is.
source "$(dirname "$0")/lib.sh"

source "$(dirname "$0")/lib-libvirt.sh"

CLI=$BUILD/os-infrastructure/os-infrastructure
# The CLI, like the helper, finds image records next to the pool; new data
# volume keys are sealed to node-a's seal key, as the helper does.
vt() { "$TOOL" --uri "$URI" --pool-dir "$LV/pool" --index "$LV/pool.json" \
	--consoles "$LV/consoles" --fetch-url http://127.0.0.1:9/ --seal-key "$T/seal/seal.key" "$@"; }
virt_helper_conf node-a
cli() { "$CLI" --state-dir "$T/state" "$@" --config "$T/virt-node-a.conf" --uri "$URI" --pool-dir "$LV/pool"; }

wait_until 20 vt domains || die "libvirtd did not answer on $URI"
vt image-import "$TESTGUEST_IMG" testguest > /dev/null || die "image import"
mkdir -p "$T/state" "$T/other"
# node-a founds a ledger of its own (admin): the export's recipient. Its
# wireguard-go dies with the namespace unshare made for it.
unshare -n "$CLI" --state-dir "$T/state" --genesis --no-invite --no-start --name node-a \
	> "$T/genesis.log" 2>&1 || die "genesis: $(tail -n 3 "$T/genesis.log")"
wg=$(sed -n 's/.*wireguard-go pid \([0-9]*\).*/\1/p' "$T/genesis.log")
[[ -n $wg ]] && kill "$wg" 2>/dev/null || true
"$CLI" keygen --name node-a --state-dir "$T/other" > /dev/null || die "keygen (other)"
key=$("$CLI" keygen --show --state-dir "$T/state" | awk '{print $3}')
other=$("$CLI" keygen --show --state-dir "$T/other" | awk '{print $3}')
[[ ${#key} == 64 && ${#other} == 64 ]] || die "keygen --show: $key / $other"

out=$(vt create --type totebox --name vault1 --images "$SRC/images" --base testguest \
	--memory 192M --vcpus 1 --net user --no-start 2>> "$T/virt-tool.log") || die "create: $(tail -n 2 "$T/virt-tool.log")"
iid=$(sed -n 's/.*instance-id=\([^ ]*\).*/\1/p' <<<"$out")
arch=$LV/pool/vault1.data.archive.qcow2
[[ -f $arch ]] || die "no archive volume: $(vt volumes | tr '\n' ' ')"
qemu-img info -U "$arch" | grep -q "encrypted: yes" || die "the archive is not encrypted"
SECRETS=$LV/config/libvirt/secrets
# secret_of PATH: the uuid of the secret whose usage is the volume at PATH.
secret_of() { grep -lF "<volume>$1</volume>" "$SECRETS"/*.xml 2>/dev/null | xargs -r -n1 basename | sed 's/\.xml$//'; }
nsecrets() { ls "$SECRETS" 2>/dev/null | grep -c '\.xml$' || true; }
uuid=$(secret_of "$arch")
[[ -n $uuid ]] || die "no secret for $arch"
umask 077
base64 -d < "$SECRETS/$uuid.base64" > "$T/key"
through_key() { echo "driver=qcow2,file.filename=$arch,encrypt.key-secret=k0"; }
MARK="osi-export-marker-$RANDOM$RANDOM"
{ printf '%s' "$MARK"; head -c 65536 /dev/urandom; } > "$T/marker.raw"
truncate -s 1M "$T/marker.raw"
qemu-img convert -n -f raw --object "secret,id=k0,file=$T/key" --target-image-opts \
	"$T/marker.raw" "$(through_key)" || die "writing the marker through the key"
qemu-img convert -f raw -O qcow2 "$T/marker.raw" "$T/control.qcow2"
# marker_back: through the key the archive reads as the control (the marker, then zeros)
marker_back() { qemu-img compare --object "secret,id=k0,file=$T/key" --image-opts "$(through_key)" \
	"driver=qcow2,file.filename=$T/control.qcow2" > "$T/compare.log" 2>&1; }
marker_back || die "the marker does not read back: $(cat "$T/compare.log")"
rc=0; grep -qaF "$MARK" "$arch" || rc=$?
[[ $rc == 1 ]] || die "the marker shows in the encrypted archive's file (grep rc $rc)"
sum=$(sha256sum < "$arch")
pass "Totebox vault1 (instance $iid) with a marker in its encrypted archive, secret $uuid"

vt start vault1 || die "start"
out=$(cli vm export vault1 "$T/running.osx" 2>&1) && die "export of a running guest succeeded"
[[ $out == *"stop it first"* && ! -e $T/running.osx && ! -e $T/running.osx.part ]] || die "running export: $out"
vt stop --force vault1 || die "stop"
wait_until 20 bash -c "$(declare -f vt); TOOL=$TOOL URI='$URI' LV=$LV; vt show vault1 | grep -q \"state=shut off\"" ||
	die "vault1 did not stop: $(vt show vault1)"
pass "export of a running guest refused: ${out#*: }"

out=$(cli vm export vault1 "$T/clear.osx" 2>&1) && die "export of an encrypted volume without a recipient succeeded"
[[ $out == *"is encrypted: name who may open it with --recipient"* && ! -e $T/clear.osx && ! -e $T/clear.osx.part ]] ||
	die "export without a recipient: $out"
pass "export without --recipient refused: ${out#*: }"
out=$(cli vm export vault1 "$T/x.osx" --recipient nobody 2>&1) && die "export to a non-member succeeded"
[[ $out == *"not a live admin member"* && ! -e $T/x.osx ]] || die "export to a non-member: $out"
mkdir "$T/small"
unmount_small() { mountpoint -q "$T/small" && umount "$T/small" || true; }
at_exit unmount_small
if mount -t tmpfs -o size=1m osi-test-small "$T/small"; then
	out=$(cli vm export vault1 "$T/small/vault1.osx" --recipient node-a 2>&1) &&
		die "an export onto a full disk succeeded"
	[[ $out == *"free, the archive of vault1 needs about"*"nothing was written"* ]] ||
		die "export onto a full disk: $out"
	[[ -z $(ls -A "$T/small") ]] || die "the refused export left $(ls -A "$T/small")"
	umount "$T/small"
	pass "an export onto a disk without room refused before a byte was written: ${out#*: }"
else
	log "SKIP (this check only): cannot mount a tmpfs for the full-disk export"
fi

t0=$(now_ms)
out=$(cli vm export vault1 "$T/vault1.osx" --recipient node-a 2>&1) || die "export: $out"
ms=$(( $(now_ms) - t0 ))
log "$out ($ms ms, $(stat -c %s "$T/vault1.osx") bytes; archive volume $(stat -c %s "$arch") bytes)"
tar -tf "$T/vault1.osx" | tr '\n' ' ' | grep -qx "format volumes/data-archive.qcow2 manifest.json manifest.sig " ||
	die "archive entries: $(tar -tf "$T/vault1.osx" | tr '\n' ' ')"
manifest() { tar -xOf "$1" manifest.json; }
field() { manifest "$1" | grep -o "\"$2\":\"[^\"]*\"" | head -n 1; }
[[ $(field "$T/vault1.osx" instance_id) == "\"instance_id\":\"$iid\"" ]] || die "manifest: $(manifest "$T/vault1.osx")"
mac=$(field "$T/vault1.osx" mac)
[[ $mac == *52:54:00:* ]] || die "the manifest has no MAC: $mac"
manifest "$T/vault1.osx" | jq -e '.volumes[0] | .encrypted and (.keys | length) == 1 and
	.keys[0].recipient == "node-a" and (.keys[0].sealed | length) == 108' > /dev/null ||
	die "the manifest's keys: $(manifest "$T/vault1.osx" | jq -c '.volumes')"
tar -xOf "$T/vault1.osx" volumes/data-archive.qcow2 | sha256sum | grep -q "^${sum%% *}" ||
	die "the archive's volume is not the encrypted file as it is"
# The manifest's digest, checked by hand as operator.md shows.
tree=$(tar -xOf "$T/vault1.osx" volumes/data-archive.qcow2 |
	split -b 4194304 --filter='openssl dgst -sha256 -binary' | sha256sum | cut -c1-64)
[[ $(field "$T/vault1.osx" sha256_tree) == "\"sha256_tree\":\"$tree\"" ]] ||
	die "the manifest's sha256_tree is not split+openssl's $tree: $(manifest "$T/vault1.osx" | jq -c '.volumes')"
rc=0; grep -qaF "$MARK" "$T/vault1.osx" || rc=$?
[[ $rc == 1 ]] || die "the marker shows in the archive (grep rc $rc)"
rc=0; grep -qaF "$(cat "$T/key")" "$T/vault1.osx" || rc=$?
[[ $rc == 1 ]] || die "the key in clear is in the archive (grep rc $rc)"
pass "vault1 exported: encrypted data volume as it is (no marker, no key in clear), key sealed to node-a, manifest, signature"

out=$(cli vm import "$T/vault1.osx" --node node-a --trust-key "$key" 2>&1) && die "import over vault1 succeeded"
[[ $out == *"a guest named vault1 is defined"* ]] || die "import over vault1: $out"
[[ $(sha256sum < "$arch") == "$sum" ]] || die "the refused import changed vault1's archive"
vt destroy vault1 > /dev/null 2>> "$T/virt-tool.log" || die "destroy"
out=$(cli vm import "$T/vault1.osx" --node node-a --trust-key "$key" 2>&1) && die "import over a kept archive succeeded"
[[ $out == *"already here"* ]] || die "import over the kept archive: $out"
vt data-delete vault1 archive "export test: import elsewhere" 2>> "$T/virt-tool.log" || die "data-delete"
pass "import refused while vault1 or its kept archive is here"

nothing() { [[ -z $(vt domains) && $(vt volumes) == base-testguest.img && $(nsecrets) == 0 ]] ||
	die "$1 left: $(vt domains | tr '\n' ' ') / $(vt volumes | tr '\n' ' ') / $(nsecrets) secret(s)"; }
[[ $(nsecrets) == 0 ]] || die "data-delete left vault1's secret"
refused() { # refused ARCHIVE EXPECTED [args]
	local f=$1 want=$2; shift 2
	out=$(cli vm import "$f" --node node-a "$@" 2>&1) && die "import of $f succeeded"
	[[ $out == *"nothing was defined"*"$want"* ]] || die "import of $f: $out"
	nothing "$f"
	pass "refused: ${out#*: }"
}
# one byte of the volume's ciphertext, past its qcow2 header
off=$(grep -boa $'QFI\xfb' "$T/vault1.osx" | head -n 1 | cut -d: -f1)
[[ -n $off ]] || die "no qcow2 volume in the archive"
off=$(( off + 1048576 ))
flip() { # flip FILE OFFSET
	local b; b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $(( b ^ 1 )))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
cp "$T/vault1.osx" "$T/tampered.osx"; flip "$T/tampered.osx" $(( off + 5 ))
refused "$T/tampered.osx" "altered" --trust-key "$key"
moff=$(grep -boa '"name":"vault1"' "$T/vault1.osx" | head -n 1 | cut -d: -f1)
cp "$T/vault1.osx" "$T/tampered-manifest.osx"; flip "$T/tampered-manifest.osx" $(( moff + 9 ))
refused "$T/tampered-manifest.osx" "signature does not verify" --trust-key "$key"
head -c $(( $(stat -c %s "$T/vault1.osx") / 2 )) "$T/vault1.osx" > "$T/truncated.osx"
refused "$T/truncated.osx" "truncated" --trust-key "$key"
refused "$T/vault1.osx" "not trusted here" --trust-key "$other"
out=$("$CLI" --state-dir "$T/other" vm import "$T/vault1.osx" --node node-a --config "$T/virt-node-a.conf" \
	--uri "$URI" --pool-dir "$LV/pool" 2>&1) && die "import on a node without a ledger succeeded"
[[ $out == *"nothing was defined"*"no ledger"* ]] || die "import without a ledger: $out"
nothing "no ledger"
# A member whose identity is not among the recipients (same name, other key).
out=$("$CLI" --state-dir "$T/other" vm import "$T/vault1.osx" --node node-a --trust-key "$key" \
	--config "$T/virt-node-a.conf" --uri "$URI" --pool-dir "$LV/pool" 2>&1) && die "import by a non-recipient succeeded"
[[ $out == *"nothing was defined"*"is not a recipient"* ]] || die "import by a non-recipient: $out"
nothing "non-recipient"
pass "refused for a member that is not a recipient: ${out#*: }"

out=$(cli vm import "$T/vault1.osx" --node node-b --trust-key "$key" 2>&1) && die "import on the wrong node succeeded"
nothing "wrong node"
out=$(cli vm import "$T/vault1.osx" --node node-a --trust-key "$key" 2>&1) || die "import: $out"
log "$out"
show=$(vt show vault1) || die "show after import"
[[ $show == *"instance-id=$iid "* && $show == *"state=shut off"* && $show == *"data=archive"* ]] || die "after import: $show"
[[ $(sha256sum < "$arch") == "$sum" ]] || die "the imported archive's hash differs from the exported one's"
newuuid=$(secret_of "$arch")
[[ -n $newuuid && $(base64 -d < "$SECRETS/$newuuid.base64") == "$(cat "$T/key")" ]] ||
	die "the imported volume has no secret with the exported key"
grep -q "private='yes'" "$SECRETS/$newuuid.xml" && grep -q "<description>osi-seal-v1 " "$SECRETS/$newuuid.xml" ||
	die "the imported secret: $(cat "$SECRETS/$newuuid.xml")"
out=$(cli vm export vault1 "$T/again.osx" --recipient node-a 2>&1) || die "export after import: $out"
[[ $(field "$T/again.osx" mac) == "$mac" ]] || die "MAC $mac became $(field "$T/again.osx" mac)"
[[ $(field "$T/again.osx" sha256) == "$(field "$T/vault1.osx" sha256)" ]] || die "the volume's hash changed"
marker_back || die "the marker does not read back from the imported archive: $(cat "$T/compare.log")"
pass "imported: instance $iid, MAC ${mac:-none}, archive SHA-256 equal, marker there"

vt start vault1 || die "start the imported guest"
wait_until 180 grep -qa "osi-testguest instance-id=$iid hostname=vault1" "$LV/consoles/vault1.log" ||
	die "the imported guest did not boot: $(tail -c 400 "$LV/consoles/vault1.log" 2>/dev/null)"
pass "the imported guest boots with its instance-id"

# A volume's file cut short while the export reads it: the export maps it,
# so the read past the new end faults (SIGBUS); the export ends there with
# its message, its .part removed, nothing written. 2 GiB of allocated
# clusters keep it reading for a second or more after the cut.
vt stop --force vault1 2>> "$T/virt-tool.log" || die "stop vault1"
wait_until 20 bash -c "$(declare -f vt); TOOL=$TOOL URI='$URI' LV=$LV; vt show vault1 | grep -q \"state=shut off\"" ||
	die "vault1 did not stop: $(vt show vault1)"
# libvirt's own reason for a volume it cannot open reaches the operator (it
# read "no error": the volume's free cleared it before it was read)
owner=$(stat -c %u:%g "$arch") mode=$(stat -c %a "$arch")
chown 0:0 "$arch"
chmod 600 "$arch"
out=$(cli vm export vault1 "$T/denied.osx" --recipient node-a 2>&1) &&
	die "the export of a volume libvirt cannot open succeeded: $out"
[[ $out == *"cannot open volume"*"Permission denied"* && ! -e $T/denied.osx ]] ||
	die "the export of a volume libvirt cannot open said: $out"
chown "$owner" "$arch"
chmod "$mode" "$arch"
pass "a volume libvirt cannot open: the export refused with libvirt's reason: ${out#*: }"
# (written over in place: the pool's owner and mode stay the file's)
cp "$arch" "$T/archive.kept"
qemu-img create -q -f qcow2 -o preallocation=falloc "$arch" 2G || die "a preallocated volume"
cli vm export vault1 "$T/bus.osx" --recipient node-a > "$T/bus.out" 2>&1 &
PIDS[bus]=$!
part_grown() { (( $(stat -c %s "$T/bus.osx.part" 2>/dev/null || echo 0) >= 64 << 20 )); }
wait_until 30 part_grown || die "the export did not start writing: $(cat "$T/bus.out")"
truncate -s 1M "$arch"
rc=0
wait "${PIDS[bus]}" || rc=$?
unset "PIDS[bus]"
(( rc != 0 )) || die "the export of a volume cut short while read succeeded: $(cat "$T/bus.out")"
grep -q "shrank while it was read (SIGBUS); nothing was written" "$T/bus.out" ||
	die "the export cut short said: $(cat "$T/bus.out")"
[[ ! -e $T/bus.osx && ! -e $T/bus.osx.part ]] || die "the export cut short left $(ls "$T"/bus.osx*)"
cat "$T/archive.kept" > "$arch"
rm -f "$T/archive.kept"
pass "a volume's file cut short while exported: the export ended with status $rc, saying so, nothing written"

# A data volume whose qcow2 header names a host file as its backing store:
# exported and signed like any other, refused at import before a guest could
# read that file through it.
echo "osi-host-secret-$RANDOM" > "$T/host-secret"
size=$(qemu-img info --output=json "$arch" | jq '."virtual-size"')
qemu-img create -q -f qcow2 -F raw -b "$T/host-secret" "$arch" "$size" || die "backing-file volume"
out=$(cli vm export vault1 "$T/backing.osx" --recipient node-a 2>&1) || die "export of the backing-file volume: $out"
vt destroy vault1 > /dev/null 2>> "$T/virt-tool.log" || die "destroy"
vt data-delete vault1 archive "export test: backing file" 2>> "$T/virt-tool.log" || die "data-delete"
out=$(cli vm import "$T/backing.osx" --node node-a --trust-key "$key" 2>&1) && die "import of a backing-file volume succeeded"
[[ $out == *"backing file"* ]] || die "import of a backing-file volume: $out"
vt show vault1 > /dev/null 2>&1 && die "the refused import defined vault1"
[[ ! -e $arch ]] || die "the refused import left $arch"
pass "a volume with a backing file refused at import, nothing left: ${out#*: }"
vt image-list > /dev/null || die "libvirtd after the refusal"
