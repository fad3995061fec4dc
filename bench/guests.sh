#!/bin/bash
# make bench (guests): time from confirmation to a running domain through the
# whole path (fleet, dispatch, agent, privileged helper, libvirt), side by side
# with `virt-install --import` on the same base image and the same private
# libvirtd, and the time to the guest's first console line. Prints figures.
set -euo pipefail
BUILD=$(realpath "${1:-build}")
export OSI_BUILD=$BUILD OSI_SOURCE=$(realpath "$(dirname "$0")/..") OSI_VIRT_TOOL=$BUILD/tests/virt-tool
source "$OSI_SOURCE/tests/integration/lib.sh"
source "$OSI_SOURCE/tests/integration/lib-libvirt.sh"
RUNS=${RUNS:-3}
command -v virt-install >/dev/null || skip "virt-install not installed (apt-get install virtinst)"

POOL=$LV/pool
vt() { "$TOOL" --uri "$URI" --pool-dir "$POOL" --consoles "$LV/consoles" "$@"; }
wait_until 20 vt domains || die "libvirtd did not answer"
vt image-import "$TESTGUEST_IMG" testguest > /dev/null
setup_members n1
start_fleet
start_building_agent n1
wait_until 10 node_state_is n1 live || die "n1 live"
console_has() { grep -qa "osi-testguest .*hostname=$1" "$LV/consoles/$1.log" 2>/dev/null; }
running() { [[ $(virsh -c "$URI" domstate "$1" 2>/dev/null) == running ]]; }

ours=() ours_console=() theirs=()
for i in $(seq 1 "$RUNS"); do
	token=$(osi vm plan --type mediakit --name "b-$i" --memory 192M --vcpus 1 | sed -n 's/^Token: //p')
	t0=$(now_ms)
	osi vm confirm "$token" > /dev/null
	t1=$(now_ms)
	wait_until 120 console_has "b-$i" || die "b-$i console"
	t2=$(now_ms)
	ours+=($(( t1 - t0 ))) ours_console+=($(( t2 - t0 )))
	# destroy waits for the node's answer: virt-install below refreshes the
	# same pool, and a volume (b-N.root.qcow2) still being removed broke it.
	osi vm destroy "b-$i" > /dev/null || die "destroy b-$i"

	t0=$(now_ms)
	virt-install --connect "$URI" --name "vi-$i" --memory 192 --vcpus 1 --import --virt-type qemu \
		--disk "pool=osi,size=1,backing_store=$POOL/base-testguest.img,backing_format=raw,format=qcow2,bus=virtio" \
		--osinfo detect=on,require=off --graphics none --network none --noautoconsole \
		> "$T/virt-install-$i.log" 2>&1 || die "virt-install: $(tail -3 "$T/virt-install-$i.log")"
	wait_until 60 running "vi-$i" || die "vi-$i not running"
	t1=$(now_ms)
	theirs+=($(( t1 - t0 )))
	virsh -c "$URI" destroy "vi-$i" > /dev/null 2>&1 || true
	virsh -c "$URI" undefine "vi-$i" --remove-all-storage > /dev/null 2>&1 || true
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
m_ours=$(median "${ours[@]}") m_theirs=$(median "${theirs[@]}") m_console=$(median "${ours_console[@]}")
echo "== guest creation, TCG, $RUNS runs each (ms): ours ${ours[*]}; virt-install ${theirs[*]}"
echo "  confirmation -> running (fleet, dispatch, agent, helper, libvirt): median ${m_ours} ms"
echo "  virt-install --import -> running (same image, same libvirtd):       median ${m_theirs} ms"
echo "  ratio ours / virt-install: $(echo "scale=2; $m_ours / $m_theirs" | bc)"
echo "  confirmation -> first console line (instance-id and hostname): median ${m_console} ms"
