#!/bin/sh
# A sender started before its listener: docs/cli.md says that --timeout
# bounds the open too, "a connecting sender [waits] that long for a
# listener to appear", and the default (-1) waits for ever. So ipcx send,
# started first, delivers once ipcx recv listens. The listener is started
# after the sender has been running a while (longer than the CLI's 100 ms
# wait slice); nothing about durations is asserted.
. "$(dirname "$0")/lib.sh"

urls=""
has_transport unix && urls="$urls unix://$T/late.sock unix://@ipcx-late-$$"
has_transport unixseq && urls="$urls unixseq://$T/late-seq.sock"
has_transport unixdgram && urls="$urls unixdgram://$T/late-dgram.sock"
if has_transport tcp && command -v python3 >/dev/null 2>&1; then
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	urls="$urls tcp://127.0.0.1:$port"
fi
[ -n "$urls" ] || skip "this build has no socket transport"

for url in $urls; do
	for timeout in 15000 -1; do
		with_limit "$IPCX" send "$url" --timeout "$timeout" -m early >"$T/s.out" 2>"$T/s.err" &
		spid=$!
		track $spid
		sleep 0.5
		with_limit "$IPCX" recv "$url" --timeout 15000 >"$T/r.out" 2>"$T/r.err" &
		rpid=$!
		track $rpid
		wait $spid
		rc=$?
		[ "$rc" -eq 0 ] ||
			fail "send --timeout $timeout started before the listener on $url: exit $rc: $(cat "$T/s.err")"
		wait $rpid
		rc=$?
		[ "$rc" -eq 0 ] || fail "recv on $url: exit $rc: $(cat "$T/r.err")"
		[ "$(cat "$T/r.out")" = early ] || fail "recv on $url printed '$(cat "$T/r.out")'"
	done
done
