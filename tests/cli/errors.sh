#!/bin/sh
# Operational failures: exit status 1 and exactly one line on stderr,
# "ipcx: COMMAND URL: why", naming the bad part of a URL.
. "$(dirname "$0")/lib.sh"

f="$T/q.fifo"

run "$IPCX" recv --timeout 0 "bogus://x"
expect_rc 1 "an unknown scheme"
expect_err "ipcx: recv bogus://x: " "an unknown scheme"
expect_err "'bogus'" "an unknown scheme"

# A control character in a URL is refused, and the error stays one line.
run "$IPCX" recv --timeout 0 "fifo://$T/a
b"
expect_rc 1 "a URL with a newline"
expect_err "control character" "a URL with a newline"

run "$IPCX" recv --timeout 0 "fifo://$f?capp=64KiB"
expect_rc 1 "an unknown URL option"
expect_err "'capp'" "an unknown URL option"

run "$IPCX" recv --timeout 0 "fifo://$f?mode=999"
expect_rc 1 "a bad mode"
expect_err "'999'" "a bad mode"

run "$IPCX" send --timeout 0 -m x "fifo://relative/path"
expect_rc 1 "a relative FIFO path"
expect_err "absolute path" "a relative FIFO path"

run "$IPCX" send -m x "pipe://"
expect_rc 1 "a pipe:// URL, which only comes in pairs"
expect_err "ipcx: send pipe://: " "a pipe:// URL"

run "$IPCX" recv --no-create --timeout 0 "fifo://$f"
expect_rc 1 "--no-create on a missing FIFO"
expect_err "ipcx: recv fifo://$f: " "--no-create on a missing FIFO"
[ ! -e "$f" ] || fail "--no-create created $f"

# A FIFO writer with --timeout 0 is the O_NONBLOCK open: nobody reads, ENXIO.
mkfifo "$f" || fail "mkfifo $f"
run "$IPCX" send --timeout 0 -m x "fifo://$f"
expect_rc 1 "a FIFO nobody reads"
expect_err "no reader" "a FIFO nobody reads"

# Messages larger than the channel carries, from -m and from stdin.
exec 3<>"$f"
big=$(head -c 5000 /dev/zero | tr '\0' x)
run "$IPCX" send -m "$big" "fifo://$f"
expect_rc 1 "a message over the FIFO's limit"
expect_err "5000 bytes" "a message over the FIFO's limit"
printf '%s' "$big" >"$T/big"
run "$IPCX" send --whole "fifo://$f" <"$T/big"
expect_rc 1 "standard input over the FIFO's limit"
expect_err "larger than" "standard input over the FIFO's limit"
run "$IPCX" send "fifo://$f" <"$T/big"
expect_rc 1 "a line over the FIFO's limit"
expect_err "exceeds the limit" "a line over the FIFO's limit"

# line framing carries no type: a type other than 1 is refused, not dropped.
run "$IPCX" send -t 5 -m x "fifo://$f?frame=line"
expect_rc 1 "a type on frame=line"
expect_err "type" "a type on frame=line"
exec 3>&-
