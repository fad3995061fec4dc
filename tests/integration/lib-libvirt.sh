# A private libvirtd and the test guest image, for the tests that build guests;
# sourced after lib.sh. Skips (77) without root, qemu, libvirtd or a Debian
# mirror for the test guest's packages. Sets LV, URI and TESTGUEST_IMG and
# starts libvirtd (session mode, as nobody, everything under $LV), so nothing
# is shared with a system libvirtd; on exit it kills only the qemu processes
# that daemon recorded, then lib.sh's cleanup stops the rest by PID.
TOOL=${OSI_VIRT_TOOL:?OSI_VIRT_TOOL must point at virt-tool}
SRC=${OSI_SOURCE:?}
CACHE=${OSI_TESTGUEST_CACHE:-$BUILD/testguest-cache}
LV=$T/lv
TYPES=(totebox mediakit orchestration privategit)

[[ $(id -u) == 0 ]] || skip "needs root (loop devices for the test guest)"
for p in libvirtd qemu-system-x86_64 qemu-img setpriv losetup mkfs.ext4; do
	command -v "$p" >/dev/null || PATH=$PATH:/usr/sbin:/sbin command -v "$p" >/dev/null ||
		skip "$p not installed"
done
export PATH=$PATH:/usr/sbin:/sbin

# Processes libvirtd started for us, by the PIDs it recorded; then libvirtd.
virt_cleanup() {
	local f pid
	for f in "$LV"/run/libvirt/qemu/run/*.pid "$LV"/run/libvirt/virtlogd.pid; do
		[[ -f $f ]] || continue
		pid=$(cat "$f" 2>/dev/null) || continue
		[[ $pid =~ ^[0-9]+$ ]] && grep -qE 'qemu|virtlogd' "/proc/$pid/cmdline" 2>/dev/null &&
			kill -KILL "$pid" 2>/dev/null || true
	done
	if [[ $FAILED -ne 0 ]]; then
		cp "$LV"/consoles/*.log "$T"/ 2>/dev/null || true
	fi
}
at_exit virt_cleanup

t0=$(now_ms)
TESTGUEST_IMG=$("$SRC/images/testguest/build.sh" "$CACHE" 2> "$T/testguest-build.log") || {
	rc=$?
	[[ $rc == 3 ]] && skip "test guest packages unavailable: $(tail -n 1 "$T/testguest-build.log")"
	die "test guest build failed: $(tail -n 5 "$T/testguest-build.log")"
}
build_ms=$(( $(now_ms) - t0 ))
log "test guest $(basename "$TESTGUEST_IMG") ready in ${build_ms} ms ($(du -h --apparent-size "$TESTGUEST_IMG" | cut -f1))"

# A session-mode libvirtd as nobody: its sockets, config, state and cache
# all live under $LV, so nothing is shared with a system libvirtd.
chmod 711 "$T"
mkdir -p "$LV"/{sock,run,config/libvirt,cache,data,home,consoles} "$T/index"
cat > "$LV/libvirtd.conf" <<EOF
unix_sock_dir = "$LV/sock"
log_outputs = "2:stderr"
EOF
# qemu writes the console log itself: no virtlogd to start and stop.
echo 'stdio_handler = "file"' > "$LV/config/libvirt/qemu.conf"
mkdir -p "$LV/bin" # first in libvirtd's PATH, empty: a test may put a wrapper there
chown -R nobody:nogroup "$LV"
setpriv --reuid=nobody --regid=nogroup --clear-groups \
	env -i PATH=$LV/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME="$LV/home" XDG_RUNTIME_DIR="$LV/run" \
	XDG_CONFIG_HOME="$LV/config" XDG_CACHE_HOME="$LV/cache" XDG_DATA_HOME="$LV/data" \
	libvirtd -f "$LV/libvirtd.conf" >> "$T/libvirtd.log" 2>&1 &
PIDS[libvirtd]=$!
URI="qemu+unix:///session?socket=$LV/sock/libvirt-sock"

# vt ARGS...: virt-tool on this libvirtd, with its pool, image index and consoles.
vt() { "$TOOL" --uri "$URI" --pool-dir "$LV/pool" --index "$T/index/images.json" \
	--consoles "$LV/consoles" --fetch-url http://127.0.0.1:9/ "$@"; }

# virt_helper_conf NAME [KEY=VALUE]...: (re)writes the privileged helper's own
# host.conf: this libvirtd, its pool, the test guest as base image. Each
# connection starts a fresh helper, which reads it anew.
virt_helper_conf() {
	local name=$1 kv; shift
	local -A c=([name]=$name [virt_uri]=$URI [images_dir]=$SRC/images [pool_dir]=$LV/pool
		[console_dir]=$LV/consoles [guest_network]=none [base_image]=testguest
		[seal_key]=$T/seal/seal.key)
	for kv in "$@"; do c[${kv%%=*}]=${kv#*=}; done
	for kv in "${!c[@]}"; do echo "$kv = ${c[$kv]}"; done > "$T/virt-$name.conf"
}

# start_virt_helper NAME: service-vm-host-virt exactly as its socket unit runs
# it (Accept=yes, SOCK_SEQPACKET: one helper per connection) on $T/virt-NAME.sock.
start_virt_helper() {
	local name=$1
	[[ -f $T/virt-$name.conf ]] || virt_helper_conf "$name"
	systemd-socket-activate --accept --seqpacket -l "$T/virt-$name.sock" \
		"$BUILD/service-vm-host/service-vm-host-virt" --config "$T/virt-$name.conf" \
		>> "$T/virt-$name.log" 2>&1 &
	PIDS[virt-$name]=$!
	wait_until 10 test -S "$T/virt-$name.sock" || die "the helper's socket for $name did not appear"
}

# start_building_agent NAME [--set k=v]...: an agent whose guests its helper
# builds with this libvirtd (the helper started once, on its own socket).
start_building_agent() {
	local name=$1; shift
	[[ -n ${PIDS[virt-$name]:-} ]] || start_virt_helper "$name"
	start_agent "$name" --set dispatch_listen="$ADDR:7103" --set virt_socket="$T/virt-$name.sock" "$@"
}
