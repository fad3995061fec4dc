#!/bin/bash
# The systemd units, system user and directories as `meson install` puts them:
#
#   meson install --destdir $T/root ──> units ──> systemd-analyze security --offline (≤ 3.0)
#                                   │        └──> systemd-analyze verify (paths into $T/root)
#                                   └──> sysusers.d, tmpfiles.d ──> applied to a scratch root $T/sys
#
# No systemd needs to run: every check is offline. Skips (77) where
# systemd-analyze lacks --offline (systemd < 252).
source "$(dirname "$0")/lib.sh"

PATH=$PATH:/usr/sbin:/sbin
for p in systemd-analyze systemd-sysusers systemd-tmpfiles; do
	command -v "$p" >/dev/null || skip "$p not installed"
done
systemd-analyze --help 2>&1 | grep -q -- '--offline' || skip "systemd-analyze lacks --offline"

DEST=$T/root SYS=$T/sys
DESTDIR=$DEST meson install -C "$BUILD" --no-rebuild --quiet > "$T/install.log" 2>&1 ||
	die "meson install: $(tail -n 5 "$T/install.log")"
unit=$(find "$DEST" -name service-vm-host.service -path '*/systemd/system/*' | head -1)
[[ -n $unit ]] || die "no service-vm-host.service installed"
UNITS=$(dirname "$unit")
sysusers=$(find "$DEST" -path '*/sysusers.d/os-infrastructure.conf' | head -1)
tmpfiles=$(find "$DEST" -path '*/tmpfiles.d/os-infrastructure.conf' | head -1)
[[ -f $sysusers && -f $tmpfiles ]] || die "sysusers.d or tmpfiles.d file not installed"

# exposure UNIT: systemd-analyze's overall score for the installed file.
exposure() {
	systemd-analyze security --offline=true "$UNITS/$1" 2>/dev/null |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p'
}
for u in service-vm-fleet.service service-vm-host.service service-vm-host-virt@.service osi-backup@.service; do
	score=$(exposure "$u")
	[[ -n $score ]] || die "no score for $u: $(systemd-analyze security --offline=true "$UNITS/$u" 2>&1 | tail -n 3)"
	log "$u: exposure $score"
	awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }' || die "$u: exposure $score is above 3.0"
done
pass "the fleet, the agent, the root helper and the backup service score at most 3.0 (systemd-analyze security --offline)"

key() { sed -n "s/^$2=//p" "$UNITS/$1" | tr '\n' ' ' | sed 's/ $//'; }
[[ $(key service-vm-fleet.service User) == osi && $(key service-vm-host.service User) == osi ]] ||
	die "the fleet and the agent must run as osi"
[[ -z $(key service-vm-host-virt@.service User) ]] || die "the helper runs as root"
[[ $(key service-vm-host.service CapabilityBoundingSet) == CAP_NET_ADMIN &&
	$(key service-vm-host.service AmbientCapabilities) == CAP_NET_ADMIN ]] ||
	die "the agent keeps CAP_NET_ADMIN and nothing else"
[[ $(key service-vm-fleet.service CapabilityBoundingSet) == "" ]] || die "the fleet has capabilities"
[[ $(key service-vm-fleet.service Type) == notify && $(key service-vm-host.service Type) == notify ]] ||
	die "the fleet and the agent are Type=notify"
[[ $(key service-vm-host-virt.socket Accept) == yes && $(key service-vm-host-virt.socket SocketMode) == 0660 &&
	$(key service-vm-host-virt.socket SocketUser) == root && $(key service-vm-host-virt.socket SocketGroup) == osi &&
	$(key service-vm-host-virt.socket ListenSequentialPacket) == */os-infrastructure/virt.sock ]] ||
	die "the helper's socket: $(grep -v '^#' "$UNITS/service-vm-host-virt.socket")"
[[ $(key service-vm-host-virt@.service LimitCORE) == 0 && $(key osi-backup@.service LimitCORE) == 0 ]] ||
	die "the root helper and the backup service hold volume keys: LimitCORE=0"
pass "users, capabilities, Type=notify, the helper's socket (root:osi 0660, Accept=yes, seqpacket), no core dumps of key holders"

# verify: copies whose program paths point into the staging tree.
mkdir -p "$T/verify"
prefix=$(sed -n 's|^ExecStart=\(.*\)/bin/service-vm-host .*|\1|p' "$UNITS/service-vm-host.service")
for f in "$UNITS"/osi-mesh.service "$UNITS"/osi-backup@.* "$UNITS"/service-vm-*; do
	sed "s|=\(+\{0,1\}\)$prefix/|=\1$DEST$prefix/|" "$f" > "$T/verify/$(basename "$f")"
done
out=$(cd "$T/verify" && systemd-analyze verify ./* 2>&1) || die "systemd-analyze verify: $out"
[[ -z $out ]] || die "systemd-analyze verify: $out"
pass "systemd-analyze verify has nothing to say about the units"

mkdir -p "$SYS/etc" "$SYS/var/lib/os-infrastructure"
systemd-sysusers --root="$SYS" "$sysusers" > "$T/sysusers.log" 2>&1 || die "sysusers: $(cat "$T/sysusers.log")"
uid=$(awk -F: '$1 == "osi" { print $3 }' "$SYS/etc/passwd")
gid=$(awk -F: '$1 == "osi" { print $3 }' "$SYS/etc/group")
[[ -n $uid && -n $gid ]] || die "no osi user: $(cat "$SYS/etc/passwd")"
# As genesis leaves them: root's files, mode 0600.
for f in identity ledger host.conf; do
	echo x > "$SYS/var/lib/os-infrastructure/$f"
	chmod 0600 "$SYS/var/lib/os-infrastructure/$f"
done
systemd-tmpfiles --root="$SYS" --create "$tmpfiles" > "$T/tmpfiles.log" 2>&1 || die "tmpfiles: $(cat "$T/tmpfiles.log")"
st() { stat -c '%a %u:%g' "$SYS/$1"; }
[[ $(st var/lib/os-infrastructure) == "1770 0:$gid" ]] || die "state dir: $(st var/lib/os-infrastructure)"
[[ $(st run/os-infrastructure) == "1775 0:$gid" ]] || die "run dir: $(st run/os-infrastructure)"
[[ $(st var/lib/os-infrastructure/identity) == "600 $uid:$gid" ]] || die "identity: $(st var/lib/os-infrastructure/identity)"
[[ $(st var/lib/os-infrastructure/ledger) == "644 $uid:$gid" ]] || die "ledger: $(st var/lib/os-infrastructure/ledger)"
[[ $(st var/lib/os-infrastructure/host.conf) == "644 0:0" ]] || die "host.conf: $(st var/lib/os-infrastructure/host.conf)"
[[ $(st var/lib/os-infrastructure/backups) == "700 0:0" ]] || die "backups: $(st var/lib/os-infrastructure/backups)"
pass "sysusers makes osi; tmpfiles gives the agent its identity and ledger and keeps host.conf root's in a sticky root directory"
