#!/bin/sh
# ipcx send to ipcx recv over the socket transports other than unix:///path
# (see unix.sh): unixseq://, unixdgram://, unix://@abstract and tcp://.
# Each carries typed messages (--json shows the type) and serves three
# concurrent senders; a transport without the typed capability fails a
# selector; a peer that is not ipcx, writing text into a binary listener, is
# refused as docs/wire.md says; and frame=line talks to socat.
. "$(dirname "$0")/lib.sh"

# free_port: print a TCP port on 127.0.0.1 that nobody uses right now.
free_port() {
	if command -v python3 >/dev/null 2>&1 &&
		python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null; then
		return 0
	fi
	p=$((20000 + $$ % 20000))
	while tcp_listens $p; do
		p=$((p + 1))
	done
	echo $p
}

# tcp_listens PORT: some socket listens on TCP port PORT.
tcp_listens() {
	awk -v p="$(printf ':%04X' "$1")" \
		'$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# unix_bound NAME: a Unix socket is bound to NAME (a path, or @abstract).
unix_bound() {
	awk -v n="$1" '$NF == n { f = 1 } END { exit !f }' /proc/net/unix
}

# wait_listening URL: wait until the recv started for URL has bound it.
# ipcx send waits --timeout for a listener to appear; these tests do not
# lean on that and wait here instead.
wait_listening() {
	addr=${1#*://}
	addr=${addr%%\?*}
	tries=0
	while :; do
		case $1 in
		tcp://*) tcp_listens "${addr##*:}" && return 0 ;;
		*) unix_bound "$addr" && return 0 ;;
		esac
		tries=$((tries + 1))
		[ "$tries" -lt 400 ] || return 1
		sleep 0.05
	done
}

# start_recv URL OUT ARGS...: ipcx recv ARGS on URL in the background,
# stdout in $T/OUT.out and stderr in $T/OUT.err; waits until it listens.
start_recv() {
	url=$1
	o=$2
	shift 2
	"$IPCX" recv "$url" --timeout 15000 "$@" >"$T/$o.out" 2>"$T/$o.err" &
	rpid=$!
	track $rpid
	wait_listening "$url" || fail "recv never listened on $url: $(cat "$T/$o.err")"
}

# end_recv WANT-STATUS WHAT: wait for the recv started last, with that status.
end_recv() {
	wait $rpid
	rrc=$?
	[ "$rrc" -eq "$1" ] || fail "$2: recv exit $rrc, expected $1: $(cat "$T/$o.err")"
}

port=$(free_port)
urls=""
has_transport unixseq && urls="$urls unixseq://$T/seq.sock"
has_transport unixdgram && urls="$urls unixdgram://$T/dgram.sock"
has_transport unix && urls="$urls unix://@ipcx-test-$$"
has_transport tcp && urls="$urls tcp://127.0.0.1:$port"
[ -n "$urls" ] || skip "this build has none of unixseq, unixdgram, unix, tcp"

for url in $urls; do
	# Types and --json: the type of each message as sent, the payload
	# escaped as docs/cli.md says.
	start_recv "$url" json -n 3 --json
	run "$IPCX" send "$url" --timeout 15000 -t 7 -m 'say "hi"' -m 'back\slash'
	expect_rc 0 "send -t 7 over $url"
	run "$IPCX" send "$url" --timeout 15000 -t 123 -m 'é'
	expect_rc 0 "send -t 123 over $url"
	end_recv 0 "recv --json over $url"
	want='{"type":7,"size":8,"data":"say \"hi\""}
{"type":7,"size":10,"data":"back\\slash"}
{"type":123,"size":2,"data":"é"}'
	[ "$(cat "$T/json.out")" = "$want" ] ||
		fail "recv --json over $url printed '$(cat "$T/json.out")', expected '$want'"
	[ -s "$T/json.err" ] && fail "recv --json over $url wrote on stderr: $(cat "$T/json.err")"

	# None of these transports selects by type: a selector fails with one
	# line, it is never ignored.
	case $url in
	tcp://*) sel_url="tcp://127.0.0.1:$(free_port)" ;;
	unix://@*) sel_url="$url-sel" ;;
	*) sel_url="${url%.sock}-sel.sock" ;;
	esac
	run "$IPCX" recv "$sel_url" -t 7 --timeout 1000
	[ "$rc" -eq 1 ] || fail "recv -t 7 on $sel_url: exit $rc, expected 1: $(cat "$T/err")"
	expect_err "cannot select messages by type" "recv -t 7 on $sel_url"

	# Three senders at once to one listener: each message arrives exactly
	# once, and each sender's messages in the order it sent them.
	start_recv "$url" many -n 9
	spids=""
	for s in 1 2 3; do
		"$IPCX" send "$url" --timeout 15000 -m "s$s-1" -m "s$s-2" -m "s$s-3" \
			>"$T/s$s.out" 2>"$T/s$s.err" &
		spids="$spids $!"
		track $!
	done
	s=0
	for p in $spids; do
		s=$((s + 1))
		wait "$p" || fail "sender $s over $url failed: $(cat "$T/s$s.err")"
	done
	end_recv 0 "recv -n 9 from three senders over $url"
	want=$(printf 's%s-%s\n' 1 1 1 2 1 3 2 1 2 2 2 3 3 1 3 2 3 3)
	got=$(sort "$T/many.out")
	[ "$got" = "$want" ] || fail "three senders over $url: received '$got'"
	for s in 1 2 3; do
		got=$(grep "^s$s-" "$T/many.out")
		[ "$got" = "s$s-1
s$s-2
s$s-3" ] || fail "sender $s over $url: its messages arrived as '$got'"
	done
done

# A peer that is not ipcx writes text into a listener in binary mode. The
# listener refuses it at its first byte (docs/wire.md, "The connection
# handshake"): that receive fails with -EPROTO, "peer is not an ipcx
# endpoint", and ipcx recv ends with that one line after printing what it
# had received.
# garbage tcp PORT | garbage abstract NAME: connect there and write a line
# of text; status 2 when there is no tool to do it with.
garbage() {
	if command -v socat >/dev/null 2>&1; then
		case $1 in
		tcp) to="TCP:127.0.0.1:$2" ;;
		*) to="ABSTRACT-CONNECT:$2" ;;
		esac
		printf 'hello\n' | with_limit socat -u - "$to"
	elif command -v python3 >/dev/null 2>&1; then
		with_limit python3 -c '
