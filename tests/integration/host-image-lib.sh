# The host image under QEMU TCG, for tests/integration/host-image.sh and
# bench/host-image.sh; sourced after lib.sh (T, PIDS, NETNS, log, die,
# at_exit). Each VM has a config drive (ext4 labelled OSISEED) and a guest
# agent channel on a TCP port, through which qga runs commands inside. The
# VMs' Ethernet is a bridge in a namespace of its own, and a second one
# behind a NAT router:
#
#   vm1 (.1)  vm2 (.2)                      vm3 (behind NAT: 192.168.78.3)
#     │ tap      │ tap                         │ tap
#   ┌─┴──────────┴─ $LAN_NS ─┐   ┌─────────────┴──── $NAT_NS ───────────┐
#   │ br0: 192.168.77.0/24   ├───┤ wan 192.168.77.254   br1 192.168.78.1 │
#   └────────────────────────┘   └──────────────────────────────────────┘
#     masquerade out of wan; from wan only replies come in (no port is
#     forwarded), so nothing on br0 reaches a VM on br1 first.
#
# QEMU opens its tap by name in its own (this) namespace: each tap is made
# here, opened by QEMU, then moved into its bridge's namespace.

# ---- the image ----
# The image is built from Debian's mirror (OSI_IMAGE_MIRROR, as build.sh).
MIRROR=${OSI_IMAGE_MIRROR:-http://deb.debian.org/debian}
mirror_answers() { # a TCP connection to the mirror's host and port
	local hp=${MIRROR#*://}
	hp=${hp%%/*}
	[[ $hp == *:* ]] || hp=$hp:80
	timeout 20 bash -c "exec 3<>/dev/tcp/${hp%:*}/${hp##*:}" 2>/dev/null
}

# image_failed LOG: make host-image failed with LOG. A failure of Debian's
# mirror (apt's fatal fetch errors in LOG, or the mirror no longer
# answering) returns 77 with the reason in $T/image.skip; anything else is
# a build error: LOG's tail on stderr, 1.
image_failed() {
	local why
	why=$(grep -m1 -E '^E: .*(Failed to fetch|Unable to fetch|Temporary failure resolving|Could not (connect|resolve)|Connection (timed out|failed)|Hash Sum mismatch)' "$1" || true)
	[[ -n $why ]] || mirror_answers || why="$MIRROR stopped answering during the build"
	if [[ -n $why ]]; then
		printf "Debian's mirror failed the image build: %s\n" "$why" > "$T/image.skip"
		return 77
	fi
	tail -30 "$1" >&2
	return 1
}

# image: prints the image's path, built when the tree changed; 77 (reason in
# $T/image.skip) when the mirror failed the build, 1 on a build error.
image() {
	local key cache
	[[ -n ${OSI_HOST_IMAGE:-} ]] && { echo "$OSI_HOST_IMAGE"; return; }
	key=$(OSI_SOURCE=$SRC tree_key)
	cache=${OSI_HOST_IMAGE_CACHE:-/var/cache/os-infrastructure/host-image}/$key
	if [[ ! -f $cache/osi-host.img ]]; then
		local start=$(date +%s)
		local old
		for old in "${cache%/*}"/*; do # one image kept: the tree's latest
			[[ $old =~ /[0-9a-f]{16}$ ]] && rm -rf "$old"
		done
		if compgen -G "$DEB_CACHE/$key/os-infrastructure_*.deb" >/dev/null; then
			# deb.sh built this tree's packages: make host-image without its deb step
			"$SRC/images/host/build.sh" "$cache" "$DEB_CACHE/$key" >"$T/make-image.log" 2>&1 ||
				{ image_failed "$T/make-image.log"; return; }
			log "the image (from deb.sh's packages of this tree) took $(($(date +%s) - start)) s" >&2
		else
			make -C "$SRC" host-image HOST_IMAGE_OUT="$cache" DEB_OUT="$cache/deb" \
				>"$T/make-image.log" 2>&1 || { image_failed "$T/make-image.log"; return; }
			log "make host-image took $(($(date +%s) - start)) s" >&2
			rm -rf "$cache/deb"
		fi
	fi
	echo "$cache/osi-host.img"
}

# image_or_skip: sets IMG, or skips (77) when the mirror failed the build.
image_or_skip() {
	local rc=0
	IMG=$(image) || rc=$?
	((rc != 77)) || skip "$(cat "$T/image.skip")"
	((rc == 0)) || die "make host-image"
}

# ---- the network ----
LAN_NS=osi-hil-$$ NAT_NS=osi-hin-$$
net_up() {
	[[ -z ${NET_UP:-} ]] || return 0
	NET_UP=1
	netns_add "$LAN_NS" "$NAT_NS"
	ip -n "$LAN_NS" link add br0 type bridge
	ip -n "$NAT_NS" link add br1 type bridge
	ip link add wan netns "$NAT_NS" type veth peer name nat netns "$LAN_NS"
	ip -n "$LAN_NS" link set nat master br0
	ip -n "$NAT_NS" addr add 192.168.77.254/24 dev wan
	ip -n "$NAT_NS" addr add 192.168.78.1/24 dev br1
	ip -n "$LAN_NS" link set br0 up
	ip -n "$LAN_NS" link set nat up
	ip -n "$NAT_NS" link set wan up
	ip -n "$NAT_NS" link set br1 up
	in_ns "$NAT_NS" sysctl -qw net.ipv4.ip_forward=1
	in_ns "$NAT_NS" nft -f - <<'NFT'
table ip nat {
	chain post { type nat hook postrouting priority srcnat; oifname "wan" masquerade; }
}
table ip filter {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "br1" oifname "wan" accept
	}
}
NFT
}

# ---- the VMs ----
QGA_BASE=$((40000 + $$ % 20000))
qga_port() { echo $((QGA_BASE + $1)); }
tap_of() { echo "osi$$v$1"; }

seed() { # seed N KEY=VALUE...: the config drive of VM N
	mkdir -p "$T/seed$1"
	printf '%s\n' "${@:2}" > "$T/seed$1/osi-seed"
	rm -f "$T/seed$1.img"
	mkfs.ext4 -q -L OSISEED -d "$T/seed$1" "$T/seed$1.img" 4M
}

boot() { # boot N [nat]: VM N from its overlay and seed, on br0 (or behind the NAT), console in $T/vmN.console
	local n=$1 tap ns=$LAN_NS br=br0
	tap=$(tap_of "$n")
	[[ ${2:-} == nat ]] && ns=$NAT_NS br=br1
	net_up
	[[ -f $T/disk$n.qcow2 ]] || qemu-img create -q -f qcow2 -F raw -b "$IMG" "$T/disk$n.qcow2"
	ip tuntap add dev "$tap" mode tap || die "tap for vm$n"
	qemu-system-x86_64 -accel tcg -m 1536 -smp 1 -display none -daemonize \
		-pidfile "$T/vm$n.pid" -serial "file:$T/vm$n.console" \
		-drive "file=$T/disk$n.qcow2,if=virtio,format=qcow2" \
		-drive "file=$T/seed$n.img,if=virtio,format=raw,readonly=on" \
		-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" \
		-device "virtio-net-pci,netdev=n0,mac=52:54:00:77:00:0$n" \
		-chardev "socket,id=qga,host=127.0.0.1,port=$(qga_port "$n"),server=on,wait=off" \
		-device virtio-serial -device virtserialport,chardev=qga,name=org.qemu.guest_agent.0 ||
		{ ip link del "$tap"; die "qemu for vm$n"; }
	PIDS[vm$n]=$(cat "$T/vm$n.pid")
	ip link set "$tap" netns "$ns" && ip -n "$ns" link set "$tap" master "$br" up ||
		die "vm$n's tap into $ns"
	log "vm$n booting${2:+ (behind the NAT)}"
}

# qga N PROGRAM ARGS...: runs it in VM N through the guest agent; prints its
# output and returns its exit status.
qga() {
	local n=$1 fd line pid status req
	shift
	{ exec {fd}<>"/dev/tcp/127.0.0.1/$(qga_port "$n")"; } 2>/dev/null || return 125
	local sync=$((RANDOM + 1))
	# 0xff resets the agent's parser (a request cut short leaves it mid-JSON).
	printf '\xff{"execute":"guest-sync","arguments":{"id":%d}}\n' $sync >&$fd
	while IFS= read -r -t 10 -u $fd line; do
		[[ $(jq -r '.return // empty' <<<"$line" 2>/dev/null) == "$sync" ]] && break
	done || { exec {fd}>&-; return 125; }
	# The arguments through NUL-separated stdin: jq 1.6 takes --x after --args as its own.
	req=$(printf '%s\0' "${@:2}" | jq -Rsc --arg p "$1" \
		'{execute:"guest-exec",arguments:{path:$p,arg:(split("\u0000") | if .[-1] == "" then .[:-1] else . end),"capture-output":true}}')
	printf '%s\n' "$req" >&$fd
	IFS= read -r -t 10 -u $fd line || { exec {fd}>&-; return 125; }
	pid=$(jq -r '.return.pid // empty' <<<"$line")
	[[ -n $pid ]] || { exec {fd}>&-; echo "$line" >&2; return 125; }
	for _ in $(seq 600); do
		printf '{"execute":"guest-exec-status","arguments":{"pid":%d}}\n' "$pid" >&$fd
		IFS= read -r -t 10 -u $fd status || break
		if [[ $(jq -r .return.exited <<<"$status") == true ]]; then
			exec {fd}>&-
			jq -r '.return["out-data"] // empty' <<<"$status" | base64 -d
			jq -r '.return["err-data"] // empty' <<<"$status" | base64 -d >&2
			return "$(jq -r '.return.exitcode // 1' <<<"$status")"
		fi
		sleep 0.5
	done
	exec {fd}>&-
	return 124
}

stop_vms() {
	local p c
	for p in "$T"/vm*.pid; do
		[[ -f $p ]] && kill "$(cat "$p")" 2>/dev/null || true
	done
	for c in "$T"/vm*.console; do
		[[ -f $c ]] && tr -d '\r' < "$c" > "${c%.console}.log"
	done
	for p in "$T"/vm*.pid; do # a tap left here if its move failed (the namespaces take the others)
		[[ -f $p ]] && ip link del "$(tap_of "$(basename "$p" .pid | tr -dc 0-9)")" 2>/dev/null
	done
	return 0
}
