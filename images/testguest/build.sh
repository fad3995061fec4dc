#!/bin/bash
# Builds the test guest: a small raw disk that boots from its own disk the
# way a cloud image does, from Debian packages fetched at test time.
#
#   MBR (syslinux mbr.bin) -> ext4 partition 1 (extlinux) -> vmlinuz (cloud
#   kernel) + initramfs (busybox-static, virtio-scsi/sr/isofs/net/console
#   modules, qemu-ga and the shared libraries it needs)
#
# Its /init finds the NoCloud seed (an ISO9660 volume labelled cidata), reads
# meta-data and prints on the serial console:
#   osi-testguest instance-id=<id> hostname=<name>
# With a NIC (virtio-net), it takes a DHCP lease (busybox udhcpc), prints
#   osi-testguest net ip=<A.B.C.D> router=<gateway> dns=<server>
# and serves "osi-testguest <hostname> <instance-id>" over HTTP on port 80
# (busybox httpd) and the same line to any TCP connection on port 7 (nc).
# With the guest agent channel (virtio-serial port org.qemu.guest_agent.0),
# it starts Debian's QEMU guest agent once it has its lease and prints
#   osi-testguest agent started
# Then it idles. Nothing here is committed as a binary; the image is cached.
#
# usage: build.sh CACHE_DIR      prints the image path on stdout
# needs: root, apt-get (with package lists), dpkg-deb, modinfo, readelf,
#        losetup, mkfs.ext4, mount, gzip. Exit 3: the packages could not be had.
set -euo pipefail

