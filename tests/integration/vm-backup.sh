#!/bin/bash
# vm backup, vm backups, vm restore against a private libvirtd (see
# lib-libvirt.sh): a restore drill on a TCG test guest with a data volume.
#
#   virt-tool: Totebox vault1, its archive (qcow2 v3) holding BASE at 0;
#   vault1 running: full backup (libvirt's backup API, a checkpoint);
#   vault1 stopped: MARK written at 1 MiB with qemu-io (the test guest has no
#   shell on its console; qemu-io writes through QEMU's block layer, so the
#   checkpoint's bitmap records it); vault1 running: incremental backup on
#   the full; stopped: restore the full (MARK gone, BASE there), restore the
#   chain (MARK back); a byte changed in a backup file, an untrusted signer
#   and a missing full each refused with the volume untouched; a shut-off
#   guest's backup is a full read from the volume; --keep 1 prunes the old
#   chain; --to with a bad node refused; --every writes the timer's drop-ins
#   (with --to, the copy's arguments and the network), and the command
#   line the service would run (read from the unit and its drop-in) backs
#   up with the options given, into --every's --dir;
#   a restore killed midway is put back with --put-back;
#   the restored guest boots. A LUKS data volume (as virt-tool makes them
#   where libvirt keeps secrets) goes through the same drill, its markers
#   written and read through its key, its backups checked to be ciphertext.
#   Skipped (77) where virt-tcg.sh is.
source "$(dirname "$0")/lib.sh"

source "$(dirname "$0")/lib-libvirt.sh"
command -v qemu-io > /dev/null || skip "qemu-io not installed"

