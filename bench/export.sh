#!/bin/bash
# make bench (export): `vm export` of a shut-off guest's data volume (2 GiB,
# half full of random bytes: FILL_MIB=1024, the move bench's volume) beside `qemu-img convert -O qcow2` of the same volume
# on the same disk, in one run; prints times, sizes and the ratio (target
# >= 0.9: export at least 90% of convert's throughput, hashing and signing
# included). A private libvirtd, as in tests/integration/lib-libvirt.sh.
# Twice: the LUKS-encrypted volume a guest gets now (export copies its
# ciphertext and seals its key to a recipient; qemu-img, to copy it, opens
# it with the key and writes an encrypted copy under the same secret), and
# a plain volume as made before encryption (both sides copy plain qcow2).
# qemu-img's encrypted copy still derives the source's key from its LUKS
# header (about 2 s of PBKDF2, libvirt's default iter-time) on each run; its
# output's derivation is cut to 10 ms. The plain pair is like for like.
set -euo pipefail
BUILD=$(realpath "${1:-build}")
export OSI_BUILD=$BUILD OSI_SOURCE=$(realpath "$(dirname "$0")/..") OSI_VIRT_TOOL=$BUILD/tests/virt-tool
source "$OSI_SOURCE/tests/integration/lib.sh"
source "$OSI_SOURCE/tests/integration/lib-libvirt.sh"
RUNS=${RUNS:-5}
FILL_MIB=${FILL_MIB:-1024}
CLI=$BUILD/os-infrastructure/os-infrastructure
vt() { "$TOOL" --uri "$URI" --pool-dir "$LV/pool" --index "$LV/pool.json" --consoles "$LV/consoles" "$@"; }
virt_helper_conf bench
wait_until 20 vt domains || die "libvirtd did not answer"
vt image-import "$TESTGUEST_IMG" testguest > /dev/null
# The member the encrypted volume's key is sealed to: a one-member ledger.
unshare -n "$CLI" --state-dir "$T/state" --genesis --no-invite --no-start --name bench > "$T/genesis.log" 2>&1 ||
	die "genesis: $(tail -n 3 "$T/genesis.log")"
wg=$(sed -n 's/.*wireguard-go pid \([0-9]*\).*/\1/p' "$T/genesis.log")
[[ -n $wg ]] && kill "$wg" 2>/dev/null || true
vt() { "$TOOL" --uri "$URI" --pool-dir "$LV/pool" --index "$LV/pool.json" --consoles "$LV/consoles" \
	--seal-key "$T/seal/seal.key" "$@"; }
vt create --type totebox --name vault --images "$OSI_SOURCE/images" --base testguest --memory 192M \
	--vcpus 1 --net none --no-start > /dev/null 2>> "$T/virt-tool.log" || die "create"
vol=$LV/pool/vault.data.archive.qcow2
uuid=$(grep -lF "<volume>$vol</volume>" "$LV"/config/libvirt/secrets/*.xml | xargs basename | sed 's/\.xml$//')
umask 077
base64 -d < "$LV/config/libvirt/secrets/$uuid.base64" > "$T/key"
key=(--object "secret,id=k0,file=$T/key")
# Half full: FILL_MIB of random bytes, then as much left unwritten.
head -c $(( FILL_MIB << 20 )) /dev/urandom > "$T/fill.raw"
truncate -s $(( FILL_MIB << 21 )) "$T/fill.raw"
qemu-img convert -n -f raw "${key[@]}" --target-image-opts "$T/fill.raw" \
	"driver=qcow2,file.filename=$vol,encrypt.key-secret=k0"
sync

median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
mib() { echo "scale=1; $1 / 1048576" | bc; }
# One timed export, and one timed convert (its output synced, as the export
# fsyncs its archive), each started with nothing left to write back from
# the other (an untimed sync first).
run_export() {
	local t0
	rm -f "$T/vault.osx"; sync; t0=$(now_ms)
	"$CLI" --state-dir "$T/state" vm export vault "$T/vault.osx" --config "$T/virt-bench.conf" \
		--uri "$URI" --pool-dir "$LV/pool" "$@" > /dev/null
	ours+=($(( $(now_ms) - t0 )))
}
run_convert() {
	local t0 try
	rm -f "$T/copy.qcow2"; sync; t0=$(now_ms)
	# a LUKS output times its key derivation in CPU time, which a busy host
	# can show as none ("Unable to get accurate CPU usage"): a few tries
	for try in 1 2 3 4; do qemu-img convert "${CONVERT[@]}" "$T/copy.qcow2" && break; done
	sync -f "$T/copy.qcow2"
	theirs+=($(( $(now_ms) - t0 )))
}
# side_by_side LABEL [export args]: RUNS of each, with convert as set in
# CONVERT, the order swapped each run so neither always goes first.
side_by_side() {
	local label=$1 o c i; shift
	local ours=() theirs=()
	for i in $(seq 1 "$RUNS"); do
		if (( i % 2 )); then run_export "$@"; run_convert; else run_convert; run_export "$@"; fi
	done
	o=$(median "${ours[@]}") c=$(median "${theirs[@]}")
	echo "  $label volume: $(mib $(stat -c %s "$vol")) MiB qcow2 file, $FILL_MIB MiB of data written"
	echo "    vm export:        median ${o} ms of (${ours[*]}), archive $(mib $(stat -c %s "$T/vault.osx")) MiB"
	echo "    qemu-img convert: median ${c} ms of (${theirs[*]}), output $(mib $(stat -c %s "$T/copy.qcow2")) MiB"
	echo "    ratio (convert time / export time, target >= 0.9): $(echo "scale=2; $c / $o" | bc)"
}
CONVERT=("${key[@]}" --image-opts "driver=qcow2,file.filename=$vol,encrypt.key-secret=k0" -O qcow2
	-o encrypt.format=luks,encrypt.key-secret=k0,encrypt.iter-time=10)
side_by_side encrypted --recipient bench
# The same bytes in a plain volume, as data volumes made before encryption are.
vt destroy vault > /dev/null 2>&1
vt data-delete vault archive "bench: the plain run" 2>> "$T/virt-tool.log"
qemu-img create -q -f qcow2 "$vol" $(( FILL_MIB << 21 ))
qemu-img convert -n -f raw -O qcow2 "$T/fill.raw" "$vol"
chown nobody:nogroup "$vol"
rm -f "$T/fill.raw"
vt create --type totebox --name vault --images "$OSI_SOURCE/images" --base testguest --memory 192M \
	--vcpus 1 --net none --no-start > /dev/null 2>> "$T/virt-tool.log" || die "create on the plain volume"
sync
CONVERT=(-f qcow2 -O qcow2 "$vol")
side_by_side plain
vt destroy vault > /dev/null 2>&1 || true
