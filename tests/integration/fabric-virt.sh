#!/bin/bash
# The guest fabric on one node, through the privileged helper and a real
# (system-mode, root) libvirtd that this test starts in its own mount and
# network namespaces, so nothing is shared with the machine's:
#
#   helper-call ──$T/virt-a.sock──> service-vm-host-virt (host.conf: fabric,
#                                    │ state_dir $T/a with node-a's ledger)
#                                    └─ $T/lv/sock ──> libvirtd  ┐ private /etc
#   nsenter --net (busybox nslookup/wget) ─────────> osibr0 10.78.1.1/24,
#                                                    dnsmasq, qemu (TCG)
#
# The helper's `fabric` makes the routed network osi-fabric (forward mode
# route) from the ledger, idempotently; a create on the fabric gives the
# guest a static lease (the lowest free address) recorded in its metadata;
# the test guest takes that address by DHCP and serves HTTP on it (curl); its name
# and the names file's names resolve through the network's dnsmasq; a bad
# names file is refused whole and changes nothing; the guest keeps its
# address across a power cycle; an export and import keep its MAC in a
# lease of this node's; destroy frees the lease for the next guest.
# The test guest runs Debian's qemu-ga on the domain's guest agent channel:
# the guests probe (service-vm-host-guests, read-write here as root) reports
# its eth0 address from virDomainInterfaceAddresses' agent source (ga=), and
# none while the agent is not up. As packaged (not root, read-only
# libvirt), the probe reports the connected channel but no address, and the
# root helper's agent-addresses verb reports it.
# Skipped (77) without root, qemu, libvirtd, dnsmasq, iptables, overlayfs or
# a Debian mirror for the test guest's packages.
source "$(dirname "$0")/lib.sh"

TOOL=${OSI_VIRT_TOOL:?OSI_VIRT_TOOL must point at virt-tool}
HC=${OSI_HELPER_CALL:?OSI_HELPER_CALL must point at helper-call}
SRC=${OSI_SOURCE:?}
CACHE=${OSI_TESTGUEST_CACHE:-$BUILD/testguest-cache}
LV=$T/lv
ZONE=osi.internal

[[ $(id -u) == 0 ]] || skip "needs root (a system libvirtd, loop devices for the test guest)"
export PATH=$PATH:/usr/sbin:/sbin
for p in libvirtd qemu-system-x86_64 qemu-img dnsmasq iptables unshare nsenter busybox curl \
	systemd-socket-activate losetup mkfs.ext4 ebtables setpriv; do
	command -v "$p" >/dev/null || skip "$p not installed"
done
[[ -s /etc/libvirt/nwfilter/clean-traffic.xml ]] ||
	skip "libvirt-daemon-config-nwfilter not installed (clean-traffic, named by fabric guests)"
unshare -m sh -c 'mount -t tmpfs t /mnt && mkdir /mnt/u /mnt/w &&
	mount -t overlay o -o lowerdir=/etc,upperdir=/mnt/u,workdir=/mnt/w /etc' 2>/dev/null ||
	skip "no overlayfs in a mount namespace (the private libvirtd's /etc)"

TESTGUEST_IMG=$("$SRC/images/testguest/build.sh" "$CACHE" 2> "$T/testguest-build.log") || {
	rc=$?
	[[ $rc == 3 ]] && skip "test guest packages unavailable: $(tail -n 1 "$T/testguest-build.log")"
	die "test guest build failed: $(tail -n 5 "$T/testguest-build.log")"
}

# ---- node-a's ledger (founder at 10.77.0.1: guest subnet 10.78.1.0/24) ----
mkdir -p "$T/a"
unshare -n "$OSI_BIN" --state-dir "$T/a" --genesis --no-invite --no-start --name node-a \
	> "$T/genesis.log" 2>&1 || die "genesis: $(tail -n 3 "$T/genesis.log")"
