# A private system libvirtd per node for the guest-fabric tests; sourced after
# lib.sh. start_node_libvirtd NODE NETNS starts libvirtd (root, system mode)
# inside the named network namespace NETNS, in a mount namespace of its own
# with an overlay over /etc and tmpfs /run and /var, so the routed network it
# makes (osibr0, dnsmasq, iptables) and its guests live in NETNS and nothing
# is shared with the machine's libvirtd. Sets LVDIR[NODE], LVPID[NODE] and
# URI_OF[NODE]; cleanup kills the qemu and dnsmasq processes it recorded.
declare -A LVDIR=() LVPID=() URI_OF=()

# fabric_libvirt_checks: skips (77) unless root, the programs and overlayfs
# in a mount namespace are there.
fabric_libvirt_checks() {
	local p
	[[ $(id -u) == 0 ]] || skip "needs root (a system libvirtd, loop devices for the test guest)"
	export PATH=$PATH:/usr/sbin:/sbin
	for p in libvirtd qemu-system-x86_64 qemu-img dnsmasq iptables unshare nsenter busybox curl \
		systemd-socket-activate losetup mkfs.ext4; do
		command -v "$p" >/dev/null || skip "$p not installed"
	done
	unshare -m sh -c 'mount -t tmpfs t /mnt && mkdir /mnt/u /mnt/w &&
		mount -t overlay o -o lowerdir=/etc,upperdir=/mnt/u,workdir=/mnt/w /etc' 2>/dev/null ||
		skip "no overlayfs in a mount namespace (the private libvirtd's /etc)"
}

# fabric_testguest: the test guest image into TESTGUEST_IMG (skip 77 without a mirror).
fabric_testguest() {
	local cache=${OSI_TESTGUEST_CACHE:-$BUILD/testguest-cache}
	TESTGUEST_IMG=$("$OSI_SOURCE/images/testguest/build.sh" "$cache" 2> "$T/testguest-build.log") || {
		local rc=$?
		[[ $rc == 3 ]] && skip "test guest packages unavailable: $(tail -n 1 "$T/testguest-build.log")"
		die "test guest build failed: $(tail -n 5 "$T/testguest-build.log")"
	}
}

# fabric_nwfilters: libvirt's stock network filters (clean-traffic and the
# ones it references, which fabric guests' interfaces name), from
# libvirt-daemon-config-nwfilter (make deps), for the private libvirtd's /etc.
fabric_nwfilters() {
	NWFILTER_DIR=/etc/libvirt/nwfilter
	[[ -s $NWFILTER_DIR/clean-traffic.xml ]] ||
		skip "libvirt-daemon-config-nwfilter not installed (clean-traffic, named by fabric guests)"
}

fabric_libvirt_cleanup() {
	local n f pid
	for n in "${!LVPID[@]}"; do
		for f in /proc/"${LVPID[$n]}"/root/run/libvirt/qemu/*.pid \
			/proc/"${LVPID[$n]}"/root/run/libvirt/network/*.pid; do
			[[ -f $f ]] || continue
			pid=$(cat "$f" 2>/dev/null) || continue
			[[ $pid =~ ^[0-9]+$ ]] && grep -qE 'qemu|dnsmasq' "/proc/$pid/cmdline" 2>/dev/null &&
				kill -KILL "$pid" 2>/dev/null || true
		done
		[[ $FAILED -eq 0 ]] || for f in "${LVDIR[$n]}"/consoles/*.log; do
			[[ -f $f ]] && cp "$f" "$T/console-$n-$(basename "$f")"
		done
	done
	return 0
}
at_exit fabric_libvirt_cleanup

start_node_libvirtd() { # start_node_libvirtd NODE NETNS
	local n=$1 ns=$2 lv=$T/lv-$1
	mkdir -p "$lv"/{sock,pool,consoles,ovl,nwfilter}
	cp "$NWFILTER_DIR"/*.xml "$lv/nwfilter/" # the overlay's /etc/libvirt starts empty
	printf '%s\n' "unix_sock_dir = \"$lv/sock\"" 'unix_sock_rw_perms = "0700"' \
		'auth_unix_rw = "none"' 'auth_unix_ro = "none"' 'log_outputs = "2:stderr"' > "$lv/libvirtd.conf"
	ip netns exec "$ns" unshare --mount --propagation private -- bash -c '
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
		exec libvirtd -f "$lv/libvirtd.conf"' "libvirtd-$n" "$lv" >> "$T/libvirtd-$n.log" 2>&1 &
	PIDS[libvirtd-$n]=$!
	LVPID[$n]=$!
	LVDIR[$n]=$lv
	URI_OF[$n]="qemu+unix:///system?socket=$lv/sock/libvirt-sock"
}

# lvt NODE ARGS...: virt-tool on NODE's libvirtd.
lvt() {
	local n=$1; shift
	"$OSI_VIRT_TOOL" --uri "${URI_OF[$n]}" --pool-dir "${LVDIR[$n]}/pool" \
		--index "${LVDIR[$n]}/pool.json" --consoles "${LVDIR[$n]}/consoles" \
		--fetch-url http://127.0.0.1:9/ "$@"
}

# start_node_helper NODE MEMBER STATE_DIR ZONE: the privileged helper as its
# socket unit runs it, on $T/virt-NODE.sock, for NODE's libvirtd and the
# ledger in STATE_DIR, where it is the member named MEMBER.
start_node_helper() {
	local n=$1 lv=${LVDIR[$1]}
	printf '%s\n' "name = $2" "state_dir = $3" "virt_uri = ${URI_OF[$n]}" \
		"images_dir = $OSI_SOURCE/images" "pool_dir = $lv/pool" "console_dir = $lv/consoles" \
		"base_image = testguest" "guest_zone = $4" "seal_key = $T/seal-$n/seal.key" > "$T/virt-$n.conf"
	systemd-socket-activate --accept --seqpacket -l "$T/virt-$n.sock" \
		"$BUILD/service-vm-host/service-vm-host-virt" --config "$T/virt-$n.conf" \
		>> "$T/virt-$n.log" 2>&1 &
	PIDS[virt-$n]=$!
	wait_until 10 test -S "$T/virt-$n.sock" || die "the helper's socket for $n did not appear"
}

# console_ip NODE GUEST ADDR: the test guest printed that it took ADDR.
console_ip() { grep -qa "osi-testguest net ip=$3 " "${LVDIR[$1]}/consoles/$2.log" 2>/dev/null; }
