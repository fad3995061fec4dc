#!/bin/bash
# Runs one libFuzzer harness for a bounded time. New inputs go to a scratch
# directory, so the seed corpus in the source tree is only read.
set -euo pipefail
exe=$(realpath "$1") seeds=$(realpath "$2") seconds=$3
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
exec "$exe" -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 \
	-print_final_stats=1 "$scratch" "$seeds"
