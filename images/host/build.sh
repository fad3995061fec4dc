#!/bin/bash
# The host image: build.sh OUT_DIR DEB_DIR writes OUT_DIR/osi-host.img, a raw
# disk (MBR: a FAT ESP, then the ext4 root) that boots with BIOS (GRUB's
# boot.img and core.img before the first partition) and UEFI (GRUB as
# EFI/BOOT/BOOTX64.EFI). Two stages: base.sh's cached tarball of Debian 12
# from packages.list (mmdebstrap), unpacked into a directory where DEB_DIR's
# .debs and rootfs/ are installed, then mkfs.ext4 -d: no loop devices.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:?usage: build.sh OUT_DIR DEB_DIR}
DEBS=${2:?usage: build.sh OUT_DIR DEB_DIR}
SUITE=${OSI_IMAGE_SUITE:-bookworm}
MIRROR=${OSI_IMAGE_MIRROR:-http://deb.debian.org/debian}
ESP_MIB=64
ROOT_SLACK_MIB=${OSI_IMAGE_SLACK_MIB:-2048}

mkdir -p "$OUT"
ROOT=$OUT/rootfs
# A build killed before its trap ran leaves proc, sys and dev mounted in the
# old root: unmount them, deepest first, or the removal below stops at them.
findmnt -rn -o TARGET | awk -v r="$ROOT/" 'index($0, r) == 1' | sort -r | while read -r m; do umount -l "$m" || true; done
rm -rf --one-file-system "$ROOT" "$OUT/osi-host.img.tmp"
debs=("$DEBS"/os-infrastructure_*.deb "$DEBS"/os-infrastructure-fleet_*.deb)
[[ -f ${debs[0]} && -f ${debs[1]} ]] || { echo "no .debs in $DEBS (make deb)" >&2; exit 1; }

SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(date -d "$(dpkg-parsechangelog -l "$HERE/../../debian/changelog" -S Date)" +%s)}
export SOURCE_DATE_EPOCH
base=$("$HERE/base.sh")
mkdir "$ROOT"
tar -C "$ROOT" --numeric-owner --xattrs --xattrs-include='*' -xpf "$base"

# The final stage, offline: the project's .debs (their dependencies are in
# packages.list; the base has no apt lists, so nothing is fetched), rootfs/,
# the units.
mounts=()
unmount() { local m; for m in "${mounts[@]}"; do umount -l "$m" || true; done; }
trap unmount EXIT
for m in proc sys dev dev/pts; do
	case $m in
	proc) mount -t proc proc "$ROOT/proc" ;;
	sys) mount -t sysfs sys "$ROOT/sys" ;;
	*) mount --bind "/$m" "$ROOT/$m" ;;
	esac
	mounts=("$ROOT/$m" "${mounts[@]}")
