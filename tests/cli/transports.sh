#!/bin/sh
# ipcx transports: every registered transport with its capability flags,
# as a list and as the README's Markdown table.
. "$(dirname "$0")/lib.sh"

run "$IPCX" transports
expect_rc 0 "ipcx transports"
head -n 1 "$T/out" | grep -q "^SCHEME" || fail "ipcx transports has no header"
for scheme in pipe spipe fifo; do
	grep -q "^$scheme " "$T/out" || fail "ipcx transports does not list $scheme"
done
grep "^fifo " "$T/out" | grep -qw named || fail "fifo is not listed as named"
grep "^pipe " "$T/out" | grep -qw named && fail "pipe is listed as named"
grep "^spipe " "$T/out" | grep -qw bidirectional || fail "spipe is not listed as bidirectional"
count=$(($(wc -l <"$T/out") - 1))

run "$IPCX" transports --markdown
expect_rc 0 "ipcx transports --markdown"
rows=$(grep -c '^| `' "$T/out")
[ "$rows" -eq "$count" ] || fail "the Markdown table has $rows rows for $count transports"
head -n 1 "$T/out" | grep -q "| typed |" || fail "the Markdown table has no typed column"

run "$IPCX" transports extra
expect_rc 2 "ipcx transports with an argument"
