#!/bin/bash
# Abuse of the fleet's and the agent's stream servers, on loopback.
#
#   slow clients ──1,000 tcp, a byte every 2 s──> service-vm-fleet api <──unix── os-infrastructure status
#   greedy client ──pipelined events, never reads──┘  (RSS must stay bounded)
#   idle clients ──tcp 7103, renewed──> service-vm-host n1 dispatch <──signed── fleet (vm create)
#
# (a) the local socket stays usable and trickled bytes do not keep a
# connection past its first-frame deadline; (b) unread replies stop the
# reading, not grow the fleet; (c) the fleet's dispatch still gets through.
source "$(dirname "$0")/lib.sh"

# A source address of our own for the attackers, beside the test's $ADDR.
EVIL=127.$(( ($$ >> 16) % 200 + 20 )).$(( ($$ >> 8) % 256 )).$(( ($$ + 1) % 250 + 2 ))
[[ $EVIL != "$ADDR" ]] || EVIL=127.0.0.1

setup_members n1
# Under AddressSanitizer freed memory waits in a quarantine (256 MiB by
# default) and counts in RSS: keep it small, so RSS measures what the fleet
# holds, not what ASan keeps.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4
start_fleet
start_agent n1 --set dispatch_listen="$ADDR:7103" \
	--set virt_uri="qemu+unix:///session?socket=$T/no-libvirt.sock" --set images_dir="$OSI_SOURCE/images"
wait_until 10 node_state_is n1 live || die "n1 live"

# slow N SECONDS HOST PORT: N connections from 50 addresses next to $EVIL,
# each sending one byte of a never-finished frame every 2 s; prints how many
# the server closed.
slow() {
	python3 - "$@" "$EVIL" <<'PY'
import resource, socket, sys, time
n, secs, host, port, src = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, n + 64))
net, last = src.rsplit(".", 1)
sources = ["%s.%d" % (net, (int(last) + k) % 250 + 2) for k in range(50)]
socks = []
for i in range(n):
    s = socket.socket()
    s.bind((sources[i % len(sources)], 0))
    s.settimeout(2)
    try:
        s.connect((host, port))
        s.sendall(b"\x00\x00\x01")
        socks.append(s)
    except OSError:
        s.close()
end = time.time() + secs
closed = set()
while time.time() < end:
    for s in socks:
        if s in closed:
            continue
        try:
            s.setblocking(False)
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        closed.add(s)
                        break
            except BlockingIOError:
                pass
            s.send(b"\x00")
        except OSError:
            closed.add(s)
    time.sleep(2)
print(len(socks), len(closed))
PY
}

# (a) 1,000 slow connections over TCP: the local socket still answers.
slow 1000 14 "$ADDR" "$API_PORT" > "$T/slow.out" &
slow_pid=$!
sleep 2
out=$(osi status 2>&1) || die "status over the unix socket during 1,000 slow connections: $out"
pass "os-infrastructure status over the unix socket while 1,000 slow TCP connections are open"
wait "$slow_pid"
read -r opened closed < "$T/slow.out"
log "slow connections: $opened opened, $closed closed by the fleet within 14 s"
(( closed == opened )) || die "$(( opened - closed )) trickling connections outlived the first-frame deadline"
pass "trickled bytes did not keep any connection past its first-frame deadline"

# (b) pipelined events requests, replies never read: RSS stays bounded.
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/${PIDS[fleet]}/status"; }
before=$(rss_kb)
python3 - "$T/fleet.sock" <<'PY'
import json, socket, struct, sys, time
req = json.dumps({"op": "events", "limit": 10000}).encode()
frame = struct.pack(">I", len(req) + 1) + b"\x03" + req
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.setblocking(False)
burst = frame * 1000
pending, sent, end = b"", 0, time.time() + 10
while time.time() < end and sent < 300000 * len(frame):
    if not pending:
        pending = burst
    try:
        n = s.send(pending)
        pending = pending[n:]
        sent += n
    except BlockingIOError:
        time.sleep(0.05)
print("pipelined", sent // len(frame), "requests", file=sys.stderr)
time.sleep(1)
PY
after=$(rss_kb)
log "fleet RSS ${before} kB before, ${after} kB after the pipelined requests"
(( after < 65536 )) || die "fleet RSS grew to ${after} kB with unread replies"
osi status > /dev/null || die "fleet stopped answering after the pipelined requests"
pass "unread replies stopped the reading: fleet RSS ${after} kB"

# (c) idle connections to the agent's dispatch port, renewed, while the
# fleet dispatches a creation: the fleet must be served (there is no
# provisioning helper here, so the create then fails for want of it; that
# failure must be the helper's, not the dispatch's).
python3 - "$ADDR" 7103 "$EVIL" 20 <<'PY' &
import socket, sys, time
host, port, src, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
socks, end = [], time.time() + secs
while time.time() < end:
    socks = [s for s in socks if s.fileno() >= 0]
    while len(socks) < 24:
        s = socket.socket()
        s.bind((src, 0))
        try:
            s.connect((host, port))
        except OSError:
            s.close()
            break
        socks.append(s)
    time.sleep(0.5)
    for s in list(socks):
        s.setblocking(False)
        try:
            if s.recv(4096) == b"":
                s.close()
                socks.remove(s)
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            socks.remove(s)
PY
idle_pid=$!
sleep 2
osi vm create --type mediakit --name abuse1 --node n1 --memory 192M --vcpus 1 --yes > "$T/create.out" 2>&1 || true
detail=$(osi vm show abuse1 --format json | jq -r .guest.detail)
kill "$idle_pid" 2>/dev/null || true
wait "$idle_pid" 2>/dev/null || true
log "abuse1: $(osi vm show abuse1 --format json | jq -r .guest.state): $detail"
grep -qE 'closed the connection|cannot reach' <<<"$detail" &&
	die "the agent dropped the fleet's dispatch under idle connections: $detail"
grep -q "dispatch: create abuse1" "$T/host-n1.log" || die "the agent never took the fleet's request for abuse1"
pass "the fleet's dispatch got through 24 idle connections to the agent"
