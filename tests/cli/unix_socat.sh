#!/bin/sh
# socat as the peer of ipcx on a Unix socket with ?frame=line, both ways:
# socat connects and writes lines that ipcx recv prints; ipcx send connects
# to a socat listener that prints what arrives.
. "$(dirname "$0")/lib.sh"

has_transport unix || skip "this build has no unix transport"
command -v socat >/dev/null 2>&1 || skip "socat is not installed"

a="$T/in.sock"
"$IPCX" recv -n 2 --timeout 20000 "unix://$a?frame=line" >"$T/r.out" 2>"$T/r.err" &
pid=$!
track $pid
wait_for -S "$a" || fail "recv never listened on $a: $(cat "$T/r.err")"
printf 'from socat\nline two\n' | with_limit socat -u - "UNIX-CONNECT:$a" || fail "socat connect to ipcx"
wait $pid
rc=$?
[ "$rc" -eq 0 ] || fail "recv from socat: exit $rc: $(cat "$T/r.err")"
[ "$(cat "$T/r.out")" = "from socat
line two" ] || fail "recv from socat printed '$(cat "$T/r.out")'"

b="$T/out.sock"
with_limit socat -u "UNIX-LISTEN:$b" - >"$T/socat.out" 2>"$T/socat.err" &
pid=$!
track $pid
run "$IPCX" send --timeout 20000 -m "from ipcx" -m "second" "unix://$b?frame=line"
expect_rc 0 "send to socat"
wait $pid
rc=$?
[ "$rc" -eq 0 ] || fail "socat listener: exit $rc: $(cat "$T/socat.err")"
[ "$(cat "$T/socat.out")" = "from ipcx
second" ] || fail "socat received '$(cat "$T/socat.out")'"
