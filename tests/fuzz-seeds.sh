#!/usr/bin/env bash
# Every fuzz harness tests/fuzz/fuzz-NAME.c has seeds in tests/fuzz/corpus/NAME
# that git tracks: the fuzz suite reads that folder and stops on its absence,
# after the half hour the other suites take (stop 17's CI). Prints each
# harness without tracked seeds and fails.
set -u
cd "${OSI_SOURCE:-$(dirname "$0")/..}" || exit 1
tracked() {
	if [[ -e .git ]]; then git ls-files -- "$1"; else find "$1" -type f 2>/dev/null; fi
}
bad=0
for harness in tests/fuzz/fuzz-*.c; do
	name=${harness#tests/fuzz/fuzz-}
	name=${name%.c}
	if [[ -z $(tracked "tests/fuzz/corpus/$name") ]]; then
		echo "$harness: no tracked seeds in tests/fuzz/corpus/$name" >&2
		bad=1
	fi
done
exit "$bad"
