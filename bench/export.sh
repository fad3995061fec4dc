#!/bin/bash
# make bench (export): `vm export` of a shut-off guest's data volume (half
# full of random bytes) beside `qemu-img convert -O qcow2` of the same volume
# on the same disk, in one run; prints times, sizes and the ratio (target
# >= 0.9: export at least 90% of convert's throughput, hashing and signing
# included). A private libvirtd, as in tests/integration/lib-libvirt.sh.
set -euo pipefail
BUILD=$(realpath "${1:-build}")
export OSI_BUILD=$BUILD OSI_SOURCE=$(realpath "$(dirname "$0")/..") OSI_VIRT_TOOL=$BUILD/tests/virt-tool
source "$OSI_SOURCE/tests/integration/lib.sh"
source "$OSI_SOURCE/tests/integration/lib-libvirt.sh"
RUNS=${RUNS:-3}
FILL_MIB=${FILL_MIB:-512}
CLI=$BUILD/os-infrastructure/os-infrastructure
vt() { "$TOOL" --uri "$URI" --pool-dir "$LV/pool" --index "$LV/pool.json" --consoles "$LV/consoles" "$@"; }
virt_helper_conf bench
wait_until 20 vt domains || die "libvirtd did not answer"
vt image-import "$TESTGUEST_IMG" testguest > /dev/null
"$CLI" keygen --name bench --state-dir "$T/state" > /dev/null
vt create --type totebox --name vault --images "$OSI_SOURCE/images" --base testguest --memory 192M \
	--vcpus 1 --net none --no-start > /dev/null 2>> "$T/virt-tool.log" || die "create"
vol=$LV/pool/vault.data.archive.qcow2
# Half full: FILL_MIB of random bytes, then as much left unwritten.
head -c $(( FILL_MIB << 20 )) /dev/urandom > "$T/fill.raw"
truncate -s $(( FILL_MIB << 21 )) "$T/fill.raw"
qemu-img convert -n -f raw -O qcow2 "$T/fill.raw" "$vol"
rm -f "$T/fill.raw"
sync

ours=() theirs=()
for i in $(seq 1 "$RUNS"); do
	rm -f "$T/vault.osx" "$T/copy.qcow2"
	t0=$(now_ms)
	"$CLI" --state-dir "$T/state" vm export vault "$T/vault.osx" --config "$T/virt-bench.conf" \
		--uri "$URI" --pool-dir "$LV/pool" > /dev/null
	t1=$(now_ms)
	qemu-img convert -f qcow2 -O qcow2 "$vol" "$T/copy.qcow2"
	sync -f "$T/copy.qcow2" # export fsyncs its archive; so does this side
	t2=$(now_ms)
	ours+=($(( t1 - t0 ))) theirs+=($(( t2 - t1 )))
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
o=$(median "${ours[@]}") c=$(median "${theirs[@]}")
mib() { echo "scale=1; $1 / 1048576" | bc; }
echo "  volume: $(mib $(stat -c %s "$vol")) MiB qcow2 file, $FILL_MIB MiB of data written"
echo "  vm export:        median ${o} ms of (${ours[*]}), archive $(mib $(stat -c %s "$T/vault.osx")) MiB"
echo "  qemu-img convert: median ${c} ms of (${theirs[*]}), output $(mib $(stat -c %s "$T/copy.qcow2")) MiB"
echo "  ratio (convert time / export time, target >= 0.9): $(echo "scale=2; $c / $o" | bc)"
vt destroy vault > /dev/null 2>&1 || true