VERSION=3
cache=${1:?usage: build.sh CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

log() { printf 'testguest: %s\n' "$*" >&2; }

kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
	awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[[ -n $kpkg ]] || { log "cannot resolve linux-image-cloud-amd64 (apt-get update?)"; exit 3; }
image=$cache/osi-testguest-v$VERSION-${kpkg#linux-image-}.raw
if [[ -s $image ]]; then
	echo "$image"
	exit 0
fi

work=$(mktemp -d /tmp/osi-testguest.XXXXXX)
loop= mnt=
cleanup() {
	[[ -n $mnt ]] && umount "$mnt" 2>/dev/null
	[[ -n $loop ]] && losetup -d "$loop" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# qemu-ga and the packages of the libraries it loads (ld.so and libc too).
agent_pkgs="qemu-guest-agent libglib2.0-0 libpcre2-8-0 libudev1 libnuma1 liburing2 libc6"
log "downloading $kpkg busybox-static extlinux syslinux-common $agent_pkgs"
# _apt cannot write into a 0700 temporary directory.
chmod 755 "$work"
(cd "$work" && apt-get download -q "$kpkg" busybox-static extlinux syslinux-common $agent_pkgs \
	>/dev/null 2>&1) ||
	{ log "apt-get download failed (no Debian mirror?)"; exit 3; }
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done

x=$work/x
kver=$(ls "$x/lib/modules")
kmods=$x/lib/modules/$kver/kernel

# The seed is a CD on a virtio-scsi controller; the cloud kernel has no AHCI.
# virtio_console: the guest agent's virtio-serial port.
wanted="virtio_pci virtio_scsi sr_mod isofs virtio_net virtio_console"
declare -A path=() loaded=()
while read -r f; do path[$(basename "$f" .ko)]=$f; done < <(find "$kmods" -name '*.ko')
order=()
add_module() { # dependencies first, each once
	local m=${1//-/_} d
	[[ -n ${loaded[$m]:-} ]] && return
	[[ -n ${path[$m]:-} ]] || { log "module $m not in $kpkg"; exit 1; }
	loaded[$m]=1
	for d in $(modinfo -F depends "${path[$m]}" | tr ',' ' '); do add_module "$d"; done
	order+=("$m")
}
for m in $wanted; do add_module "$m"; done

log "initramfs: busybox + ${#order[@]} modules (${order[*]})"
root=$work/initramfs
mkdir -p "$root"/{bin,dev,proc,sys,mnt,www,etc,tmp,lib/modules}
cp "$x/bin/busybox" "$root/bin/busybox"
for m in "${order[@]}"; do
	cp "${path[$m]}" "$root/lib/modules/$m.ko"
	echo "$m" >> "$root/lib/modules/order"
done
# qemu-ga with the shared objects it needs, each found in the packages
# fetched, dependencies followed (readelf's NEEDED), and the dynamic loader.
mkdir -p "$root/usr/sbin" "$root/lib/x86_64-linux-gnu" "$root/lib64" "$root/run"
cp "$x/usr/sbin/qemu-ga" "$root/usr/sbin/qemu-ga"
declare -A have_so=()
copy_needed() { # copy_needed ELF: its NEEDED libraries, recursively
	local so f
	for so in $(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		[[ -n ${have_so[$so]:-} ]] && continue
		f=$(find "$x/lib/x86_64-linux-gnu" "$x/usr/lib/x86_64-linux-gnu" -name "$so" 2>/dev/null | head -n 1)
		[[ -n $f ]] || { log "qemu-ga needs $so, in none of: $agent_pkgs"; exit 1; }
		have_so[$so]=1
		cp -L "$f" "$root/lib/x86_64-linux-gnu/$so"
		copy_needed "$root/lib/x86_64-linux-gnu/$so"
	done
}
copy_needed "$root/usr/sbin/qemu-ga"
cp -L "$x/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" "$root/lib64/ld-linux-x86-64.so.2"
log "initramfs: qemu-ga + ${#have_so[@]} libraries (${!have_so[*]})"
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r m; do insmod "/lib/modules/$m.ko"; done < /lib/modules/order

label() { dd if="$1" bs=1 skip=32808 count=32 2>/dev/null | tr -d ' \000' | tr a-z A-Z; }
field() { sed -n "s/^$1:[[:space:]]*//p" /mnt/meta-data | tr -d "\"'\r" | head -n 1; }

seed=
i=0
while [ -z "$seed" ] && [ $i -lt 300 ]; do
	for d in /dev/sr* /dev/vd* /dev/sd*; do
		[ -b "$d" ] && [ "$(label "$d")" = CIDATA ] || continue
		mount -t iso9660 -o ro "$d" /mnt 2>/dev/null || continue
		if [ -f /mnt/meta-data ]; then seed=$d; break; fi
		umount /mnt
	done
	[ -n "$seed" ] || { i=$((i + 1)); sleep 0.2; }
done
if [ -z "$seed" ]; then
	echo "osi-testguest no-seed" > /dev/console
else
	iid=$(field instance-id)
	hn=$(field local-hostname)
	hostname "$hn"
	echo "osi-testguest instance-id=$iid hostname=$hn seed=$seed" > /dev/console
fi
# The guest agent, when the domain has its channel: no udev here, so the
# port's /dev/virtio-ports name is made by hand from its sysfs name.
agent_start() {
	local n port=
	for n in /sys/class/virtio-ports/*/name; do
		[ -f "$n" ] && [ "$(cat "$n")" = org.qemu.guest_agent.0 ] || continue
		port=/dev/$(basename "$(dirname "$n")")
	done
	[ -n "$port" ] || return 0
	mkdir -p /dev/virtio-ports
	ln -sf "$port" /dev/virtio-ports/org.qemu.guest_agent.0
	if LD_LIBRARY_PATH=/lib/x86_64-linux-gnu /usr/sbin/qemu-ga -d -m virtio-serial \
		-p /dev/virtio-ports/org.qemu.guest_agent.0 -f /run/qemu-ga.pid -t /run \
		-l /tmp/qemu-ga.log; then
		echo "osi-testguest agent started" > /dev/console
	else
		echo "osi-testguest agent failed: $(tail -n 3 /tmp/qemu-ga.log 2>/dev/null)" > /dev/console
	fi
}
# The network, when there is a NIC: a lease, then something to reach.
ip link set lo up
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 25 ]; do i=$((i + 1)); sleep 0.2; done
if [ -e /sys/class/net/eth0 ]; then
	echo "osi-testguest $hn $iid" > /www/index.html
	ip link set eth0 up
	(
		udhcpc -i eth0 -s /etc/udhcpc.script -t 30 -T 2 -b -x "hostname:$hn" > /tmp/udhcpc.log 2>&1 ||
			{ echo "osi-testguest net no-lease" > /dev/console; cat /tmp/udhcpc.log > /dev/console; }
		agent_start
		httpd -p 80 -h /www
		while :; do echo "osi-testguest $hn $iid" | nc -l -p 7 >/dev/null 2>&1 || sleep 1; done
	) &
else
	echo "osi-testguest net none ($(ls /sys/class/net | tr '\n' ' '))" > /dev/console
fi
while :; do sleep 3600; done
INIT
chmod 755 "$root/init"
# udhcpc's hook: the lease onto the interface, its router as the default route.
cat > "$root/etc/udhcpc.script" <<'DHCP'
#!/bin/busybox sh
case $1 in
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	for r in $router; do ip route add default via "$r" dev "$interface"; break; done
	: > /etc/resolv.conf
	for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
	echo "osi-testguest net ip=$ip router=${router%% *} dns=${dns%% *}" > /dev/console
	;;
deconfig)
	ip addr flush dev "$interface"
	;;
esac
exit 0
DHCP
chmod 755 "$root/etc/udhcpc.script"
(cd "$root" && find . | "$root/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -9) > "$work/initrd.img"

# 1 MiB of MBR gap, then one bootable ext4 partition.
kbytes=$(stat -c %s "$x/boot/vmlinuz-$kver")
ibytes=$(stat -c %s "$work/initrd.img")
part_mib=$(( (kbytes + ibytes) / 1048576 + 6 ))
total_mib=$(( part_mib + 1 ))
raw=$work/disk.raw
truncate -s ${total_mib}M "$raw"

le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(( $1 & 255 )) $(( ($1 >> 8) & 255 )) \
	$(( ($1 >> 16) & 255 )) $(( ($1 >> 24) & 255 )); }
entry="\\x80\\xfe\\xff\\xff\\x83\\xfe\\xff\\xff$(le32 2048)$(le32 $(( part_mib * 2048 )))"
printf '%b' "$entry" | dd of="$raw" bs=1 seek=446 conv=notrunc status=none
printf '\x55\xaa' | dd of="$raw" bs=1 seek=510 conv=notrunc status=none
dd if="$x/usr/lib/syslinux/mbr/mbr.bin" of="$raw" bs=440 count=1 conv=notrunc status=none

loop=$(losetup -f --show -o 1048576 --sizelimit $(( part_mib * 1048576 )) "$raw")
# extlinux 6.04 cannot read ext4 with 64bit or metadata_csum_seed.
mkfs.ext4 -q -L osi-testguest -O ^64bit,^metadata_csum_seed,^orphan_file -m 0 "$loop" 2>/dev/null ||
	mkfs.ext4 -q -L osi-testguest -O ^64bit -m 0 "$loop"
mnt=$work/mnt
mkdir -p "$mnt"
mount "$loop" "$mnt"
mkdir -p "$mnt/boot/extlinux"
cp "$x/boot/vmlinuz-$kver" "$mnt/boot/vmlinuz"
cp "$work/initrd.img" "$mnt/boot/initrd.img"
cat > "$mnt/boot/extlinux/extlinux.conf" <<CONF
DEFAULT osi
TIMEOUT 0
PROMPT 0
LABEL osi
	KERNEL /boot/vmlinuz
	INITRD /boot/initrd.img
	APPEND console=ttyS0,115200 loglevel=3 panic=10
CONF
"$x/usr/bin/extlinux" --install "$mnt/boot/extlinux" >/dev/null 2>&1 ||
	{ log "extlinux --install failed"; exit 1; }
umount "$mnt"; mnt=
losetup -d "$loop"; loop=

mv "$raw" "$image.tmp.$$"
mv "$image.tmp.$$" "$image"
log "built $image ($(du -h --apparent-size "$image" | cut -f1), kernel $kver)"
echo "$image"
