#!/bin/sh
# ipcx sig send / sig wait: realtime signals queue, one each and in order,
# with the sender's pid, uid and payload; standard signals sent while one
# is pending merge into it; bad signal names and timeouts fail with one
# line.
. "$(dirname "$0")/lib.sh"

# signum NAME: the number of signal NAME (RTMIN+1, USR1), from kill -l.
signum() {
	n=1
	while [ "$n" -le 64 ]; do
		[ "$(kill -l "$n" 2>/dev/null | sed 's/^SIG//')" = "$1" ] && echo "$n" && return 0
		n=$((n + 1))
	done
	return 1
}

# wait_blocked PID SIGNO: wait until process PID has blocked signal SIGNO,
# so that a signal sent from now on is taken by it instead of killing it.
# While it waits in sigtimedwait the kernel shows the signals it waits for
# as unblocked (SigBlk), but then they are safe too: they end the wait.
wait_blocked() {
	tries=0
	while :; do
		mask=$(awk '/^SigBlk:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
		[ -n "$mask" ] && [ $(((0x$mask >> ($2 - 1)) & 1)) -eq 1 ] && return 0
		case $(cat "/proc/$1/wchan" 2>/dev/null) in
		*sigtimedwait*) return 0 ;;
		esac
		tries=$((tries + 1))
		[ "$tries" -lt 400 ] || return 1
		sleep 0.05
	done
}

# wait_stopped PID: wait until process PID is stopped (state T).
wait_stopped() {
	tries=0
	until [ "$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null)" = "T" ]; do
		tries=$((tries + 1))
		[ "$tries" -lt 400 ] || return 1
		sleep 0.05
	done
}

rt1=$(signum RTMIN+1) || skip "kill -l does not name RTMIN+1"
usr1=$(signum USR1) || skip "kill -l does not name USR1"
uid=$(id -u)

# Realtime signals queue: three sent, three received in order with their values.
"$IPCX" sig wait SIGRTMIN+1 -n 3 >"$T/rt" 2>"$T/rt.err" &
waiter=$!
track "$waiter"
wait_blocked "$waiter" "$rt1" || fail "sig wait never blocked SIGRTMIN+1"
for v in 7 -8 9; do
	run "$IPCX" sig send "$waiter" SIGRTMIN+1 --value "$v"
	expect_rc 0 "sig send --value $v"
done
wait "$waiter" || fail "sig wait -n 3 ended with status $?: $(cat "$T/rt.err")"
sed 's/ pid [0-9][0-9]* / pid P /' "$T/rt" >"$T/out"
expect_out "SIGRTMIN+1 pid P uid $uid value 7
SIGRTMIN+1 pid P uid $uid value -8
SIGRTMIN+1 pid P uid $uid value 9" "sig wait of three realtime signals"
awk '{ if ($3 <= 0) exit 1 }' "$T/rt" || fail "a sender pid is not a pid: $(cat "$T/rt")"

# Standard signals merge: three SIGUSR1 sent while the waiter is stopped
# (it has them blocked) arrive as one, then a realtime one follows.
"$IPCX" sig wait USR1 SIGRTMIN+1 -n 2 --json >"$T/std" 2>"$T/std.err" &
waiter=$!
track "$waiter"
wait_blocked "$waiter" "$usr1" || fail "sig wait never blocked SIGUSR1"
kill -STOP "$waiter"
wait_stopped "$waiter" || fail "sig wait did not stop"
for v in 1 2 3; do
	"$IPCX" sig send "$waiter" SIGUSR1 --value "$v" || fail "sig send SIGUSR1 --value $v"
done
kill -CONT "$waiter"
"$IPCX" sig send "$waiter" SIGRTMIN+1 --value 4 || fail "sig send SIGRTMIN+1 --value 4"
wait "$waiter" || fail "sig wait -n 2 ended with status $?: $(cat "$T/std.err")"
sed 's/"pid":[0-9]*/"pid":P/' "$T/std" >"$T/out"
expect_out "{\"signal\":\"SIGUSR1\",\"signo\":$usr1,\"code\":-1,\"pid\":P,\"uid\":$uid,\"value\":1}
{\"signal\":\"SIGRTMIN+1\",\"signo\":$rt1,\"code\":-1,\"pid\":P,\"uid\":$uid,\"value\":4}" \
	"three SIGUSR1 merged into one"

# Errors: one line each.
run "$IPCX" sig send $$ SIGFROB
expect_rc 2 "sig send SIGFROB"
expect_err "'SIGFROB' is not a signal" "sig send SIGFROB"
run "$IPCX" sig wait SIGRTMIN+1 NOSUCH
expect_rc 2 "sig wait NOSUCH"
expect_err "'NOSUCH' is not a signal" "sig wait NOSUCH"
run "$IPCX" sig wait SIGKILL
expect_rc 1 "sig wait SIGKILL"
expect_err "SIGKILL cannot be blocked" "sig wait SIGKILL"
run "$IPCX" sig wait SIGRTMIN+2 --timeout 50
expect_rc 1 "sig wait with nothing sent"
expect_err "sig wait SIGRTMIN+2: timed out" "sig wait with nothing sent"
run "$IPCX" sig wait SIGRTMIN+2 --timeout 0
expect_rc 1 "sig wait --timeout 0"
expect_err "no such signal is pending" "sig wait --timeout 0"
run "$IPCX" sig frob
expect_rc 2 "sig frob"
expect_err "unknown action 'frob'" "sig frob"
run "$IPCX" sig send 0 USR1
expect_rc 2 "sig send to pid 0"
expect_err "bad value '0' for PID" "sig send to pid 0"
exit 0
