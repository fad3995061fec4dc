#!/bin/bash
# The Debian packages: `make deb` builds them from a copy of this tree, lintian
# finds no error, each package holds its files, and in a fresh Debian 12 chroot
# (mmdebstrap) apt installs them with their dependencies; there the units are
# enabled, the programs run, state survives remove, reinstall and an upgrade
# to a newer version, and purge alone deletes it, asking nothing.
source "$(dirname "$0")/lib.sh"

SRC=${OSI_SOURCE:?OSI_SOURCE must point at the source tree}
[[ $(id -u) -eq 0 ]] || skip "needs root (mmdebstrap, apt in a chroot)"
command -v git >/dev/null || skip "git missing (make deb copies the tree's files by git's list)"
for p in build-essential dpkg-dev debhelper lintian mmdebstrap; do # make deb-deps installs them
	dpkg-query -W -f '${Status}' $p 2>/dev/null | grep -q 'install ok installed' ||
		skip "$p not installed (make deb-deps installs the packaging tools)"
done
(cd "$SRC" && dpkg-checkbuilddeps) >"$T/builddeps.log" 2>&1 ||
	skip "build dependencies missing: $(cat "$T/builddeps.log")"

errors=0
check() { # check MESSAGE COMMAND...: records a failure, goes on
	local msg=$1
	shift
	if "$@"; then pass "$msg"; else log "FAIL: $msg"; errors=$((errors + 1)); fi
}

# 4 starts first: mmdebstrap bootstraps a fresh Debian 12 (apt variant)
# while make deb builds, then waits for the packages ($T/debs.ready) before
# it copies them in and runs the scenario. Debian's sources as this machine
# has them; its apt cache, hard-linked (or copied), spares most downloads.
# dpkg syncs nothing to disk there (force-unsafe-io): the chroot is thrown away.
mirror=()
[[ -f /etc/apt/sources.list.d/debian.sources ]] && mirror=(/etc/apt/sources.list.d/debian.sources)
mkdir -p "$T/debs"
debs_ready() { : > "$T/debs.ready"; }
debs_abort() { # a test ending before then ends the wait: mmdebstrap fails, unmounting what it mounted
	: > "$T/debs.abort"
	[[ -z ${PIDS[chroot]:-} ]] || wait "${PIDS[chroot]}" || true
}
at_exit debs_abort
start=$(date +%s)
mmdebstrap --variant=apt --dpkgopt=force-unsafe-io \
	--setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
	--setup-hook='cp -al /var/cache/apt/archives/*.deb "$1/var/cache/apt/archives/" 2>/dev/null || cp /var/cache/apt/archives/*.deb "$1/var/cache/apt/archives/" 2>/dev/null || true' \
	--customize-hook="until [ -e '$T/debs.ready' ]; do [ ! -e '$T/debs.abort' ] || exit 1; sleep 0.5; done" \
	--customize-hook="copy-in $T/debs /tmp" \
	--customize-hook='chroot "$1" sh /tmp/debs/scenario.sh' \
	bookworm "$T/root" "${mirror[@]}" >"$T/chroot.log" 2>&1 &
PIDS[chroot]=$!

# 1. make deb: the packages, then lintian (make deb fails on an error too).
key=$(tree_key) # before the build: what it builds from
make -C "$SRC" deb DEB_OUT="$T/out" >"$T/make-deb.log" 2>&1 ||
	{ tail -40 "$T/make-deb.log"; die "make deb"; }
