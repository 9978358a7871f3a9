#!/bin/sh
# ipcx send to ipcx recv over a Unix socket: recv listens, send connects
# (its --timeout bounds the wait for the listener), and a listener ended by
# SIGTERM.
. "$(dirname "$0")/lib.sh"

has_transport unix || skip "this build has no unix transport"

s="$T/pair.sock"
"$IPCX" recv -n 2 --timeout 20000 "unix://$s" >"$T/r.out" 2>"$T/r.err" &
pid=$!
track $pid
run "$IPCX" send --timeout 20000 -t 4 -m one -m two "unix://$s"
expect_rc 0 "send over unix://"
wait $pid
rc=$?
[ "$rc" -eq 0 ] || fail "recv over unix://: exit $rc: $(cat "$T/r.err")"
[ "$(cat "$T/r.out")" = "one
two" ] || fail "recv over unix:// printed '$(cat "$T/r.out")'"

# A listener ended by SIGTERM ends as the signal does (128 + 15). Its
# socket file stays, as every named object does after close, and the next
# listener replaces it once it proves that nobody listens there.
s="$T/term.sock"
"$IPCX" recv --timeout 20000 "unix://$s" >/dev/null 2>"$T/r.err" &
pid=$!
track $pid
wait_for -S "$s" || fail "recv never listened on $s: $(cat "$T/r.err")"
kill -TERM $pid
wait $pid
rc=$?
[ "$rc" -eq 143 ] || fail "recv after SIGTERM: exit $rc, expected 143: $(cat "$T/r.err")"
"$IPCX" recv --timeout 20000 "unix://$s" >"$T/r.out" 2>"$T/r.err" &
pid=$!
track $pid
run "$IPCX" send --timeout 20000 -m again "unix://$s"
expect_rc 0 "send to the second listener"
wait $pid
rc=$?
[ "$rc" -eq 0 ] || fail "a second listener on $s: exit $rc: $(cat "$T/r.err")"
[ "$(cat "$T/r.out")" = again ] || fail "the second listener printed '$(cat "$T/r.out")'"
