#!/bin/sh
# smoke.sh - a short run of `ipcx bench` over every mechanism, pairs and
# scaling cells (N = 1, 2): every cell must produce numbers with its
# messages verified, or say why it was skipped; the table and the JSON must
# hold the scaling and targets sections; an interrupted run must remove
# every object it created. Not a timing assertion: the sizes and phases
# are far too small for that.
set -u
: "${IPCX:?set IPCX to the ipcx command}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
marker="$dir/marker"
touch "$marker"
fail=0

# leftovers lists the benchmark's objects created since the marker.
leftovers() {
	find /tmp /dev/shm /dev/mqueue -maxdepth 1 -name '*ipcx-bench-*' -newer "$marker" 2>/dev/null
}

"$IPCX" bench --sizes 8,4K --phase-ms 5 --wake 2 --fan 1,2 --timeout 30 --csv >"$dir/out.csv"
status=$?
awk -F, '
NR == 1 { next }
{ cells++ }
$4 == "failed" { print "failed cell: " $0; bad = 1 }
$4 == "skipped" && $5 == "" { print "skipped without a reason: " $0; bad = 1 }
$4 == "ok" {
	ok++
	if ($14 <= 0 || $15 < 0) { print "no throughput: " $0; bad = 1 }
	if ($16 <= 0) { print "no verified messages: " $0; bad = 1 }
	if ($17 != "pair") { fan[$17 " " $18]++; next }
	if ($2 != "limit" && ($6 <= 0 || $7 <= 0 || $10 < $7)) { print "bad latency: " $0; bad = 1 }
	if ($3 == 4096 && $2 != "limit" && ($11 != 2 || $12 <= 0)) { print "no wake-up: " $0; bad = 1 }
}
$1 == "ipcx shm:// loan" && $4 != "ok" { print "no zero-copy cell: " $0; bad = 1 }
END {
	if (ok < 12) { print "only " ok " of " cells " cells ran"; bad = 1 }
	if (fan["fan-in 1"] < 5 || fan["fan-in 2"] < 5) { print "too few scaling cells ran"; bad = 1 }
	exit bad
}' "$dir/out.csv" || fail=1
[ "$status" -eq 0 ] || { echo "ipcx bench exited with $status"; fail=1; }

# The table and the plot, when gnuplot is there.
plot=""
command -v gnuplot >/dev/null 2>&1 && plot="--plot $dir/bench.svg"
# shellcheck disable=SC2086
"$IPCX" bench --sizes 64,512 --only pipe,shm,spin --phase-ms 5 --wake 0 --fan 1 $plot \
	>"$dir/table.txt" || fail=1
grep -q "^512 B messages" "$dir/table.txt" || { echo "no table"; cat "$dir/table.txt"; fail=1; }
grep -q "^scaling: N senders -> 1 receiver" "$dir/table.txt" || { echo "no scaling"; fail=1; }
grep -q "^  64 B round trip p50, shm:// / cache-line spin" "$dir/table.txt" ||
	{ echo "no targets"; cat "$dir/table.txt"; fail=1; }
"$IPCX" bench --sizes 64 --only shm,spin --phase-ms 5 --wake 0 --fan 0 --repeat 3 --json \
	>"$dir/out.json" || fail=1
grep -q '"targets": \[' "$dir/out.json" || { echo "no targets in JSON"; fail=1; }
grep -q '"passes": 3' "$dir/out.json" || { echo "no passes in JSON"; fail=1; }
[ -z "$plot" ] || [ -s "$dir/bench.svg" ] || { echo "no plot"; fail=1; }

# Interrupted in the middle of a cell: killed, cleaned up, ended by the signal.
"$IPCX" bench --sizes 8 --only fifo,posix,unix --phase-ms 3000 --wake 0 >/dev/null 2>&1 &
pid=$!
sleep 1
kill -TERM "$pid"
wait "$pid"
status=$?
[ "$status" -eq 143 ] || { echo "interrupted bench exited with $status, not 143"; fail=1; }
left=$(leftovers)
[ -z "$left" ] || { echo "left behind: $left"; fail=1; }
exit $fail
