#!/bin/bash
# How the host-image test reads a failed image build (host-image-lib.sh,
# image_failed): Debian's mirror failing it is a visible skip (77) with the
# reason, anything else stays a failure.
#   - a real mmdebstrap against a mirror that refuses connections (apt's
#     "E: Failed to fetch" in its log): skip;
#   - a build log with no failed fetch while the mirror no longer answers
#     (it dropped during the build): skip;
#   - the same log while the mirror answers (a listener here): failure.
source "$(dirname "$0")/lib.sh"
SRC=${OSI_SOURCE:?OSI_SOURCE must point at the source tree}
[[ $(id -u) -eq 0 ]] || skip "needs root (mmdebstrap)"
for c in mmdebstrap nc; do
	command -v $c >/dev/null || skip "$c missing (make deps / make deb-deps install it)"
done
port=$((30000 + $$ % 20000))
OSI_IMAGE_MIRROR=http://127.0.0.1:$port/debian
source "$(dirname "$0")/host-image-lib.sh"
rc_of() { local rc=0; rm -f "$T/image.skip"; image_failed "$1" 2>"$T/tail" || rc=$?; echo $rc; }

# Nothing listens on $port yet: the mirror refuses.
timeout 120 mmdebstrap --variant=apt bookworm "$T/root" "$MIRROR" >"$T/dead.log" 2>&1 &&
	die "mmdebstrap succeeded without a mirror"
[[ $(rc_of "$T/dead.log") == 77 ]] || die "a refusing mirror is not a skip: $(cat "$T/tail")"
grep -q "mirror failed the image build: E: Failed to fetch http://127.0.0.1:$port/" "$T/image.skip" ||
	die "the reason: $(cat "$T/image.skip")"
pass "mmdebstrap against a refusing mirror: skip ($(cat "$T/image.skip"))"

# A build error (no failed fetch) after the mirror went away, then while it answers.
printf '%s\n' "E: Unable to locate package osi-no-such-package" "E: mmdebstrap failed to run" \
	"make: *** [Makefile:92: host-image] Error 1" > "$T/build.log"
[[ $(rc_of "$T/build.log") == 77 ]] || die "a build that lost its mirror is not a skip"
grep -q "$MIRROR stopped answering during the build" "$T/image.skip" || die "the reason: $(cat "$T/image.skip")"
nc -lk 127.0.0.1 "$port" </dev/null >/dev/null 2>&1 &
PIDS[mirror]=$!
wait_until 10 mirror_answers || die "the listener standing in for the mirror"
[[ $(rc_of "$T/build.log") == 1 ]] || die "a build error with the mirror up is not a failure: $(cat "$T/image.skip")"
grep -q 'Unable to locate package' "$T/tail" || die "the log's tail is not shown"
[[ ! -e $T/image.skip ]] || die "a build error left a skip reason"
pass "a build error: failure while the mirror answers, skip once it does not"