import socket, sys
if sys.argv[1] == "tcp":
    s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
else:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("\0" + sys.argv[2])
s.sendall(b"hello\n")
s.close()' "$1" "$2"
	else
		return 2
	fi
}
for url in $urls; do
	case $url in
	tcp://*) peer="tcp ${url##*:}" ;;
	unix://@*) peer="abstract ${url#unix://@}" ;;
	*) continue ;;
	esac
	if ! command -v socat >/dev/null 2>&1 && ! command -v python3 >/dev/null 2>&1; then
		echo "note: neither socat nor python3: the non-ipcx peer part is not run"
		break
	fi
	start_recv "$url" bad -n 2
	run "$IPCX" send "$url" --timeout 15000 -m before
	expect_rc 0 "send before the non-ipcx peer over $url"
	tries=0
	until [ -s "$T/bad.out" ]; do
		tries=$((tries + 1))
		[ "$tries" -lt 400 ] || fail "recv over $url never printed the first message"
		sleep 0.05
	done
	# shellcheck disable=SC2086 # peer is two words on purpose
	garbage $peer || fail "the non-ipcx peer could not write to $url"
	end_recv 1 "recv over $url after a non-ipcx peer"
	[ "$(cat "$T/bad.out")" = before ] || fail "recv over $url printed '$(cat "$T/bad.out")'"
	lines=$(wc -l <"$T/bad.err")
	[ "$lines" -eq 1 ] || fail "recv over $url after a non-ipcx peer: $lines lines on stderr: $(cat "$T/bad.err")"
	grep -qF "recv $url: " "$T/bad.err" || fail "the error does not name recv $url: $(cat "$T/bad.err")"
	grep -qF "not an ipcx endpoint" "$T/bad.err" ||
		fail "recv over $url after a non-ipcx peer: '$(cat "$T/bad.err")' does not say 'not an ipcx endpoint'"
done

# frame=line with socat: socat connects over TCP and writes lines that ipcx
# recv prints; ipcx send connects to a socat TCP listener that prints them;
# socat datagrams of one line each reach a unixdgram receiver.
if ! command -v socat >/dev/null 2>&1; then
	echo "note: socat is not installed: the frame=line interop part is not run"
	exit 0
fi
if has_transport tcp; then
	p=$(free_port)
	url="tcp://127.0.0.1:$p?frame=line"
	start_recv "$url" line -n 2
	printf 'from socat\nline two\n' | with_limit socat -u - "TCP:127.0.0.1:$p" ||
		fail "socat connect to $url"
	end_recv 0 "recv from socat over $url"
	[ "$(cat "$T/line.out")" = "from socat
line two" ] || fail "recv from socat over $url printed '$(cat "$T/line.out")'"

	p=$(free_port)
	with_limit socat -u "TCP-LISTEN:$p,bind=127.0.0.1,reuseaddr" - >"$T/socat.out" 2>"$T/socat.err" &
	spid=$!
	track $spid
	tries=0
	until tcp_listens "$p"; do
		tries=$((tries + 1))
		[ "$tries" -lt 400 ] || fail "socat never listened on port $p: $(cat "$T/socat.err")"
		sleep 0.05
	done
	run "$IPCX" send "tcp://127.0.0.1:$p?frame=line" --timeout 15000 -m "from ipcx" -m second
	expect_rc 0 "send to a socat TCP listener"
	wait $spid || fail "socat TCP listener failed: $(cat "$T/socat.err")"
	[ "$(cat "$T/socat.out")" = "from ipcx
second" ] || fail "socat received '$(cat "$T/socat.out")'"
fi
if has_transport unixdgram; then
	url="unixdgram://$T/line-dgram.sock?frame=line"
	start_recv "$url" dline -n 2
	for m in one two; do
		echo "$m" | with_limit socat -u - "UNIX-SENDTO:$T/line-dgram.sock" ||
			fail "socat datagram to $url"
	done
	end_recv 0 "recv of socat datagrams over $url"
	[ "$(cat "$T/dline.out")" = "one
two" ] || fail "recv of socat datagrams over $url printed '$(cat "$T/dline.out")'"
fi
exit 0
