#!/bin/bash
# behind.sh LOG BUILD_DIR -- COMMAND...: builds BUILD_DIR with ninja at the
# lowest CPU priority (nice 19: it takes only what COMMAND leaves idle, as
# the integration tests wait on their guests and handshakes) while COMMAND
# runs, then waits for the build. The exit status is COMMAND's if it failed
# (the build, started here, is then ended), else the build's (with LOG's
# tail when it failed).
set -u
log=$1 dir=$2
shift 3
nice -n 19 ninja -C "$dir" > "$log" 2>&1 &
build=$!
trap 'kill "$build" 2>/dev/null; wait "$build" 2>/dev/null' INT TERM
rc=0
"$@" || rc=$?
if (( rc != 0 )); then
	kill "$build" 2>/dev/null
	wait "$build" 2>/dev/null
	exit "$rc"
fi
if ! wait "$build"; then
	echo "behind.sh: ninja -C $dir failed:" >&2
	tail -n 40 "$log" >&2
	exit 1
fi