wg=$(sed -n 's/.*wireguard-go pid \([0-9]*\).*/\1/p' "$T/genesis.log")
[[ -n $wg ]] && kill "$wg" 2>/dev/null || true # its namespace is gone with unshare
GW=10.78.1.1

# ---- a system libvirtd of our own: private /etc (overlay), /run, /var ----
mkdir -p "$LV"/{sock,pool,consoles,ovl,nwfilter}
cp /etc/libvirt/nwfilter/*.xml "$LV/nwfilter/"
cat > "$LV/libvirtd.conf" <<EOF
unix_sock_dir = "$LV/sock"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "2:stderr"
EOF
unshare --mount --net --propagation private -- bash -c '
	set -e
	lv=$1
	mount -t tmpfs tmpfs "$lv/ovl"
	mkdir "$lv/ovl/u" "$lv/ovl/w"
	mount -t overlay overlay -o "lowerdir=/etc,upperdir=$lv/ovl/u,workdir=$lv/ovl/w" /etc
	rm -rf /etc/libvirt
	mkdir -p /etc/libvirt/nwfilter
	cp "$lv"/nwfilter/*.xml /etc/libvirt/nwfilter/
	# libvirtd resolves its built-in qemu user before reading qemu.conf
	getent passwd libvirt-qemu >/dev/null ||
		echo "libvirt-qemu:x:64055:64055::/nonexistent:/usr/sbin/nologin" >> /etc/passwd
	getent group libvirt-qemu >/dev/null || echo "libvirt-qemu:x:64055:" >> /etc/group
	printf "%s\n" "user = \"root\"" "group = \"root\"" "dynamic_ownership = 0" \
		"security_driver = \"none\"" "stdio_handler = \"file\"" "cgroup_controllers = [ ]" \
		> /etc/libvirt/qemu.conf
	mount -t tmpfs tmpfs /run
	mount -t tmpfs tmpfs /var
	mkdir -p /var/lib /var/cache /var/log /var/tmp /run/lock
	ln -s /run /var/run
	ip link set lo up
	exec libvirtd -f "$lv/libvirtd.conf"' fabric-libvirtd "$LV" >> "$T/libvirtd.log" 2>&1 &
PIDS[libvirtd]=$!
LVPID=$!
URI="qemu+unix:///system?socket=$LV/sock/libvirt-sock"
in_node() { nsenter --net="/proc/$LVPID/ns/net" "$@"; }
NETS=/proc/$LVPID/root/etc/libvirt/qemu/networks # its persistent network definitions

# Whatever libvirtd started (qemu, dnsmasq), by the PIDs it recorded.
fabric_cleanup() {
	local f pid
	for f in /proc/"$LVPID"/root/run/libvirt/qemu/*.pid /proc/"$LVPID"/root/run/libvirt/network/*.pid; do
		[[ -f $f ]] || continue
		pid=$(cat "$f" 2>/dev/null) || continue
		[[ $pid =~ ^[0-9]+$ ]] && grep -qE 'qemu|dnsmasq' "/proc/$pid/cmdline" 2>/dev/null &&
			kill -KILL "$pid" 2>/dev/null || true
	done
	[[ $FAILED -eq 0 ]] || cp "$LV"/consoles/*.log "$T"/ 2>/dev/null || true
}
at_exit fabric_cleanup

vt() { "$TOOL" --uri "$URI" --pool-dir "$LV/pool" --index "$LV/pool.json" \
	--consoles "$LV/consoles" --fetch-url http://127.0.0.1:9/ "$@"; }

wait_until 20 vt domains || die "the private libvirtd did not answer on $URI"
out=$(vt image-import "$TESTGUEST_IMG" testguest) || die "image import: $out"
pass "private system libvirtd up (own /etc, /run, /var and network namespace)"

# ---- the helper, as its socket unit runs it, with its own host.conf ----
cat > "$T/virt-a.conf" <<EOF
name = node-a
state_dir = $T/a
virt_uri = $URI
images_dir = $SRC/images
pool_dir = $LV/pool
console_dir = $LV/consoles
base_image = testguest
guest_zone = $ZONE
EOF
systemd-socket-activate --accept --seqpacket -l "$T/virt-a.sock" \
	"$BUILD/service-vm-host/service-vm-host-virt" --config "$T/virt-a.conf" >> "$T/virt-a.log" 2>&1 &
PIDS[virt-a]=$!
wait_until 10 test -S "$T/virt-a.sock" || die "the helper's socket did not appear"
hc() { "$HC" "$T/virt-a.sock" "$@"; }

out=$(hc fabric) || die "fabric: $out"
[[ $out == *'"state":"fabric"'* ]] || die "fabric reported: $out"
has_gw() { in_node ip -4 -br addr show osibr0 2>/dev/null | grep -q " $GW/24"; }
wait_until 10 has_gw || die "osibr0: $(in_node ip -br addr)"
dns_pid() { cat "/proc/$LVPID/root/run/libvirt/network/osi-fabric.pid" 2>/dev/null; }
wait_until 10 test -n "$(dns_pid)" || die "no dnsmasq for osi-fabric: $(tail -n 5 "$T/libvirtd.log")"
pid1=$(dns_pid)
xml=$(cat "$NETS/osi-fabric.xml")
[[ $xml == *"<forward mode='route'/>"* && $xml == *"<domain name='$ZONE' localOnly='yes'/>"* &&
	$xml == *"<range start='10.78.1.2' end='10.78.1.254'/>"* ]] || die "network definition: $xml"
[[ -L $NETS/autostart/osi-fabric.xml ]] || die "osi-fabric not autostarted"
out=$(hc fabric) || die "second fabric: $out"
[[ $(dns_pid) == "$pid1" ]] || die "a second fabric restarted the network"
pass "fabric: osi-fabric routed on osibr0 at $GW/24 from the ledger, autostarted; again: left as it was"

# ---- a guest on the fabric: static lease, metadata, DHCP, HTTP ----
out=$(hc create web1 mediakit 192 1) || die "create web1: $out"
[[ $out == *'"state":"running"'*'"detail":"10.78.1.2"'* ]] || die "create web1 reported: $out"
show=$(vt show web1) || die "show web1"
[[ $show == *"address=10.78.1.2"* ]] || die "web1's metadata: $show"
mac=$(sed -n "s/.*<host mac='\([0-9a-f:]*\)' name='web1'.*/\1/p" "$NETS/osi-fabric.xml")
[[ $(grep -c "name='web1' ip='10.78.1.2'" "$NETS/osi-fabric.xml") == 1 ]] ||
	die "no static lease for web1 in the persistent definition"
