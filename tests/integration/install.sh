#!/bin/bash
# What `meson install` puts on a host, for a prefix other than /usr/local:
# systemd units that name this prefix's programs, the guest manifests where
# the agent looks, its helpers in libexec, docs, man pages that render, and a
# bash completion that knows every command and option `--help` lists.
source "$(dirname "$0")/lib.sh"

SRC=${OSI_SOURCE:?OSI_SOURCE must point at the source tree}
PREFIX=/opt/osi-test
B=$T/build D=$T/dest P=$T/dest$PREFIX
errors=0
check() { # check MESSAGE COMMAND...: records a failure, goes on
	local msg=$1
	shift
	if "$@"; then pass "$msg"; else log "FAIL: $msg"; errors=$((errors + 1)); fi
}

# A second build of the same tree with another prefix (-O0, no tests: quick).
start=$(date +%s)
meson setup "$B" "$SRC" --prefix $PREFIX --buildtype plain -Dtests=false >"$T/setup.log" 2>&1 ||
	{ cat "$T/setup.log"; die "meson setup --prefix $PREFIX"; }
ninja -C "$B" >"$T/build.log" 2>&1 || { tail -30 "$T/build.log"; die "build"; }
meson install -C "$B" --no-rebuild --destdir "$D" >"$T/install.log" 2>&1 ||
	{ tail -30 "$T/install.log"; die "meson install --destdir"; }
log "build and install took $(($(date +%s) - start)) s"