done
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d" # start nothing here
chmod +x "$ROOT/usr/sbin/policy-rc.d"
mkdir -p "$ROOT/tmp/osi-debs"
cp "${debs[@]}" "$ROOT/tmp/osi-debs/"
chroot "$ROOT" sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends /tmp/osi-debs/*.deb' ||
	{ echo "installing the .debs failed: a dependency missing from images/host/packages.list?" >&2; exit 1; }
tar -C "$HERE/rootfs" -cf - . | tar -C "$ROOT" -xf - --no-same-owner
chroot "$ROOT" systemctl enable systemd-networkd osi-growroot.service osi-firstboot.service
chroot "$ROOT" apt-get clean
unmount
mounts=()
rm -rf "$ROOT/tmp/osi-debs" "$ROOT"/var/lib/apt/lists/* "$ROOT/usr/sbin/policy-rc.d"

echo osi-host > "$ROOT/etc/hostname"
printf 'LABEL=osi-root / ext4 errors=remount-ro 0 1\n' > "$ROOT/etc/fstab"
: > "$ROOT/etc/machine-id" # systemd makes one at first boot

# GRUB: modules beside grub.cfg, a BIOS core.img and an EFI binary that find
# the root by its label.
mods="part_msdos ext2 fat search search_label normal linux echo test serial terminal gzio configfile"
cat > "$ROOT/tmp/early.cfg" <<'CFG'
search --no-floppy --label --set=root osi-root
set prefix=($root)/boot/grub
CFG
mkdir -p "$ROOT/boot/grub"
cp -r "$ROOT/usr/lib/grub/i386-pc" "$ROOT/usr/lib/grub/x86_64-efi" "$ROOT/boot/grub/"
cp "$HERE/grub.cfg" "$ROOT/boot/grub/grub.cfg"
chroot "$ROOT" grub-mkimage -O i386-pc -o /tmp/core.img -c /tmp/early.cfg -p /boot/grub biosdisk $mods
chroot "$ROOT" grub-mkimage -O x86_64-efi -o /tmp/bootx64.efi -c /tmp/early.cfg -p /boot/grub efi_gop $mods
rm -f "$ROOT/tmp/esp.img"
chroot "$ROOT" mkfs.vfat -n OSI-ESP -i 05151e55 -C /tmp/esp.img $((ESP_MIB * 1024)) >/dev/null
chroot "$ROOT" sh -c 'mmd -i /tmp/esp.img ::/EFI ::/EFI/BOOT && mcopy -i /tmp/esp.img /tmp/bootx64.efi ::/EFI/BOOT/BOOTX64.EFI'
mv "$ROOT/tmp/core.img" "$ROOT/tmp/esp.img" "$OUT/"
cp "$ROOT/usr/lib/grub/i386-pc/boot.img" "$OUT/boot.img"
rm -f "$ROOT/tmp/bootx64.efi" "$ROOT/tmp/early.cfg"
core_sectors=$((($(stat -c %s "$OUT/core.img") + 511) / 512))
((core_sectors < 2047)) || { echo "core.img too large" >&2; exit 1; }

# The root filesystem from the directory, made in place in the disk (at its
# partition's offset: no separate file to copy in), then the rest around it.
used_mib=$(du -sm "$ROOT" | cut -f1)
root_mib=$((used_mib * 12 / 10 + ROOT_SLACK_MIB))
esp_start=2048
root_start=$((esp_start + ESP_MIB * 2048))
root_sectors=$((root_mib * 2048))
IMG=$OUT/osi-host.img.tmp
truncate -s $(((root_start + root_sectors) * 512)) "$IMG"
mkfs.ext4 -q -L osi-root -U 0515e0ff-0000-4000-8000-000000000001 \
	-E root_owner=0:0,nodiscard,offset=$((root_start * 512)) -d "$ROOT" "$IMG" "${root_mib}M"
dd if="$OUT/boot.img" of="$IMG" bs=440 count=1 conv=notrunc status=none
dd if="$OUT/core.img" of="$IMG" bs=512 seek=1 conv=notrunc status=none
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
{
	printf '%b' "\x00\xfe\xff\xff\xef\xfe\xff\xff$(le32 $esp_start)$(le32 $((ESP_MIB * 2048)))"
	printf '%b' "\x80\xfe\xff\xff\x83\xfe\xff\xff$(le32 $root_start)$(le32 $root_sectors)"
	printf '%b' "$(printf '\\x00%.0s' {1..32})\x55\xaa"
} | dd of="$IMG" bs=1 seek=446 conv=notrunc status=none
printf '%b' 'OSI1' | dd of="$IMG" bs=1 seek=440 conv=notrunc status=none # disk signature
dd if="$OUT/esp.img" of="$IMG" bs=512 seek=$esp_start conv=notrunc,sparse status=none
rm -f "$OUT/esp.img" "$OUT/core.img" "$OUT/boot.img"
mv "$IMG" "$OUT/osi-host.img"
rm -rf "$ROOT"
echo "$OUT/osi-host.img: $(du -h --apparent-size "$OUT/osi-host.img" | cut -f1) ($(du -h "$OUT/osi-host.img" | cut -f1) on disk)"
