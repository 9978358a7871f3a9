# lib.sh - what every CLI test script shares. Sourced, never run alone.
#
# It checks that $IPCX names the ipcx binary, makes a private directory $T
# (its name holds the process id, so parallel runs never collide) and
# removes it at exit together with the background processes registered by
# track and the objects registered by at_exit, however the script ends.
set -u

if [ -z "${IPCX:-}" ] || [ ! -x "$IPCX" ]; then
	echo "FAIL: IPCX must name the ipcx binary (CTest sets it)" >&2
	exit 1
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/ipcx-cli-$$.XXXXXX") || exit 1
# ipcx keeps records of the objects it creates under XDG_RUNTIME_DIR: keep
# this script's records in $T, removed with it.
XDG_RUNTIME_DIR=$T
export XDG_RUNTIME_DIR
BG_PIDS=""
AT_EXIT=":"

cleanup() {
	for p in $BG_PIDS; do
		kill "$p" 2>/dev/null
	done
	eval "$AT_EXIT"
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# track PID: kill that background process at exit if it still runs.
track() {
	BG_PIDS="$BG_PIDS $1"
}

# at_exit COMMAND: run COMMAND at exit, to remove an object made outside $T.
at_exit() {
	AT_EXIT="$AT_EXIT; $1"
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# skip REASON: end the script as skipped (CTest SKIP_RETURN_CODE 77).
skip() {
	echo "SKIP: $*"
	exit 77
}

# run CMD...: run it with stdout in $T/out and stderr in $T/err, status in $rc.
run() {
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
}

# expect_rc WANT WHAT: the last run ended with status WANT.
expect_rc() {
	[ "$rc" -eq "$1" ] || fail "$2: exit status $rc, expected $1; stderr: $(cat "$T/err")"
}

# expect_out WANT WHAT: the last run printed WANT (trailing newlines aside).
expect_out() {
	got=$(cat "$T/out")
	[ "$got" = "$1" ] || fail "$2: printed '$got', expected '$1'"
}

# expect_err TEXT WHAT: the last run wrote exactly one line on stderr, containing TEXT.
expect_err() {
	lines=$(wc -l <"$T/err")
	[ "$lines" -eq 1 ] || fail "$2: $lines lines on stderr, expected one: $(cat "$T/err")"
	grep -qF -- "$1" "$T/err" || fail "$2: stderr '$(cat "$T/err")' does not contain '$1'"
}

# has_transport SCHEME: this build of ipcx has that transport.
has_transport() {
	"$IPCX" transports | awk 'NR > 1 { print $1 }' | grep -qx "$1"
}

# with_limit CMD...: run a command that could block for ever (a shell
# opening a FIFO nobody reads) under timeout(1) when there is one.
with_limit() {
	if command -v timeout >/dev/null 2>&1; then
		timeout 60 "$@"
	else
		"$@"
	fi
}

# wait_running PID: wait until that background process runs $IPCX. A signal
# sent between fork and exec would reach the shell's trap, not ipcx.
wait_running() {
	want=$(readlink -f "$IPCX")
	tries=0
	until [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$want" ]; do
		tries=$((tries + 1))
		[ "$tries" -lt 400 ] || return 1
		sleep 0.05
	done
}

# wait_for TEST-ARGS...: wait until test(1) with these arguments holds,
# for a listener to appear; fails after about 20 seconds.
wait_for() {
	tries=0
	until test "$@"; do
		tries=$((tries + 1))
		[ "$tries" -lt 400 ] || return 1
		sleep 0.05
	done
}