# Where things go, as the build was told (or its defaults).
opt() { meson introspect --buildoptions "$B" | jq -r --arg n "$1" '.[] | select(.name == $n) | .value'; }
under() { [[ $1 == /* ]] && echo "$1" || echo "$PREFIX/$1"; }
BINDIR=$(under "$(opt bindir)") LIBEXEC=$(under "$(opt libexecdir)")/os-infrastructure
DATADIR=$(under "$(opt datadir)") MANDIR=$(under "$(opt mandir)")
STATE=$(opt state_dir)
UNITDIR=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo "$PREFIX/lib/systemd/system")

# Units: every one installed, configured with this prefix, nothing of the old one.
units=(osi-mesh.service service-vm-host.service service-vm-fleet.service
	service-vm-fleet-ledger.path service-vm-fleet-reload.service)
for u in "${units[@]}"; do
	check "unit $u installed in $UNITDIR" test -f "$D$UNITDIR/$u"
done
check "no unit names /usr/local" bash -c "! grep -l /usr/local $D$UNITDIR/*.service $D$UNITDIR/*.path"
check "no unconfigured @variable@ in units" bash -c "! grep -l '@[a-z_]*@' $D$UNITDIR/*.service $D$UNITDIR/*.path"
check "agent unit runs $BINDIR/service-vm-host" grep -q "^ExecStart=$BINDIR/service-vm-host --config $STATE/host.conf\$" "$D$UNITDIR/service-vm-host.service"
check "fleet unit runs $BINDIR/service-vm-fleet" grep -q "^ExecStart=$BINDIR/service-vm-fleet " "$D$UNITDIR/service-vm-fleet.service"
check "mesh unit runs $BINDIR/os-infrastructure" grep -q "^ExecStart=$BINDIR/os-infrastructure mesh up\$" "$D$UNITDIR/osi-mesh.service"
for u in "${units[@]}"; do
	[[ -f $D$UNITDIR/$u ]] || continue
	exe=$(sed -n 's/^Exec[A-Za-z]*=\([^ ]*\).*/\1/p' "$D$UNITDIR/$u" | grep "^$PREFIX" || true)
	for e in $exe; do
		check "$u: $e installed" test -x "$D$e"
	done
done
# Every directive of the source templates survives (only paths change).
for u in "${units[@]}"; do
	[[ -f $D$UNITDIR/$u ]] || continue
	check "$u keeps its directives" diff <(grep -o '^[A-Za-z]*=' "$SRC/dist/systemd/$u.in") \
		<(grep -o '^[A-Za-z]*=' "$D$UNITDIR/$u")
done
# systemd's own check, on copies whose programs point into the staging tree.
if command -v systemd-analyze >/dev/null; then
	mkdir "$T/verify"
	for u in "${units[@]}"; do
		sed "s|$PREFIX/|$P/|g" "$D$UNITDIR/$u" >"$T/verify/$u" 2>/dev/null || true
	done
	check "systemd-analyze verify" bash -c "cd $T/verify && systemd-analyze verify ${units[*]} >$T/verify.log 2>&1 && [[ ! -s $T/verify.log ]] || { cat $T/verify.log; false; }"
fi

# The agent's helpers in libexec, where it looks; none left among the commands.
for h in service-vm-host-guests service-vm-host-virt; do
	check "$h in $LIBEXEC" test -x "$P${LIBEXEC#"$PREFIX"}/$h"
	check "$h not in bindir" test ! -e "$P${BINDIR#"$PREFIX"}/$h"
done
check "agent looks in $LIBEXEC" grep -qa "$LIBEXEC" "$P${BINDIR#"$PREFIX"}/service-vm-host"
for c in os-infrastructure app-network-admin service-vm-fleet service-vm-host; do
	check "$c in bindir" test -x "$P${BINDIR#"$PREFIX"}/$c"
done

# Guest manifests and cloud-init where images_dir points by default.
IMAGES=$DATADIR/os-infrastructure/images
check "agent's default images_dir is $IMAGES" bash -c \
	"'$B/service-vm-host/service-vm-host' --help-config | grep -A3 '^ *images_dir' | grep -q '$IMAGES'"
for m in "$SRC"/images/*.json; do
	t=$(basename "$m" .json)
	check "manifest $t.json installed" cmp -s "$m" "$D$IMAGES/$t.json"
	ud=$(jq -r '.user_data // empty' "$m")
	[[ -z $ud ]] || check "$t cloud-init $ud installed" cmp -s "$SRC/images/$ud" "$D$IMAGES/$ud"
done

# Docs.
for doc in "$SRC"/README.md "$SRC"/docs/*.md; do
	check "doc $(basename "$doc")" test -f "$D$DATADIR/doc/os-infrastructure/$(basename "$doc")"
done

# Man pages render without a warning and describe every option --help lists.
help_opts() { grep -o -- "--[a-z][a-z0-9-]*" | sort -u || true; }
for prog in os-infrastructure service-vm-fleet service-vm-host; do
	page=$D$MANDIR/man8/$prog.8
	check "man page $prog.8 installed" test -f "$page"
	[[ -f $page ]] || continue
	check "$prog.8: groff finds nothing to warn about" bash -c "[[ -z \$(groff -man -ww -z '$page' 2>&1) ]]"
	check "$prog.8: man renders it" bash -c "MANWIDTH=80 man -l '$page' 2>$T/man.err | grep -q '^NAME' && [[ ! -s $T/man.err ]]"
	text=$(MANWIDTH=200 man -l "$page" 2>/dev/null | col -b)
	exe=$(find "$B" -name "$prog" -type f -perm -u+x | head -1)
	for o in $("$exe" --help | help_opts); do
		check "$prog.8 describes $o" grep -qE -- "$o([^a-z0-9-]|$)" <<<"$text"
	done
done

# Bash completion: the commands and options of `--help`, and it completes.
COMPDIR=$(pkg-config --variable=completionsdir --define-variable=datadir="$DATADIR" bash-completion 2>/dev/null ||
	echo "$DATADIR/bash-completion/completions")
comp=$D$COMPDIR/os-infrastructure
check "completion installed in $COMPDIR" test -f "$comp"
osi_bin=$B/os-infrastructure/os-infrastructure
commands=$("$osi_bin" --help | awk '/^Commands:/ { on = 1; next } /^$/ { on = 0 } on { print $1 }')
check "--help lists commands" test -n "$commands"
complete_words() { # complete_words WORD...: what the completion offers for the last word
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _os_infrastructure
		printf "%s\n" "${COMPREPLY[@]}"' _ "$comp" "$@"
}
export -f complete_words
export comp
if [[ -f $comp ]]; then
	check "completes 'sta' to status" bash -c "[[ \$(complete_words os-infrastructure sta) == status ]]"
	offered=$(complete_words os-infrastructure "")
	for c in $commands; do
		check "completion offers $c" grep -qx "$c" <<<"$offered"
		# The options a command's --help shows in its usage and option lines.
		opts=$("$osi_bin" "$c" --help | awk '/^Usage:/ { u = 1 } /^$/ { u = 0 } u || /^ +--/' |
			grep -o -- '--[a-z][a-z0-9-]*' | grep -vx -- '--genesis\|--join\|--help' | sort -u || true)
		have=$(complete_words os-infrastructure "$c" --)
		for o in $opts; do
			check "completion offers $c $o" grep -qx -- "$o" <<<"$have"
		done
	done
	# Each verb's --help is the command's help, exit 0, nothing done (vm move
	# --help asked the fleet and vm release-source --help said "out of memory").
	# grep reads it all: grep -q would leave at the first line, and a help
	# longer than one stdio buffer would then die of SIGPIPE.
	for v in $(complete_words os-infrastructure vm ""); do
		check "vm $v NAME --help prints the help" bash -c \
			"'$osi_bin' --socket /nonexistent/fleet.sock vm $v x --help 2>&1 | grep '^Usage:' >/dev/null; (( PIPESTATUS[0] == 0 ))"
	done
	for c in $(complete_words os-infrastructure "" | grep -vx help); do
		check "completed command $c is in --help" grep -qx "$c" <<<"$commands"
	done
	globals=$("$osi_bin" --help | sed -n '/^Global options/,$p' | help_opts)
	for o in $globals; do
		check "completion offers global $o" bash -c "complete_words os-infrastructure -- | grep -qx -- '$o'"
	done
fi

# The provisioning scripts run programs by path: those paths must be what a
# /usr/local install (their --prefix) puts there.
for s in "$SRC"/dist/provision-*.sh; do
	for path in $(grep -o '/usr/local/[a-z/-]*' "$s" | sort -u); do
		check "$(basename "$s"): $path is installed under prefix /usr/local" \
			test -e "$P${path#/usr/local}"
	done
done

[[ $errors -eq 0 ]] || die "$errors install checks failed"
pass "install with prefix $PREFIX"
