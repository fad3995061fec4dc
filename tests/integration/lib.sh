# Shared helpers for the integration tests; sourced, never run.
# Each test gets its own loopback address (127.x.y.z from its PID), so tests and
# a developer's own fleet never collide on ports. Only processes started here
# are stopped, by their PID.
set -euo pipefail

BUILD=${OSI_BUILD:?OSI_BUILD must point at the meson build directory}
OSI_BIN=$BUILD/os-infrastructure/os-infrastructure
FLEET_BIN=$BUILD/service-vm-fleet/service-vm-fleet
HOST_BIN=$BUILD/service-vm-host/service-vm-host
SEND_BIN=$BUILD/bench/bench-heartbeat-send

T=$(mktemp -d /tmp/osi-test.XXXXXX)
ADDR=127.$(( ($$ >> 16) % 200 + 20 )).$(( ($$ >> 8) % 256 )).$(( $$ % 250 + 2 ))
HB_PORT=7101 API_PORT=7102 METRICS_PORT=9102
declare -A PIDS=()
WG_IFACES=()
EXIT_HOOKS=() NETNS=()
FAILED=0

log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*"; }
die() { log "FAIL: $*"; FAILED=1; exit 1; }
pass() { log "ok: $*"; }
skip() { log "SKIP: $*"; exit 77; }

# at_exit FUNC: cleanup runs FUNC first (in the order given), before it stops
# the processes in PIDS, deletes the namespaces and removes $T.
at_exit() { EXIT_HOOKS+=("$1"); }

