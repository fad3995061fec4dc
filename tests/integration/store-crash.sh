#!/bin/bash
# kill -9 of a process writing fleet.db, at random moments, 20 times.
#
#   store-crash run DIR  (register / evict / readmit in a loop, printing each
#                         committed event id)  ──SIGKILL──>  store-crash check DIR
#
# Every id printed after its COMMIT returned must be in the database, every
# node row must match its latest event, and the file must pass integrity_check.
source "$(dirname "$0")/lib.sh"

bin=${OSI_STORE_CRASH:?}
rounds=20
mkdir -p "$T/db"
: > "$T/ids"
for i in $(seq 1 $rounds); do
	"$bin" run "$T/db" >> "$T/ids" 2>> "$T/writer.log" &
	PIDS[writer]=$!
	# mostly mid-run; one round in four while opening or creating the schema
	if (( RANDOM % 4 == 0 )); then t=0.0$((RANDOM % 30)); else t=$((RANDOM % 2)).$((RANDOM % 1000)); fi
	sleep "$t"
	stop writer KILL
	# Killed before the database existed: nothing was committed, so nothing can be lost.
	if [[ ! -s $T/ids && ! -e $T/db/fleet.db ]]; then
		continue
	fi
	"$bin" check "$T/db" < "$T/ids" > "$T/check.log" 2>&1 || die "round $i (killed after ${t}s): $(cat "$T/check.log")"
done
committed=$(wc -l < "$T/ids")
# A writer that never got going would make every round pass vacuously.
(( committed >= 100 )) || die "only $committed events committed in $rounds rounds: $(tail -3 "$T/writer.log")"
pass "$rounds kill -9 rounds, $committed committed events, none lost, integrity ok"