console_ip() { grep -qa "osi-testguest net ip=$2 " "$LV/consoles/$1.log" 2>/dev/null; }
wait_until 240 console_ip web1 10.78.1.2 ||
	die "web1 never took 10.78.1.2: $(tail -c 800 "$LV/consoles/web1.log" 2>/dev/null)"
wait_until 30 in_node curl -fsS -m 3 -o "$T/page" http://10.78.1.2/ || die "web1's HTTP unreachable"
grep -q "^osi-testguest web1 " "$T/page" || die "web1 served: $(cat "$T/page")"
pass "web1: static lease 10.78.1.2 ($mac) in osi:address, taken by DHCP, serving HTTP"
dom=$(cat "/proc/$LVPID/root/etc/libvirt/qemu/web1.xml")
[[ $dom == *"<filterref filter='clean-traffic'>"*"<parameter name='IP' value='10.78.1.2'/>"*"<parameter name='MAC' value='$mac'/>"* ]] ||
	die "web1's interface has no clean-traffic filter: $(grep -A4 '<interface' <<<"$dom")"
binding() { grep -lq "clean-traffic" /proc/"$LVPID"/root/run/libvirt/nwfilter-binding/*.xml 2>/dev/null; }
binding || die "no clean-traffic binding in the private libvirtd: $(ls /proc/$LVPID/root/run/libvirt/)"
pass "web1's interface carries clean-traffic (IP 10.78.1.2, MAC $mac), bound, and the guest still serves"

# ---- the guest agent: the test guest runs Debian's qemu-ga on its channel ----
probe() { "$BUILD/service-vm-host/service-vm-host-guests" "$URI"; }
wait_until 60 grep -qa "osi-testguest agent started" "$LV/consoles/web1.log" ||
	die "web1's qemu-ga did not start: $(grep -a 'agent' "$LV/consoles/web1.log")"
agent_seen() { probe > "$T/probe.out" 2>&1; grep -q " ga=web1:eth0:10.78.1.2\( \|\$\)" "$T/probe.out"; }
wait_until 30 agent_seen || die "the probe has no agent address for web1: $(cat "$T/probe.out")"
grep -q "^ok .* ip=web1:10.78.1.2 .* vm=web1:mediakit:running:" "$T/probe.out" ||
	die "the probe's other tokens: $(cat "$T/probe.out")"
live=$(cat "/proc/$LVPID/root/run/libvirt/qemu/web1.xml") # libvirtd's live status
[[ $live == *"name='org.qemu.guest_agent.0' state='connected'"* ]] ||
	die "web1's agent channel is not connected: $(grep -A2 '<channel' <<<"$live")"
pass "web1's qemu-ga reports eth0 10.78.1.2 through virDomainInterfaceAddresses (probe: $(grep -o ' ga=[^ ]*' "$T/probe.out" | tr -d '\n'))"

# ---- as packaged: the probe unprivileged on the read-only socket, which
# libvirt does not answer the agent's view on; the root helper's fixed verb
# agent-addresses does (what the agent, not root, asks after such a probe) ----
chmod o+x "$T" "$LV" "$LV/sock" # traversable, as /run/libvirt is
uprobe() { setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$BUILD/service-vm-host/service-vm-host-guests" "qemu+unix:///system?socket=$LV/sock/libvirt-sock-ro"; }
out=$(uprobe 2>&1) || die "the unprivileged probe: $out"
[[ $out == "ok "*" channels=1 "* && $out != *" ga="* ]] ||
	die "the unprivileged probe should count web1's agent channel and report no address: $out"
out=$(hc agent-addresses) || die "agent-addresses: $out"
[[ $out == *'"state":"agent"'*" ga=web1:eth0:10.78.1.2"* ]] || die "agent-addresses: $out"
pass "unprivileged probe: channels=1, no ga=; the helper's agent-addresses: $(grep -o ' ga=[^ "]*' <<<"$out" | tr -d '\n')"

lookup() { # lookup NAME ADDR: NAME resolves to ADDR through the network's dnsmasq
	in_node busybox nslookup "$1" "$GW" 2>/dev/null | sed -n '/^Name:/,$p' | grep -q "^Address: *$2\$"
}
wait_until 10 lookup "web1.$ZONE" 10.78.1.2 || die "web1.$ZONE: $(in_node busybox nslookup "web1.$ZONE" "$GW" 2>&1)"
pass "web1.$ZONE resolves to 10.78.1.2 at $GW (libvirt's dnsmasq)"

# ---- the names file: all or nothing ----
printf '10.77.0.1 node-a.%s\n10.78.1.2 www.%s\n' "$ZONE" "$ZONE" > "$T/a/names"
out=$(hc names) || die "names: $out"
wait_until 5 lookup "node-a.$ZONE" 10.77.0.1 || die "node-a.$ZONE does not resolve"
wait_until 5 lookup "www.$ZONE" 10.78.1.2 || die "www.$ZONE does not resolve"
pass "names file served: node-a.$ZONE -> 10.77.0.1, www.$ZONE -> 10.78.1.2"

def_before=$(cat "$NETS/osi-fabric.xml")
printf '10.77.0.1 node-b.%s\n8.8.8.8 evil.%s\n' "$ZONE" "$ZONE" > "$T/a/names"
out=$(hc names 2>&1) && die "a names file with an address outside the prefixes was taken: $out"
[[ $out == *"line 2: address outside"* ]] || die "refusal says: $out"
refusal=$(sed -n 's/.*"detail":"\([^"]*\)".*/\1/p' <<<"$out")
printf '10.77.0.1 node-b.%s\n' "$ZONE" > "$T/a/real"
rm -f "$T/a/names" && ln -s "$T/a/real" "$T/a/names"
out=$(hc names 2>&1) && die "a symlinked names file was taken: $out"
[[ $(cat "$NETS/osi-fabric.xml") == "$def_before" ]] ||
	die "a refused names file changed the network"
lookup "node-a.$ZONE" 10.77.0.1 && ! lookup "node-b.$ZONE" 10.77.0.1 || die "a refused names file changed DNS"
pass "bad names files (an address outside the prefixes, a symlink) refused whole: $refusal"

# ---- the same address after a power cycle ----
vt stop --force web1 >/dev/null || die "stop web1"
: > "$LV/consoles/web1.log" || true
vt start web1 >/dev/null || die "start web1"
probe > "$T/probe.out" 2>&1 || die "probe: $(cat "$T/probe.out")"
grep -q " ga=" "$T/probe.out" && ! grep -qa "agent started" "$LV/consoles/web1.log" &&
	die "agent addresses while web1's agent is not up: $(cat "$T/probe.out")"
wait_until 240 console_ip web1 10.78.1.2 || die "after a power cycle web1 has: $(grep -a 'net ip=' "$LV/consoles/web1.log")"
pass "web1 kept 10.78.1.2 across a power cycle (no agent addresses before its agent was up)"

# ---- an export, then an import on the fabric: the guest keeps its MAC (a
# move's import is this one), and takes this node's lease ----
osi_a() { "$OSI_BIN" --state-dir "$T/a" "$@" --config "$T/virt-a.conf" --uri "$URI" --pool-dir "$LV/pool"; }
vt stop --force web1 >/dev/null || die "stop web1 for its export"
out=$(osi_a vm export web1 "$T/web1.osx" 2>&1) || die "export web1: $out"
out=$(hc destroy web1) || die "destroy web1 before its import: $out"
grep -q "name='web1'" "$NETS/osi-fabric.xml" && die "web1's lease outlived it"
out=$(osi_a vm import "$T/web1.osx" --node node-a 2>&1) || die "import web1: $out"
[[ $(grep -c "<host mac='$mac' name='web1' ip='10.78.1.2'/>" "$NETS/osi-fabric.xml") == 1 ]] ||
	die "the imported web1's lease is not $mac at 10.78.1.2: $(grep "name='web1'" "$NETS/osi-fabric.xml")"
dom=$(cat "/proc/$LVPID/root/etc/libvirt/qemu/web1.xml")
[[ $dom == *"<mac address='$mac'/>"*"<parameter name='MAC' value='$mac'/>"* ]] ||
	die "the imported web1's interface: $(grep -A6 '<interface' <<<"$dom")"
[[ $(vt show web1) == *"address=10.78.1.2"* ]] || die "the imported web1: $(vt show web1)"
pass "web1 exported and imported on the fabric: its MAC $mac kept, in a lease of this node's range (10.78.1.2)"

# ---- destroy frees the lease: the next guest gets the lowest address ----
out=$(hc destroy web1) || die "destroy web1: $out"
grep -q "name='web1'" "$NETS/osi-fabric.xml" && die "web1's lease outlived it"
out=$(hc create web2 totebox 192 1) || die "create web2: $out"
[[ $(vt show web2) == *"address=10.78.1.2"* ]] || die "web2: $(vt show web2)"
out=$(hc destroy web2) || die "destroy web2: $out"
pass "destroy released the lease; the next guest took 10.78.1.2 again"