cleanup() {
	local rc=$? hook name
	for hook in "${EXIT_HOOKS[@]}"; do
		"$hook" || true
	done
	for name in "${!PIDS[@]}"; do
		kill -TERM "${PIDS[$name]}" 2>/dev/null || true
	done
	for name in "${!PIDS[@]}"; do
		wait "${PIDS[$name]}" 2>/dev/null || true
	done
	# an agent that saw its interface go may have started wireguard-go anew
	# before it stopped: those serve WG_IFACES (names with this test's $$)
	(( ${#WG_IFACES[@]} )) && wg_go_stop $(wg_go_serving "${WG_IFACES[@]}")
	for name in "${NETNS[@]}"; do
		ip netns del "$name" 2>/dev/null || true
	done
	if [[ $rc -ne 0 || $FAILED -ne 0 ]]; then
		for f in "$T"/*.log; do
			[[ -f $f ]] || continue
			echo "----- $(basename "$f") (last 30 lines)"
			tail -n 30 "$f"
		done
	fi
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT

# tree_key: 16 hex digits of the SHA-256 of every file git lists in the
# source tree (tracked and new, not ignored): what a build from it depends on.
tree_key() {
	(cd "${OSI_SOURCE:?}" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh |
		xargs -0 sha256sum) | sha256sum | cut -c1-16
}
# The packages deb.sh built from this very tree, kept for host-image.sh
# (one tree's at a time): DEB_CACHE/KEY holds them.
DEB_CACHE=${OSI_DEB_CACHE:-/var/cache/os-infrastructure/debs}

# wait_until SECONDS CMD... : polls every 100 ms until CMD succeeds.
wait_until() {
	local deadline=$(( $(date +%s%N) + $1 * 1000000000 )); shift
	until "$@" >/dev/null 2>&1; do
		(( $(date +%s%N) < deadline )) || return 1
		sleep 0.1
	done
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# netns_add NS...: new namespaces with loopback up, deleted by cleanup.
netns_add() {
	local ns
	for ns in "$@"; do
		ip netns add "$ns"
		NETNS+=("$ns")
		ip netns exec "$ns" ip link set lo up
	done
}
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# wg_go_stop PID...: stops the wireguard-go processes among PIDs (by the PID
# a tool printed, so checked to still be wireguard-go): TERM, up to 5 s to
# exit, then KILL.
wg_go_running() { [[ $(cat "/proc/$1/comm" 2>/dev/null) == wireguard-go ]]; }
# wg_go_serving IFNAME...: the pids of the wireguard-go processes serving
# these interfaces (names carrying the test's $$, so only ours), for one a
# restarted agent started without a pid in any log.
wg_go_serving() {
	local p want
	for p in $(pgrep -x wireguard-go); do
		for want in "$@"; do
			[[ $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null) == "wireguard-go $want " ]] && echo "$p"
		done
	done
	return 0
}
wg_go_gone() { ! wg_go_running "$1"; }
wg_go_stop() {
	local pid
	for pid in "$@"; do
		wg_go_running "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	for pid in "$@"; do
		wait_until 5 wg_go_gone "$pid" || kill -KILL "$pid" 2>/dev/null
	done
	return 0
}

osi() { "$OSI_BIN" --state-dir "$T/cli" --socket "$T/fleet.sock" --trust-file "$T/trust" "$@"; }

# make_member NAME ROLES: creates an identity and trusts it.
make_member() {
	local line
	line=$("$OSI_BIN" --state-dir "$T/$1" keygen --name "$1" --role "$2")
	"$OSI_BIN" --trust-file "$T/trust" trust add --line "$line" >/dev/null
}

# start_fleet [--set k=v]...: default test timing is a 3 s eviction window.
start_fleet() {
	: > "$T/fleet.conf"
	"$FLEET_BIN" --config "$T/fleet.conf" --set state_dir="$T/fleet" --set trust_file="$T/trust" \
		--set heartbeat_listen="$ADDR:$HB_PORT" --set api_listen="$ADDR:$API_PORT" \
		--set api_socket="$T/fleet.sock" --set metrics_listen="$ADDR:$METRICS_PORT" \
		--set evict_after=${EVICT_AFTER:-3s} --set checkpoint_interval=1s "$@" \
		>> "$T/fleet.log" 2>&1 &
	PIDS[fleet]=$!
	wait_until 10 test -S "$T/fleet.sock" || die "fleet did not start"
	wait_until 10 osi status || die "fleet does not answer"
}

stop() { # stop NAME [SIGNAL]
	local pid=${PIDS[$1]}
	kill -"${2:-TERM}" "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "PIDS[$1]"
	return 0
}

start_agent() { # start_agent NAME [--set k=v]...
	local name=$1; shift
	: > "$T/host-$name.conf"
	"$HOST_BIN" --config "$T/host-$name.conf" --set name="$name" --set state_dir="$T/$name" \
		--set trust_file="$T/trust" --set fleet_address="$ADDR:$HB_PORT" \
		--set heartbeat_interval=${HB_INTERVAL:-500ms} --set guests_uri= "$@" \
		>> "$T/host-$name.log" 2>&1 &
	PIDS[$name]=$!
}

status_json() { osi status --format json; }
node_field() { status_json | jq -r --arg n "$1" ".nodes[] | select(.name == \$n) | .$2"; }
node_state_is() { [[ $(node_field "$1" state) == "$2" ]]; }
live_count_is() { [[ $(status_json | jq '[.nodes[] | select(.state == "live")] | length') == "$1" ]]; }
holding_is() { [[ $(status_json | jq .fleet.holding) == "$1" ]]; }
count_in_state_is() { [[ $(status_json | jq --arg s "$1" '[.nodes[] | select(.state == $s)] | length') == "$2" ]]; }
metric_is() { [[ $(metric "$1") == "$2" ]]; }
metric_is_positive() { (( $(metric "$1") > 0 )); }
metric() { curl -fsS "http://$ADDR:$METRICS_PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
event_count() { osi events --limit 1000 --format json | jq --arg k "$1" --arg n "$2" \
	'[.events[] | select(.kind == $k and .node == $n)] | length'; }

setup_members() { # setup_members NODE...
	make_member fleet fleet
	make_member cli admin
	for n in "$@"; do make_member "$n" node; done
}

# luks_image FILE SIZE: a throwaway LUKS qcow2 under a random key of its own.
# qemu-img times the key derivation in thread CPU time, which a loaded host
# can show as none ("Unable to get accurate CPU usage", seen in make check):
# tried up to 6 times, further apart each time.
luks_image() {
	local key try
	key=$(mktemp "$T/luks-key.XXXXXX")
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$key" # LUKS takes UTF-8 text
	for try in 1 2 3 4 5 6; do
		qemu-img create -q -f qcow2 --object "secret,id=k0,file=$key" \
			-o encrypt.format=luks,encrypt.key-secret=k0,encrypt.iter-time=10 "$1" "$2" > /dev/null && break
		(( try < 6 )) || { rm -f "$key"; return 1; }
		sleep "$try"
	done
	rm -f "$key"
}
