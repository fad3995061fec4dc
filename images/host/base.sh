#!/bin/bash
# The host image's base stage: base.sh prints the path of a tarball of
# Debian 12 from packages.list (mmdebstrap, apt variant), without the
# project's .debs or rootfs/, built when absent. It is cached in
# OSI_IMAGE_BASE_CACHE under a key hashing exactly what goes into it:
# packages.list, the suite, the mirror, SOURCE_DATE_EPOCH and this script.
# Since Debian's packages move on (security updates), a base older than
# OSI_IMAGE_BASE_DAYS (7) is rebuilt.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SUITE=${OSI_IMAGE_SUITE:-bookworm}
MIRROR=${OSI_IMAGE_MIRROR:-http://deb.debian.org/debian}
CACHE=${OSI_IMAGE_BASE_CACHE:-/var/cache/os-infrastructure/host-base}
DAYS=${OSI_IMAGE_BASE_DAYS:-7}
: "${SOURCE_DATE_EPOCH:?base.sh: SOURCE_DATE_EPOCH unset}"

key=$( { sha256sum < "$HERE/packages.list"; sha256sum < "$0";
	printf '%s\n' "$SUITE" "$MIRROR" "$SOURCE_DATE_EPOCH"; } | sha256sum | cut -c1-16)
tarball=$CACHE/base-$key.tar
if [[ -f $tarball ]] && (($(date +%s) - $(stat -c %Y "$tarball") < DAYS * 86400)); then
	echo "$tarball"
	exit 0
fi
mkdir -p "$CACHE"
rm -f "$CACHE"/base-*.tar "$CACHE"/base-*.tar.tmp* # one base kept
mapfile -t pkgs < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$HERE/packages.list")
tmp=$tarball.tmp$$
start=$(date +%s)
mmdebstrap --variant=apt --format=tar --include="$(IFS=,; echo "${pkgs[*]}")" \
	--customize-hook='chroot "$1" apt-get clean' \
	"$SUITE" "$tmp" "$MIRROR" >&2
mv "$tmp" "$tarball"
echo "host image base $tarball: built in $(($(date +%s) - start)) s" >&2
echo "$tarball"
