#!/bin/sh
# The help of ipcx and of each command, --version, and usage errors: one
# line on stderr with a hint, exit status 2.
. "$(dirname "$0")/lib.sh"

run "$IPCX" --help
expect_rc 0 "ipcx --help"
for word in "Usage: ipcx" send recv transports "Exit status"; do
	grep -qF "$word" "$T/out" || fail "ipcx --help does not mention '$word'"
done
cp "$T/out" "$T/overview"

run "$IPCX" help
expect_rc 0 "ipcx help"
cmp -s "$T/out" "$T/overview" || fail "ipcx help differs from ipcx --help"

# Every command in the list has a help page, the same by both spellings.
commands=$(sed -n '/^Commands:/,/^$/p' "$T/overview" | awk 'NF > 1 && $1 != "Commands:" { print $1 }')
[ -n "$commands" ] || fail "no commands listed in ipcx --help"
for c in $commands; do
	run "$IPCX" help "$c"
	expect_rc 0 "ipcx help $c"
	grep -q "^Usage: ipcx $c" "$T/out" || fail "ipcx help $c has no usage line"
	cp "$T/out" "$T/page"
	run "$IPCX" "$c" --help
	expect_rc 0 "ipcx $c --help"
	cmp -s "$T/out" "$T/page" || fail "ipcx $c --help differs from ipcx help $c"
done
grep -q "^Usage: ipcx send URL" "$T/overview" && fail "the overview shows a command's page"
run "$IPCX" help send
grep -qF -- "--no-create" "$T/out" || fail "ipcx help send does not document --no-create"
grep -qF "Exit status" "$T/out" || fail "ipcx help send does not document the exit status"

run "$IPCX" --version
expect_rc 0 "ipcx --version"
grep -Eq '^ipcx [0-9]+\.[0-9]+' "$T/out" || fail "ipcx --version printed '$(cat "$T/out")'"

run "$IPCX"
expect_rc 2 "ipcx without a command"
expect_err "ipcx help" "ipcx without a command"

run "$IPCX" frobnicate
expect_rc 2 "an unknown command"
expect_err "frobnicate" "an unknown command"

run "$IPCX" --frobnicate
expect_rc 2 "an unknown global option"
expect_err "--frobnicate" "an unknown global option"

run "$IPCX" send --frobnicate "fifo://$T/f"
expect_rc 2 "an unknown option"
expect_err "--frobnicate" "an unknown option"
expect_err "ipcx help send" "an unknown option"

run "$IPCX" recv -q "fifo://$T/f"
expect_rc 2 "an unknown short option"
expect_err "'-q'" "an unknown short option"

run "$IPCX" recv "fifo://$T/f" -n
expect_rc 2 "an option without its argument"
expect_err "'-n' needs an argument" "an option without its argument"

run "$IPCX" recv -n many "fifo://$T/f"
expect_rc 2 "a count that is not a number"
expect_err "'many'" "a count that is not a number"

run "$IPCX" send -t 0 -m x "fifo://$T/f"
expect_rc 2 "a message type below 1"
expect_err "'0'" "a message type below 1"

run "$IPCX" recv
expect_rc 2 "recv without a URL"
expect_err "missing URL" "recv without a URL"

run "$IPCX" recv "fifo://$T/a" "fifo://$T/b"
expect_rc 2 "recv with two URLs"
expect_err "fifo://$T/b" "recv with two URLs"

run "$IPCX" help frobnicate
expect_rc 2 "help for an unknown command"
expect_err "frobnicate" "help for an unknown command"

[ ! -e "$T/f" ] || fail "a usage error created an object"