log "make deb took $(($(date +%s) - start)) s"
# host-image.sh builds its image from these instead of building them again
for old in "$DEB_CACHE"/*; do # one tree's kept
	[[ $old =~ /[0-9a-f]{16}(\.part)?$ ]] && rm -rf "$old"
done
mkdir -p "$DEB_CACHE/$key.part" && cp "$T"/out/*.deb "$DEB_CACHE/$key.part/" &&
	mv "$DEB_CACHE/$key.part" "$DEB_CACHE/$key" || log "cannot keep the packages in $DEB_CACHE"
check "the checkout gets no build products (debian/, obj-*)" \
	test -z "$(cd "$SRC" && git ls-files --others --ignored --exclude-standard -- debian 'obj-*')"
VER=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
ARCH=$(dpkg --print-architecture)
HOST=$T/out/os-infrastructure_${VER}_$ARCH.deb
FLEET=$T/out/os-infrastructure-fleet_${VER}_$ARCH.deb
# lintian's report on these packages: make deb's own run of it, not a second
sed -n '/^lintian .*\.changes$/,$p' "$T/make-deb.log" >"$T/lintian.log"
check "lintian ran on the packages (make deb)" test -s "$T/lintian.log"
check "lintian: no error" bash -c "! grep '^E:' '$T/lintian.log'"
grep -E '^[WE]:' "$T/lintian.log" || true

# 2. What each package holds.
has() { dpkg-deb -c "$1" | awk '{print $6}' | grep -qx "./$2"; }
for f in usr/bin/os-infrastructure usr/bin/service-vm-host usr/bin/app-network-admin \
	usr/libexec/os-infrastructure/service-vm-host-guests \
	usr/libexec/os-infrastructure/service-vm-host-virt \
	lib/systemd/system/osi-mesh.service lib/systemd/system/service-vm-host.service \
	usr/share/os-infrastructure/images/totebox.json \
	usr/share/os-infrastructure/images/totebox/user-data \
	usr/share/man/man8/os-infrastructure.8.gz usr/share/man/man8/service-vm-host.8.gz \
	usr/share/bash-completion/completions/os-infrastructure \
	usr/share/doc/os-infrastructure/copyright; do
	check "os-infrastructure holds /$f" has "$HOST" "$f"
done
for f in usr/bin/service-vm-fleet lib/systemd/system/service-vm-fleet.service \
	lib/systemd/system/service-vm-fleet-ledger.path usr/share/man/man8/service-vm-fleet.8.gz; do
	check "os-infrastructure-fleet holds /$f" has "$FLEET" "$f"
done
check "the fleet is not in the host package" bash -c "! dpkg-deb -c '$HOST' | grep -q service-vm-fleet"
for d in "$HOST" "$FLEET"; do
	dpkg-deb -e "$d" "$T/ctl"
	check "$(basename "$d"): no debconf, no prompt" \
		bash -c "! grep -lE 'debconf|confmodule|\bread\b' '$T'/ctl/*[a-z]inst '$T'/ctl/*rm 2>/dev/null && [ ! -e '$T/ctl/templates' ]"
	rm -rf "$T/ctl"
done
# An upgrade restarts what runs (item 4), a first install starts nothing, and
# the mesh interface stays up across an upgrade.
dpkg-deb -e "$HOST" "$T/ctl-host" && dpkg-deb -e "$FLEET" "$T/ctl-fleet"
check "an upgrade try-restarts service-vm-host" grep -q "try-restart .*'service-vm-host.service'" "$T/ctl-host/postinst"
check "an upgrade try-restarts service-vm-fleet" grep -q "try-restart .*'service-vm-fleet.service'" "$T/ctl-fleet/postinst"
check "nothing starts on a first install" bash -c "! grep -qE 'deb-systemd-invoke (start|restart) |_dh_action=start' '$T'/ctl-*/postinst"
check "the mesh is not restarted on upgrade" bash -c "! grep -q \"restart 'osi-mesh\" '$T/ctl-host/postinst'"

# 3. The upgrade: the same packages with a newer version (repacked, so the
#    maintainer scripts run an upgrade from VER to NEW).
NEW=$VER+upgrade1
repack() { # repack DEB OUT
	rm -rf "$T/re" && dpkg-deb -R "$1" "$T/re"
	sed -i "s/^Version: .*/Version: $NEW/; s/(= $VER)/(= $NEW)/" "$T/re/DEBIAN/control"
	dpkg-deb -b --root-owner-group "$T/re" "$2" >/dev/null
}
cp "$HOST" "$FLEET" "$T/debs/"
repack "$HOST" "$T/debs/os-infrastructure_${NEW}_$ARCH.deb"
repack "$FLEET" "$T/debs/os-infrastructure-fleet_${NEW}_$ARCH.deb"

# 4. A fresh Debian 12 (apt variant) and the life of the packages in it.
printf 'VER=%s NEW=%s ARCH=%s\n' "$VER" "$NEW" "$ARCH" >"$T/debs/versions"
cat >"$T/debs/scenario.sh" <<'EOF'
#!/bin/sh
set -eu
export DEBIAN_FRONTEND=noninteractive
cd /tmp/debs
. ./versions
S=/var/lib/os-infrastructure W=/etc/systemd/system/multi-user.target.wants
apt() { apt-get -y -q -o Dpkg::Use-Pty=0 "$@" </dev/null >>/tmp/debs/apt.log 2>&1; }
t() { # t MESSAGE COMMAND...
	m=$1
	shift
	if "$@"; then echo "ok: $m"; else echo "FAIL: $m"; exit 1; fi
}
sum() { cat $S/identity $S/trust $S/ledger $S/fleet.db /etc/os-infrastructure/host.conf | md5sum; }
both() { echo ./os-infrastructure_$1_$ARCH.deb ./os-infrastructure-fleet_$1_$ARCH.deb; }

