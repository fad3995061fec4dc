#!/usr/bin/env bash
# The layout rules of the includes (docs/architecture.md, "Layout"):
#  (a) a project include names its folder from the root ("lib/ledger.h");
#      the only bare one is the generated osi-config.h;
#  (b) no two files include each other, however indirectly;
#  (c) a folder includes only from the folders its row below names.
# Prints every include that breaks a rule and fails; a tree that keeps them
# passes silently. Reads the source tree given by OSI_SOURCE (meson sets it),
# else the one this script is in.
set -u
cd "${OSI_SOURCE:-$(dirname "$0")/..}" || exit 1

# Each folder and where it may include from; "*" is anywhere. Files named
# in exceptions may include one more folder.
declare -A may=(
	[lib]="lib"
	[genesis]="genesis lib"
	[virt]="virt lib"
	[service-vm-host]="service-vm-host lib"
	[service-vm-fleet]="service-vm-fleet lib"
	[os-infrastructure]="os-infrastructure genesis virt lib"
	[tests]="*"
	[bench]="*"
)
declare -A exceptions=(
	[service-vm-host/helper-virt.c]="virt" # the privileged helper is the agent's libvirt side
	[service-vm-host/helper-guests.c]="virt" # the read-only probe looks base images up as virt/ names them
	[service-vm-host/helper-fabric.h]="virt" # the helper's guest fabric work (helper-virt.c's part)
	[service-vm-host/helper-fabric.c]="virt"
	[service-vm-host/helper-move.h]="virt" # the helper's part of a cold move (helper-virt.c's part)
	[service-vm-host/helper-move.c]="virt"
	[service-vm-host/helper-net.h]="virt" # host.conf's guest_network as a virt_spec's network
	[service-vm-host/helper-net.c]="virt"
	[service-vm-host/helper-agent.h]="virt" # the helper's agent-addresses verb (helper-virt.c's part)
	[service-vm-host/helper-agent.c]="virt"
	[service-vm-host/helper-backup.c]="virt" # the helper's backup-out and backup-in (helper-virt.c's part)
)
generated="osi-config.h"

# Tracked and new (not ignored) C files; without git, every one under the
# tree except hidden folders and meson build directories.
sources() {
	if [[ -e .git ]] && git ls-files -co --exclude-standard -- '*.c' '*.h' 2>/dev/null; then
		return
	fi
	find . -type d \( -path './.*' -o -exec test -d '{}/meson-private' \; \) -prune -o \
		-type f \( -name '*.c' -o -name '*.h' \) -print | sed 's|^\./||'
}

mapfile -t files < <(sources | sort -u)
((${#files[@]})) || { echo "layout: no C files under $PWD" >&2; exit 1; }
declare -A present=()
for f in "${files[@]}"; do present[$f]=1; done

# "file line included" for every #include "..." line.
edges=$(awk 'match($0, /^[ \t]*#[ \t]*include[ \t]*"[^"]+"/) {
	s = substr($0, RSTART, RLENGTH); sub(/^[^"]*"/, "", s); sub(/"$/, "", s)
	print FILENAME, FNR, s }' "${files[@]}")

bad=0
broke() { echo "layout: $*"; bad=1; }

allowed() { # allowed FILE FOLDER
	local from=${1%%/*} rule
	rule=${may[$from]-}
	[[ $rule == "*" || " $rule " == *" $2 "* || ${exceptions[$1]-} == "$2" ]]
}

while read -r file line inc; do
	[[ -n $file ]] || continue
	if [[ $inc != */* ]]; then
		[[ $inc == "$generated" ]] || broke "$file:$line: \"$inc\" does not name its folder (write it from the root)"
		continue
	fi
	[[ -n ${present[$inc]-} ]] || broke "$file:$line: \"$inc\" is no file of the tree"
	if [[ $file != */* || -z ${may[${file%%/*}]-} ]]; then
		broke "$file: its folder has no row in tests/layout.sh"
	elif ! allowed "$file" "${inc%%/*}"; then
		broke "$file:$line: includes \"$inc\": ${file%%/*} may include only from ${may[${file%%/*}]}"
	fi
	[[ $inc == "$file" ]] && broke "$file:$line: includes itself"
done <<<"$edges"

# Cycles: tsort names the files of each loop it finds.
loops=$(awk '{ print $1, $3 }' <<<"$edges" | tsort 2>&1 >/dev/null | sed -n 's/^tsort: //p' |
	grep -v 'input contains a loop')
[[ -z $loops ]] || broke "an include cycle through:" $loops

((bad == 0)) || echo "layout: see the rules at the top of tests/layout.sh"
exit $bad
