#!/bin/bash
# Adds up the meson test logs of `make check` into one closing line.
set -euo pipefail
pass=0 fail=0 skip=0
for log in "$1"/meson-logs/unit.json "$1"/meson-logs/integration.json "$2"/meson-logs/fuzz.json; do
	[[ -f $log ]] || { echo "missing $log"; exit 1; }
	read -r p f s < <(jq -rs '[(map(select(.result == "OK")) | length),
		(map(select(.result == "FAIL" or .result == "TIMEOUT" or .result == "ERROR" or
			    .result == "UNEXPECTEDPASS")) | length),
		(map(select(.result == "SKIP")) | length)] | @tsv' "$log")
	printf '%-12s %3d passed, %d failed, %d skipped\n' "$(basename "$log" .json):" "$p" "$f" "$s"
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
done
echo "$pass passed, $fail failed, $skip skipped"
[[ $fail -eq 0 ]]