t "apt installs ./os-infrastructure*.deb with their dependencies" apt install $(both $VER)
t "libvirt and qemu pulled in" dpkg -s libvirt-daemon-system qemu-system-x86 qemu-utils
mode=$(stat -c '%a %U:%G' $S)
t "$S ($mode) is not world-readable" test "$(($(stat -c %a $S) % 10))" = 0
t "/etc/os-infrastructure exists" test -d /etc/os-infrastructure
for f in /lib/systemd/system/osi-* /lib/systemd/system/service-vm-*; do
	u=${f##*/}
	# A template (osi-backup@.timer) is enabled per instance, by the operator
	# (vm backup GUEST --every), never by the package.
	case $u in *@.*) continue ;; esac
	for target in $(sed -n 's/^WantedBy=//p' "$f"); do
		t "$u enabled ($target)" test -L /etc/systemd/system/$target.wants/$u
	done
done
t "units enabled include the agent" test -L $W/service-vm-host.service
t "units enabled include the fleet" test -L $W/service-vm-fleet.service
for f in $(dpkg -L os-infrastructure os-infrastructure-fleet | grep '/sysusers\.d/.*\.conf$'); do
	for user in $(awk '$1 == "u" { print $2 }' "$f"); do
		t "system user $user ($f)" getent passwd "$user"
	done
done
t "os-infrastructure runs" os-infrastructure --help
t "service-vm-host runs" service-vm-host --help
t "service-vm-fleet runs" service-vm-fleet --help
t "keygen writes $S/identity" sh -c "os-infrastructure keygen --name deb-test --role node,fleet >/tmp/debs/line"
t "identity written" test -s $S/identity
t "trust add writes $S/trust" os-infrastructure --trust-file $S/trust trust add --line "$(cat /tmp/debs/line)"
# A short run of the installed fleet writes a real fleet.db (ports off the
# defaults, so nothing else on the machine is disturbed).
service-vm-fleet --config /dev/null --set state_dir=$S --set trust_file=$S/trust \
	--set api_socket=/tmp/debs/fleet.sock --set heartbeat_listen=127.0.0.1:47191 \
	--set api_listen=127.0.0.1:47192 --set metrics_listen=127.0.0.1:47193 >/tmp/debs/fleet.log 2>&1 &
fleet=$!
i=0
while [ ! -S /tmp/debs/fleet.sock ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
t "the installed fleet answers" os-infrastructure --socket /tmp/debs/fleet.sock --trust-file $S/trust status
kill -TERM $fleet && wait $fleet
t "the fleet wrote $S/fleet.db" test -s $S/fleet.db
# A real ledger needs a WireGuard interface (genesis brings up the mesh): the
# packages treat it as opaque bytes, so a stand-in shows it is kept as well.
echo ledger >$S/ledger
echo conf >/etc/os-infrastructure/host.conf
mkdir -p /var/log/os-infrastructure
before=$(sum)

t "apt remove" apt remove os-infrastructure-fleet os-infrastructure
t "remove removes the programs" test ! -e /usr/bin/os-infrastructure
t "remove keeps identity, trust, ledger, fleet.db, /etc" test "$(sum)" = "$before"
t "reinstall" apt install $(both $VER)
t "reinstall keeps the state" test "$(sum)" = "$before"
t "upgrade to $NEW" apt install $(both $NEW)
t "version is $NEW" test "$(dpkg-query -W -f '${Version}' os-infrastructure-fleet)" = "$NEW"
t "upgrade keeps identity, trust, ledger, fleet.db, /etc" test "$(sum)" = "$before"
t "upgrade keeps $S $mode" test "$(stat -c '%a %U:%G' $S)" = "$mode"
t "still enabled after the upgrade" test -L $W/service-vm-host.service

t "apt purge os-infrastructure-fleet" apt purge os-infrastructure-fleet
t "fleet purge deletes fleet.db" test ! -e $S/fleet.db
t "fleet purge keeps the identity" test -e $S/identity
t "apt purge os-infrastructure" apt purge os-infrastructure
t "purge deletes $S" test ! -e $S
t "purge deletes /etc/os-infrastructure" test ! -e /etc/os-infrastructure
t "purge deletes /var/log/os-infrastructure" test ! -e /var/log/os-infrastructure
t "purge removes the enablement" test ! -e $W/service-vm-host.service
echo "scenario done"
EOF

ready=$(date +%s)
debs_ready
wait "${PIDS[chroot]}" || chroot_rc=$?
unset 'PIDS[chroot]'
log "chroot, install, remove, upgrade, purge took $(($(date +%s) - start)) s from the start, $(($(date +%s) - ready)) s after the packages"
grep -E '^(ok|FAIL|scenario)' "$T/chroot.log" || true
check "the chroot scenario ran to its end" grep -q '^scenario done' "$T/chroot.log"
if [[ ${chroot_rc:-0} -ne 0 || $errors -ne 0 ]]; then
	tail -40 "$T/chroot.log"
	[[ -f $T/root/tmp/debs/apt.log ]] && tail -40 "$T/root/tmp/debs/apt.log"
fi
rm -rf "$T/root"
[[ $errors -eq 0 ]] || die "$errors check(s) failed"
pass "packages build, lint, install, upgrade and purge as they should"
