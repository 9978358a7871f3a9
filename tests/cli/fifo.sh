#!/bin/sh
# send and recv over FIFOs: plain tools writing lines, typed binary frames,
# the receive count, timeouts, the end of a stream, and signals.
. "$(dirname "$0")/lib.sh"

# echo into a FIFO, read with ?frame=line (seed 000 §3.3).
f="$T/line.fifo"
mkfifo "$f" || fail "mkfifo $f"
"$IPCX" recv --timeout 20000 "fifo://$f?frame=line" >"$T/r.out" 2>"$T/r.err" &
pid=$!
track $pid
with_limit sh -c 'echo hello > "$1"' sh "$f" || fail "echo into $f"
wait $pid
rc=$?
[ "$rc" -eq 0 ] || fail "recv of an echoed line: exit $rc: $(cat "$T/r.err")"
[ "$(cat "$T/r.out")" = hello ] || fail "recv of an echoed line printed '$(cat "$T/r.out")'"

# Typed messages in binary frames. Holding the FIFO open read-write keeps a
# reader (so sends never wait) and a writer (so no end of stream in between).
f="$T/typed.fifo"
mkfifo "$f" || fail "mkfifo $f"
exec 3<>"$f"
run "$IPCX" send -t 7 -m seven "fifo://$f"
expect_rc 0 "send -t 7"
run "$IPCX" send -t 123 -m "hello helios" "fifo://$f"
expect_rc 0 "send -t 123"
run "$IPCX" recv -n 2 --json "fifo://$f"
expect_rc 0 "recv -n 2 --json"
expect_out '{"type":7,"size":5,"data":"seven"}
{"type":123,"size":12,"data":"hello helios"}' "recv of typed messages"

# A FIFO cannot select by type: a selector is refused, the message stays.
run "$IPCX" send -t 2 -m kept "fifo://$f"
run "$IPCX" recv -t 2 --timeout 0 "fifo://$f"
expect_rc 1 "a selector on a FIFO"
expect_err "select" "a selector on a FIFO"
run "$IPCX" recv --timeout 0 "fifo://$f"
expect_rc 0 "recv after a refused selector"
expect_out kept "recv after a refused selector"

# Nothing there and --timeout 0: seed 001's IPC_NOWAIT.
run "$IPCX" recv --timeout 0 "fifo://$f"
expect_rc 1 "recv --timeout 0 on an empty FIFO"
expect_err "ipcx: recv fifo://$f: no message of desired type" "recv --timeout 0 on an empty FIFO"

# Each line of stdin is one message; -n 3 takes three of them.
printf 'one\ntwo\nthree\nfour\n' >"$T/lines"
run "$IPCX" send "fifo://$f" <"$T/lines"
expect_rc 0 "send of four lines"
run "$IPCX" recv -n 3 "fifo://$f"
expect_rc 0 "recv -n 3"
expect_out 'one
two
three' "recv -n 3"

# A --timeout that expires ends with status 1 after printing what came.
run "$IPCX" recv -n 2 --timeout 200 "fifo://$f"
expect_rc 1 "recv -n 2 with one message there"
expect_out four "recv -n 2 with one message there"
expect_err "timed out" "recv -n 2 with one message there"

# --whole sends all of stdin as one message, newlines and all.
printf 'a\nb\n' >"$T/two"
run "$IPCX" send --whole "fifo://$f" <"$T/two"
expect_rc 0 "send --whole"
run "$IPCX" recv --json "fifo://$f"
expect_out '{"type":1,"size":4,"data":"a\nb\n"}' "recv of a --whole message"

# An empty line is an empty message; --no-newline prints payloads alone.
printf 'x\n\ny\n' | "$IPCX" send "fifo://$f" || fail "send of an empty line"
run "$IPCX" recv -n 3 --no-newline "fifo://$f"
expect_rc 0 "recv --no-newline"
expect_out xy "recv --no-newline"
exec 3>&-

# -n 0 receives until every sender has gone, and that is success.
f="$T/stream.fifo"
"$IPCX" recv -n 0 --timeout 20000 "fifo://$f" >"$T/r.out" 2>"$T/r.err" &
pid=$!
track $pid
printf 'x\ny\n' | "$IPCX" send --timeout 20000 "fifo://$f" || fail "send to a waiting recv -n 0"
wait $pid
rc=$?
[ "$rc" -eq 0 ] || fail "recv -n 0 at the end of the stream: exit $rc: $(cat "$T/r.err")"
[ "$(cat "$T/r.out")" = "x
y" ] || fail "recv -n 0 printed '$(cat "$T/r.out")'"

# SIGTERM while recv waits ends it as the signal does (128 + 15).
"$IPCX" recv --timeout 20000 "fifo://$f" >/dev/null 2>"$T/r.err" &
pid=$!
track $pid
wait_running $pid || fail "recv did not start"
kill -TERM $pid
wait $pid
rc=$?
[ "$rc" -eq 143 ] || fail "recv after SIGTERM: exit $rc, expected 143: $(cat "$T/r.err")"