CLI=$BUILD/os-infrastructure/os-infrastructure
# New volume keys are sealed to node-a's seal key, as the helper does.
vt() { "$TOOL" --uri "$URI" --pool-dir "$LV/pool" --index "$LV/pool.json" \
	--consoles "$LV/consoles" --fetch-url http://127.0.0.1:9/ --seal-key "$T/seal/seal.key" "$@"; }
virt_helper_conf node-a
BK=$T/backups
cli() { "$CLI" --state-dir "$T/state" "$@" --config "$T/virt-node-a.conf" --uri "$URI" \
	--pool-dir "$LV/pool" --dir "$BK"; }

wait_until 20 vt domains || die "libvirtd did not answer on $URI"
vt image-import "$TESTGUEST_IMG" testguest > /dev/null || die "image import"
mkdir -p "$T/state" "$T/other"
"$CLI" keygen --name node-a --state-dir "$T/state" > /dev/null || die "keygen"
"$CLI" keygen --name node-b --state-dir "$T/other" > /dev/null || die "keygen (other)"
other=$("$CLI" keygen --show --state-dir "$T/other" | awk '{print $3}')

vt create --type totebox --name vault1 --images "$SRC/images" --base testguest \
	--memory 192M --vcpus 1 --net user --no-start > /dev/null 2>> "$T/virt-tool.log" ||
	die "create: $(tail -n 2 "$T/virt-tool.log")"
arch=$LV/pool/vault1.data.archive.qcow2
[[ -f $arch ]] || die "no archive volume: $(vt volumes | tr '\n' ' ')"

# raw_of QCOW2 OUT / wr FILE OFFSET LEN: through the volume's key when it has one.
KEYF=
raw_of() {
	if [[ -n $KEYF ]]; then
		qemu-img convert -O raw --object "secret,id=k0,file=$KEYF" \
			--image-opts "driver=qcow2,file.filename=$1,encrypt.key-secret=k0" "$2"
	else
		qemu-img convert -f qcow2 -O raw "$1" "$2"
	fi
}
wr() {
	if [[ -n $KEYF ]]; then
		qemu-io --object "secret,id=k0,file=$KEYF" \
			--image-opts "driver=qcow2,file.filename=$arch,encrypt.key-secret=k0" -c "write -s $1 $2 $3"
	else
		qemu-io -f qcow2 -c "write -s $1 $2 $3" "$arch"
	fi > /dev/null
}
# at OFFSET in the archive: has TEXT (has OFFSET TEXT) or not (has ! ...)
has() {
	local neg=0; [[ $1 == ! ]] && { neg=1; shift; }
	raw_of "$arch" "$T/now.raw" || die "reading the archive"
	local got; got=$(dd if="$T/now.raw" bs=1 skip="$1" count=${#2} status=none | tr -d '\0')
	rm -f "$T/now.raw"
	[[ $got == "$2" ]] && (( !neg )) || { [[ $got != "$2" ]] && (( neg )); }
}
BASE="osi-backup-base-$RANDOM$RANDOM" MARK="osi-backup-mark-$RANDOM$RANDOM"
{ printf '%s' "$BASE"; head -c 65536 /dev/urandom; } > "$T/base.raw"
printf '%s' "$MARK" > "$T/mark.raw"
truncate -s 64k "$T/mark.raw"
stopped() { vt show vault1 | grep -q "state=shut off"; }
stop() { vt stop --force vault1 2>> "$T/virt-tool.log"; wait_until 30 stopped || die "vault1 did not stop"; }
id_of() { sed -n 's/^Backup \([0-9TZ]*\) of .*/\1/p' <<<"$1"; }

# boot_again: starts the (restored) guest on an emptied console log, waits for its boot line.
boot_again() {
	: > "$LV/consoles/vault1.log"
	vt start vault1 || die "start the restored guest"
	wait_until 180 grep -qa "osi-testguest instance-id=.* hostname=vault1" "$LV/consoles/vault1.log" ||
		die "the restored guest did not boot: $(tail -c 400 "$LV/consoles/vault1.log" 2>/dev/null)"
}

if [[ $(qemu-img info --output=json "$arch" | jq -r '.encrypted // false') == true ]]; then
	# A LUKS data volume (a libvirt secret of its own): the markers are
	# written and read through its key, taken from this libvirtd's secret
	# store as virt-luks.sh does; restore opens it from its sealed copy.
	uuid=$(grep -lF "<volume>$arch</volume>" "$LV"/config/libvirt/secrets/*.xml | xargs -r -n1 basename | sed 's/\.xml$//')
	[[ -n $uuid ]] || die "no secret for $arch"
	(umask 077; base64 -d < "$LV/config/libvirt/secrets/$uuid.base64" > "$T/key")
	KEYF=$T/key
	log "the archive is LUKS-encrypted (secret $uuid)"
else
	# Volumes libvirt made without <compat> are qcow2 v2, which cannot carry a
	# checkpoint's bitmap: upgraded in place, as operator.md tells.
	qemu-img info "$arch" | grep -q 'compat: 0.10' && qemu-img amend -f qcow2 -o compat=1.1 "$arch"
fi
truncate -s 1M "$T/base.raw"
wr "$T/base.raw" 0 1M || die "writing BASE"

vt start vault1 || die "start"
out=$(cli vm backup vault1 2>&1) || die "full backup of the running guest: $out"
full=$(id_of "$out")
[[ -n $full && $out == *": full, "* && $out != *"no checkpoint"* ]] || die "full backup: $out"
[[ $(stat -c %a "$BK") == 700 && $(stat -c %a "$BK/vault1") == 700 ]] || die "backup directory modes"
[[ -f $BK/vault1/$full.archive.qcow2 && -f $BK/vault1/$full.json && -f $BK/vault1/$full.sig ]] ||
	die "files of $full: $(ls "$BK/vault1" | tr '\n' ' ')"
[[ $(stat -c %a "$BK/vault1/$full.archive.qcow2") == 600 ]] || die "backup file mode"
grep -q "\"checkpoint\":\"osi-backup-$full\"" "$BK/vault1/$full.json" || die "no checkpoint: $(cat "$BK/vault1/$full.json")"
[[ -z $(ls -A "$LV/pool" | grep osi-backup) ]] || die "staged files left in the pool"
if [[ -n $KEYF ]]; then
	f=$BK/vault1/$full.archive.qcow2
	[[ $(qemu-img info --output=json "$f" | jq -r '.encrypted // false') == true ]] || die "the backup is not encrypted"
	grep -qaF "$BASE" "$f" && die "BASE shows in clear in the backup file"
	raw_of "$f" "$T/one.raw" && grep -qaF "$BASE" "$T/one.raw" || die "the backup does not read back through the volume's key"
	rm -f "$T/one.raw"
	pass "the backup of the LUKS volume is encrypted under its key, nothing in clear"
fi
pass "full backup $full of the running guest, with a checkpoint: $out"

stop
wr "$T/mark.raw" 1M 64k || die "writing MARK"
has 1048576 "$MARK" || die "MARK is not in the archive"
# this time once its guest agent is up: the backup's instant is frozen
: > "$LV/consoles/vault1.log"
vt start vault1 || die "start again"
wait_until 120 grep -qa "osi-testguest agent started" "$LV/consoles/vault1.log" ||
	die "vault1's guest agent did not start: $(tail -c 400 "$LV/consoles/vault1.log")"
out=$(cli vm backup vault1 2>&1) || die "incremental backup: $out"
inc=$(id_of "$out")
[[ -n $inc && $out == *"incremental on $full"* ]] || die "incremental backup: $out"
[[ $out == *"frozen by its guest agent"* ]] || die "the incremental was not frozen through the guest agent: $out"
isz=$(stat -c %s "$BK/vault1/$inc.archive.qcow2") fsz=$(stat -c %s "$BK/vault1/$full.archive.qcow2")
(( isz < fsz )) || die "the incremental ($isz bytes) is not smaller than the full ($fsz)"
pass "incremental backup $inc on $full ($isz bytes, the full $fsz), its instant frozen by the guest agent"

list=$(cli vm backups vault1 2>&1) || die "backups: $list"
grep -q "^$full .* full .* ok$" <<<"$list" && grep -q "^$inc .* incremental  *$full .* ok$" <<<"$list" ||
	die "vm backups: $list"
out=$(cli vm restore vault1 --from "$full" 2>&1) && die "restore of a running guest succeeded"
[[ $out == *"stop it first"* ]] || die "restore of a running guest: $out"
pass "listed; restore of a running guest refused"

stop
sum=$(sha256sum < "$arch")
# libvirt's own qemu-img, making the restored encrypted volume, fails once as
# it does on a host whose tick accounting shows no CPU time ("Unable to get
# accurate CPU usage", seen in a whole make check run): the creation is
# tried again
QIMG=$(command -v qemu-img)
cat > "$LV/bin/qemu-img" <<WRAPPER
#!/bin/bash
if [[ \$1 == create && "\$*" == *encrypt* && ! -e "$LV/bin/failed-create" ]]; then
	: > "$LV/bin/failed-create"
	echo "qemu-img: $LV/pool/x: Unable to get accurate CPU usage" >&2
	exit 1
fi
exec "$QIMG" "\$@"
WRAPPER
chmod 755 "$LV/bin/qemu-img"
chown nobody:nogroup "$LV/bin/qemu-img"
out=$(cli vm restore vault1 --from "$full" 2>&1) || die "restore of the full: $out"
rm -f "$LV/bin/qemu-img"
[[ -z $KEYF || -e $LV/bin/failed-create ]] || die "libvirt's failing volume creation was not simulated"
has 0 "$BASE" && has ! 1048576 "$MARK" || die "after restoring the full: BASE missing or MARK still there"
pass "the full restored: BASE there, MARK gone ($out)"
# qemu-img reads the very descriptors that were hashed, and the key (of a
# LUKS volume) from a memfd: no file of it ever beside the backups.
QEMU_IMG=$(command -v qemu-img)
mkdir -p "$T/bin"
# An encrypted chain's convert makes no LUKS header: qemu-img times a new
# header's key derivation in CPU time, which a busy VM shows as none ("Unable
# to get accurate CPU usage", failing four tries in a row in a make check run
# under load); it writes over a copy of the full's file instead.
# Only the convert is recorded: a key check may write no file (RLIMIT_FSIZE 0).
printf '#!/bin/bash\n[[ $1 == check ]] || { ls -A "%s" > "%s"; printf "%%s\\n" "$*" > "%s"; }\n' \
	"$BK/vault1" "$T/during.ls" "$T/during.args" > "$T/bin/qemu-img"
printf 'exec "%s" "$@"\n' "$QEMU_IMG" >> "$T/bin/qemu-img"
chmod 755 "$T/bin/qemu-img"
out=$(PATH=$T/bin:$PATH cli vm restore vault1 --from "$inc" 2>&1) || die "restore of the chain: $out"
[[ $out == *"2 file set(s)"* ]] || die "restore of the chain: $out"
[[ -s $T/during.args ]] || die "the restore did not run qemu-img from PATH"
grep -q '"filename":"/dev/fd/[0-9]*"' "$T/during.args" && ! grep -q "$full\\|$inc" "$T/during.args" ||
	die "qemu-img opened backup files by name: $(cat "$T/during.args")"
grep -q restore-key "$T/during.ls" && die "a key file beside the backups during the convert: $(cat "$T/during.ls")"
[[ -n $KEYF ]] && { grep -q 'file=/dev/fd/' "$T/during.args" || die "the key not from a descriptor: $(cat "$T/during.args")"; }
if [[ -n $KEYF ]] && grep -q "encrypt.format" "$T/during.args"; then
	die "the restore's convert made a LUKS header: $(cat "$T/during.args")"
fi
[[ -z $(ls -A "$BK/vault1" | grep '^\.restore') ]] || die "restore files left: $(ls -A "$BK/vault1")"
has 0 "$BASE" && has 1048576 "$MARK" || die "after restoring the chain: BASE or MARK missing"
pass "the chain restored: BASE and MARK back"

# A restore killed midway (while libvirt makes the new volume: its qemu-img
# waits, the restore is killed) leaves the old volume kept aside; the next
# restore refuses and names --put-back, which puts it back as it was.
sum=$(sha256sum < "$arch")
cat > "$LV/bin/qemu-img" <<WRAPPER
#!/bin/bash
if [[ \$1 == create ]]; then
	: > "$LV/bin/creating"
	for _ in \$(seq 600); do [[ -e "$LV/bin/go" ]] && break; sleep 0.1; done
	rm -f "$LV/bin/creating"
	exit 1
fi
exec "$QIMG" "\$@"
WRAPPER
chmod 755 "$LV/bin/qemu-img"
chown nobody:nogroup "$LV/bin/qemu-img"
"$CLI" --state-dir "$T/state" vm restore vault1 --from "$full" --config "$T/virt-node-a.conf" \
	--uri "$URI" --pool-dir "$LV/pool" --dir "$BK" > "$T/killed.out" 2>&1 &
rpid=$!
wait_until 60 test -e "$LV/bin/creating" || die "the restore did not reach the volume's creation: $(cat "$T/killed.out")"
kill -9 "$rpid"
wait "$rpid" 2>/dev/null || true
: > "$LV/bin/go"
kept=$LV/pool/.osi-restore-vault1.data.archive.qcow2
[[ -f $kept ]] || die "the killed restore left no kept file: $(ls -A "$LV/pool")"
wait_until 60 test ! -e "$LV/bin/creating" || die "libvirt's volume creation did not end"
rm -f "$LV/bin/qemu-img" "$LV/bin/go"
out=$(cli vm restore vault1 --from "$full" 2>&1) && die "a restore over a leftover succeeded: $out"
[[ $out == *"remains from a restore that did not finish"*"vm restore vault1 --put-back"* ]] ||
	die "the restore over a leftover: $out"
ln -s /etc/passwd "$LV/pool/.osi-restore-vault1.data.ghost.qcow2" # not one of vault1's volumes: untouched
mv "$kept" "$T/kept" && ln -s "$T/kept" "$kept"
out=$(cli vm restore vault1 --put-back 2>&1) && die "put back of a symlink succeeded: $out"
[[ $out == *"refused, nothing was changed or removed"*"not a regular file"* ]] || die "put back of a symlink: $out"
[[ -L $kept ]] || die "the refused put back removed $kept"
rm "$kept" && mv "$T/kept" "$kept"
out=$(cli vm restore vault1 --put-back 2>&1) || die "put back: $out"
[[ $out == *"Put back 1 data volume(s) of vault1"* ]] || die "put back: $out"
[[ $(sha256sum < "$arch") == "$sum" ]] || die "the volume put back is not the one kept"
[[ ! -e $kept && -L $LV/pool/.osi-restore-vault1.data.ghost.qcow2 ]] || die "after put back: $(ls -A "$LV/pool")"
vt volumes | grep -q "vault1.data.archive" || die "libvirt does not list the volume put back: $(vt volumes)"
rm "$LV/pool/.osi-restore-vault1.data.ghost.qcow2"
has 0 "$BASE" && has 1048576 "$MARK" || die "after put back: BASE or MARK missing"
out=$(cli vm restore vault1 --put-back 2>&1) || die "put back with nothing left: $out"
[[ $out == *"nothing to put back"* ]] || die "put back with nothing left: $out"
pass "a restore killed midway: the next one refused naming --put-back, which put the old volume back (a symlink refused first, untouched)"

# refusals: nothing written, the volume as it was
sum=$(sha256sum < "$arch")
refused() { # refused WANT ARGS...
	local want=$1; shift
	out=$(cli vm restore vault1 "$@" 2>&1) && die "restore $* succeeded"
	[[ $out == *"$want"* ]] || die "restore $*: $out"
	[[ $(sha256sum < "$arch") == "$sum" ]] || die "the refused restore $* changed the volume"
	pass "refused: ${out#*: }"
}
f=$BK/vault1/$full.archive.qcow2
cp -p "$f" "$T/full.keep"
off=$(( $(stat -c %s "$f") / 2 ))
b=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' ')
printf "$(printf '\\%03o' $(( b ^ 1 )))" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
refused "refused, nothing was written" --from "$inc"
grep -q "altered" <<<"$out" || die "the tampered file's refusal: $out"
cp -p "$T/full.keep" "$f"
refused "not the key given with --trust-key" --from "$inc" --trust-key "$other"
mv "$f" "$T/full.moved"
refused "is missing" --from "$inc"
list=$(cli vm backups vault1 2>&1) || die "backups: $list"
grep -q "^$full .*is missing" <<<"$list" || die "vm backups with a missing file: $list"
mv "$T/full.moved" "$f"
refused "has no backup" --from 20200101T000000Z

# The store is root's alone: a file or a directory another user owns, or a
# symlink, is refused (the state directory is writable by group osi, so
# osi could otherwise make the backup directory first and fill it).
chown nobody "$f"
refused "owned by uid $(id -u nobody)" --from "$inc"
chown 0 "$f"
chown nobody "$BK/vault1"
refused "$BK/vault1 is owned by uid $(id -u nobody)" --from "$inc"
out=$(cli vm backup vault1 2>&1) && die "a backup into a directory nobody owns succeeded"
[[ $out == *"owned by uid"* ]] || die "backup into a directory nobody owns: $out"
chown 0 "$BK/vault1"
chown nobody "$BK"
refused "$BK is owned by uid" --from "$inc"
chown 0 "$BK"
mv "$BK/vault1" "$T/vault1.real" && ln -s "$T/vault1.real" "$BK/vault1"
refused "symlink" --from "$inc"
out=$(cli vm backup vault1 2>&1) && die "a backup through a symlinked directory succeeded"
[[ $out == *"symlink"* ]] || die "backup through a symlink: $out"
rm "$BK/vault1" && mv "$T/vault1.real" "$BK/vault1"

n_before=$(ls "$BK/vault1" | wc -l)
out=$(cli vm backup vault1 --to ../x 2>&1) && die "backup --to ../x succeeded"
[[ $out == *"--to takes a node's name"* ]] || die "backup --to ../x: $out"
(( $(ls "$BK/vault1" | wc -l) == n_before )) || die "backup --to ../x made something"
pass "--to with a bad node name refused before anything is made (copies on another node: vm-move.sh)"

exec {lockfd}< "$BK/vault1"
flock -n "$lockfd" || die "cannot lock $BK/vault1"
out=$(cli vm backup vault1 2>&1) && die "a backup while another holds the guest's lock succeeded"
[[ $out == *"another backup or restore"* ]] || die "backup under a held lock: $out"
out=$(cli vm restore vault1 --from "$inc" 2>&1) && die "a restore while another holds the guest's lock succeeded"
[[ $out == *"another backup or restore"* ]] || die "restore under a held lock: $out"
exec {lockfd}<&-
pass "one backup or restore of a guest at a time: ${out#*: }"

sleep 1
out=$(cli vm backup vault1 --keep 1 2>&1) || die "backup of the shut-off guest: $out"
off_id=$(id_of "$out")
[[ $out == *": full, "*"no checkpoint"*"2 older backup(s) pruned"* ]] || die "shut-off backup with --keep 1: $out"
[[ $(ls "$BK/vault1") == "$off_id.archive.qcow2"$'\n'"$off_id.json"$'\n'"$off_id.sig" ]] ||
	die "after pruning: $(ls "$BK/vault1" | tr '\n' ' ')"
cmp -s "$arch" "$BK/vault1/$off_id.archive.qcow2" || die "the shut-off backup is not the volume's file"
pass "a shut-off guest's backup is its volume's file; --keep 1 pruned the old chain"

# service_argv UNIT DROP-IN INSTANCE: into argv, the command osi-backup@INSTANCE
# runs, read as systemd reads the template's [Service] and then the drop-in:
# Environment= and ExecStart= (empty: reset) in order; words split at blanks
# outside quotes, \ escaping the next character, %% a '%', %i the instance,
# $$ a '$', ${V} V's value within a word, $V as a word V's value split.
service_argv() {
	local line val cmds=() s c w have quote i n
	local -A env=()
	while IFS= read -r line; do
		case $line in
		Environment=*) val=${line#Environment=}; [[ $val == \"*\" ]] && val=${val:1:-1}
			env[${val%%=*}]=${val#*=} ;;
		ExecStart=) cmds=() ;;
		ExecStart=*) cmds+=("${line#ExecStart=}") ;;
		esac
	done < <(cat "$1" "$2")
	(( ${#cmds[@]} == 1 )) || die "$3: ${#cmds[@]} ExecStart= lines: ${cmds[*]}"
	s=${cmds[0]} n=${#s} i=0 w= have=0 quote= argv=()
	while (( i < n )); do
		c=${s:i:1}
		if [[ -z $quote && $c == ' ' ]]; then
			(( have )) && argv+=("$w"); w= have=0 i=$((i + 1)); continue
		fi
		if [[ -z $quote && -z $w && $have == 0 && ${s:i} =~ ^\$([A-Za-z_][A-Za-z0-9_]*)( |$) ]]; then
			argv+=(${env[${BASH_REMATCH[1]}]}); i=$((i + ${#BASH_REMATCH[1]} + 1)); continue
		fi
		have=1 i=$((i + 1))
		case $quote$c in
		\" | \') quote=$c ;;
		\"\" | \'\') quote= ;;
		*\\) w+=${s:i:1} i=$((i + 1)) ;;
		*%) case ${s:i:1} in %) w+=% ;; i) w+=$3 ;; *) die "specifier %${s:i:1} in: $s" ;; esac
			i=$((i + 1)) ;;
		*\$) if [[ ${s:i:1} == \$ ]]; then w+=\$ i=$((i + 1))
			elif [[ ${s:i} =~ ^\{([A-Za-z_][A-Za-z0-9_]*)\} ]]; then
				w+=${env[${BASH_REMATCH[1]}]} i=$((i + ${#BASH_REMATCH[0]}))
			else die "a bare \$ in: $s"; fi ;;
		*) w+=$c ;;
		esac
	done
	[[ -z $quote ]] || die "an open quote in: $s"
	(( have )) && argv+=("$w")
	return 0
}

out=$(cli vm backup vault1 --every 24h --keep 7 --unit-dir "$T/units" 2>&1) || die "--every: $out"
svc="$T/units/osi-backup@vault1.service.d/os-infrastructure.conf"
grep -qx "OnUnitActiveSec=86400s" "$T/units/osi-backup@vault1.timer.d/os-infrastructure.conf" &&
	grep -q '^ExecStart=".*" "vm" "backup" "vault1" "--keep" "7" ' "$svc" &&
	grep -qx "ReadWritePaths=$BK" "$svc" || die "the schedule's drop-ins: $(cat "$T"/units/*/*)"
[[ $out == *"systemctl enable --now osi-backup@vault1.timer"* ]] || die "--every: $out"
pass "--every 24h --keep 7: the timer's drop-ins written"
out=$(cli vm backup vault1 --every 12h --to node-b --unit-dir "$T/units-to" 2>&1) || die "--every --to: $out"
svc="$T/units-to/osi-backup@vault1.service.d/os-infrastructure.conf"
grep -q '^ExecStart=.* "--to" "node-b"$' "$svc" && grep -qx "PrivateNetwork=no" "$svc" &&
	grep -qx "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" "$svc" ||
	die "the copying schedule's drop-in: $(cat "$svc")"
grep -q -- '"--to"' "$T/units/osi-backup@vault1.service.d/os-infrastructure.conf" &&
	die "a schedule without --to asks for a copy"
[[ $out == *"each copied to node-b"* ]] || die "--every --to: $out"
pass "--every 12h --to node-b: the service's drop-in adds the copy's arguments and the network to ask the fleet"

# The scheduled run is the one-off backup with the options given with
# --every: the command the service would run (the template's ExecStart=
# with the drop-in applied; the installed program swapped for the build's)
# backs up into --dir, with the state and config given, at paths with a
# blank, '%', '$', quotes and '\' in them.
AW="$T/aw k%i\$HOME'q\"\\z;y"
mkdir -p "$AW" && cp -a "$T/state" "$AW/state" && cp "$T/virt-node-a.conf" "$AW/host.conf" || die "awkward dirs"
SD=$T/scheduled n_bk=$(ls "$BK/vault1" | wc -l)
out=$("$CLI" --state-dir "$AW/state" vm backup vault1 --every 6h --keep 2 --full --dir "$SD" \
	--config "$AW/host.conf" --uri "$URI" --pool-dir "$LV/pool" --unit-dir "$T/units-sd" 2>&1) ||
	die "--every with every option: $out"
svc="$T/units-sd/osi-backup@vault1.service.d/os-infrastructure.conf"
grep -qx "ReadWritePaths=$SD" "$svc" || die "not writable: $SD: $(cat "$svc")"
service_argv "$BUILD/dist/osi-backup@.service" "$svc" vault1
[[ ${argv[0]} == */bin/os-infrastructure ]] || die "the service runs ${argv[0]}"
want=("--state-dir" "$AW/state" vm backup vault1 --keep 2 --full --dir "$SD" --config "$AW/host.conf"
	--uri "$URI" --pool-dir "$LV/pool")
[[ "${argv[*]:1}" == "${want[*]}" && ${#argv[@]} == $(( ${#want[@]} + 1 )) ]] ||
	die "the scheduled command: $(printf '<%s> ' "${argv[@]}")"
if command -v systemd-analyze > /dev/null; then
	mkdir -p "$T/verify" && cp "$BUILD/dist/osi-backup@.service" "$BUILD/dist/osi-backup@.timer" "$T/verify/" &&
		cp -r "$T/units-sd/." "$T/verify/" || die "copying the units"
	sed -i "s|=\"\{0,1\}${argv[0]}\"\{0,1\} |=$CLI |" "$T/verify/osi-backup@.service" "$T/verify"/*.d/*.conf
	out=$(cd "$T/verify" && systemd-analyze verify ./osi-backup@vault1.service 2>&1) || die "verify: $out"
	[[ -z $out ]] || die "systemd-analyze verify: $out"
fi
out=$(OSI_SCHEDULED=1 "$CLI" "${argv[@]:1}" 2>&1) || die "the scheduled run: $out"
id=$(id_of "$out")
[[ -n $id && -f $SD/vault1/$id.json && -f $SD/vault1/$id.sig && $out == *": full, "*" in $SD/vault1"* ]] ||
	die "the scheduled run did not back up into $SD: $out"
(( $(ls "$BK/vault1" | wc -l) == n_bk )) || die "the scheduled run wrote into $BK"
pass "the scheduled run (the unit's command line) backs up into --every's --dir with its --state-dir, --config, --uri, --pool-dir, --full"

out=$("$CLI" --state-dir "$T/state" vm backup vault1 --every 24h --config "$T/virt-node-a.conf" --dir "$BK" \
	--uri qemu+ssh://root@h/system --unit-dir "$T/units-no" 2>&1) && die "--every with a remote URI: $out"
[[ $out == *"with --every, only a local libvirt URI"* ]] || die "--every with a remote URI: $out"
out=$(cli vm backup vault1 --every 24h --from "$off_id" --unit-dir "$T/units-no" 2>&1) &&
	die "--every with --from: $out"
[[ $out == *"vm restore's, not vm backup's"* ]] || die "--every with --from: $out"
# What the run (root) reads at every run must be root's alone to change, and
# host.conf's virt_uri local like --uri: else someone else could choose
# what it trusts or runs.
mkdir -m 0775 "$T/gw" && cp "$T/virt-node-a.conf" "$T/gw/host.conf" || die "gw"
out=$("$CLI" --state-dir "$T/state" vm backup vault1 --every 24h --config "$T/gw/host.conf" --uri "$URI" \
	--pool-dir "$LV/pool" --dir "$BK" --unit-dir "$T/units-no" 2>&1) &&
	die "--every with a host.conf in a group-writable directory: $out"
[[ $out == *"$T/gw is writable by its group"* ]] || die "--every, group-writable: $out"
out=$(OSI_SCHEDULED=1 "$CLI" --state-dir "$T/state" vm backup vault1 --config "$T/gw/host.conf" \
	--uri "$URI" --pool-dir "$LV/pool" --dir "$BK" 2>&1) && die "a scheduled run read an unsafe host.conf: $out"
[[ $out == *"refused: --config $T/gw/host.conf: $T/gw is writable by its group"* ]] ||
	die "scheduled run, group-writable: $out"
sed 's|^virt_uri.*|virt_uri = qemu+ext:///system?command=/bin/true|' "$T/virt-node-a.conf" > "$T/ext.conf" &&
	grep -q "qemu+ext" "$T/ext.conf" || die "ext.conf: $(cat "$T/ext.conf")"
out=$("$CLI" --state-dir "$T/state" vm backup vault1 --every 24h --config "$T/ext.conf" --dir "$BK" \
	--pool-dir "$LV/pool" --unit-dir "$T/units-no" 2>&1) && die "--every with host.conf's qemu+ext: $out"
[[ $out == *"host.conf's virt_uri qemu+ext:///system?command=/bin/true: with --every, only a local"* ]] ||
	die "--every with host.conf's qemu+ext: $out"
[[ ! -e $T/units-no ]] || die "a refused schedule wrote drop-ins"
pass "--every refuses what a scheduled run cannot do: a remote libvirt URI (given, or host.conf's), restore's options, a host.conf others may change (and so does the scheduled run)"

boot_again
pass "the restored guest boots"

# A LUKS volume made again (vault1 destroyed, its archive deleted with its
# secret, vault1 created anew under a fresh key): its backups open only with
# the old key, which no copy brought here, so restore refuses before it
# writes anything (copies from another node bring the key: vm-move.sh).
if [[ -n $KEYF ]]; then
	stop
	vt destroy vault1 > /dev/null 2>> "$T/virt-tool.log" || die "destroy vault1"
	vt data-delete vault1 archive "test: made again" > /dev/null 2>> "$T/virt-tool.log" ||
		die "data-delete: $(tail -n 2 "$T/virt-tool.log")"
	vt create --type totebox --name vault1 --images "$SRC/images" --base testguest \
		--memory 192M --vcpus 1 --net user --no-start > /dev/null 2>> "$T/virt-tool.log" ||
		die "create again: $(tail -n 2 "$T/virt-tool.log")"
	[[ $(qemu-img info --output=json "$arch" | jq -r '.encrypted // false') == true ]] ||
		die "the archive made again is not encrypted"
	sum=$(sha256sum < "$arch")
	out=$(cli vm restore vault1 --from "$off_id" 2>&1) && die "a restore under another key succeeded: $out"
	[[ $out == *"refused, nothing was written"*"encrypted under another key"*"no key came with it"* ]] ||
		die "restore into a volume under another key: $out"
	[[ $(sha256sum < "$arch") == "$sum" ]] || die "the refused restore changed the volume made again"
	pass "a volume made again under a new key: the restore of a backup under the old one is refused (${out#*: })"
fi
