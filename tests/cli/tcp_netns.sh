#!/bin/sh
# ipcx send to ipcx recv over TCP between two network namespaces joined by a
# veth pair (issue 2): messages cross, a send to an address where nobody
# listens fails within its --timeout, and a listener killed mid-stream makes
# the sender fail instead of hang. Needs root and ip(8) with netns support;
# skipped with the reason otherwise.
. "$(dirname "$0")/lib.sh"

has_transport tcp || skip "this build has no tcp transport"
[ "$(id -u)" -eq 0 ] || skip "not root: network namespaces need CAP_SYS_ADMIN"
command -v ip >/dev/null 2>&1 || skip "ip (iproute2) is not installed"

# Unique names: the process id is in every namespace and link name (a link
# name is at most 15 bytes). The namespaces are new, so the addresses only
# have to differ between the two ends; they come from the process id anyway.
A="ipcx-a-$$"
B="ipcx-b-$$"
VA="ixa$$"
VB="ixb$$"
x=$((($$ / 256) % 256))
y=$(($$ % 256))
HA="10.$x.$y.1"
HB="10.$x.$y.2"
PORT=7000

# Deleting a namespace deletes the veth end inside it and so the pair; the
# link delete covers a failure before the ends were moved.
at_exit "ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null; ip link del $VA 2>/dev/null"

ip netns add "$A" 2>"$T/ip.err" || skip "cannot create a network namespace: $(cat "$T/ip.err")"
ip netns add "$B" 2>"$T/ip.err" || skip "cannot create a network namespace: $(cat "$T/ip.err")"
ip link add "$VA" type veth peer name "$VB" 2>"$T/ip.err" ||
	skip "cannot create a veth pair: $(cat "$T/ip.err")"
{
	ip link set "$VA" netns "$A" &&
		ip link set "$VB" netns "$B" &&
		ip -n "$A" addr add "$HA/30" dev "$VA" &&
		ip -n "$B" addr add "$HB/30" dev "$VB" &&
		ip -n "$A" link set lo up &&
		ip -n "$B" link set lo up &&
		ip -n "$A" link set "$VA" up &&
		ip -n "$B" link set "$VB" up
} 2>"$T/ip.err" || fail "setting up the veth pair: $(cat "$T/ip.err")"

# wait_listen NS PORT: wait until a TCP socket listens on PORT in namespace
# NS. ipcx send is documented to wait --timeout for a listener to appear,
# but this test does not lean on that (open_wait.sh checks it).
wait_listen() {
	hex=$(printf ':%04X' "$2")
	tries=0
	until ip netns exec "$1" cat /proc/net/tcp |
		awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }'; do
		tries=$((tries + 1))
		[ "$tries" -lt 400 ] || return 1
		sleep 0.05
	done
}

# bounded CMD...: run CMD under timeout(1) when there is one, so that a hang
# fails the test (status 124) well within CTest's limit.
bounded() {
	if command -v timeout >/dev/null 2>&1; then
		timeout 15 "$@"
	else
		"$@"
	fi
}

# 1. Three messages from B to a listener in A, exactly as sent.
url="tcp://$HA:$PORT"
ip netns exec "$A" "$IPCX" recv "$url" -n 3 --timeout 10000 >"$T/r.out" 2>"$T/r.err" &
pid=$!
track $pid
wait_listen "$A" $PORT || fail "recv never listened on $url in $A: $(cat "$T/r.err")"
run bounded ip netns exec "$B" "$IPCX" send "$url" --timeout 10000 -m one -m two -m three
expect_rc 0 "send from $B to $url"
[ -s "$T/err" ] && fail "send from $B wrote on stderr: $(cat "$T/err")"
wait $pid
rc=$?
[ "$rc" -eq 0 ] || fail "recv in $A on $url: exit $rc: $(cat "$T/r.err")"
[ "$(cat "$T/r.out")" = "one
two
three" ] || fail "recv in $A printed '$(cat "$T/r.out")'"
[ -s "$T/r.err" ] && fail "recv in $A wrote on stderr: $(cat "$T/r.err")"

# 2. Nobody listens on the port (the host answers with a reset): the send
# fails with one line, at the latest when its --timeout ends. timeout(1)
# only catches a hang; no duration is asserted.
run bounded ip netns exec "$B" "$IPCX" send "tcp://$HA:$((PORT + 1))" --timeout 1000 -m lost
[ "$rc" -ne 124 ] || fail "send where nobody listens: hung"
[ "$rc" -eq 1 ] || fail "send where nobody listens: exit $rc, expected 1: $(cat "$T/err")"
expect_err "send tcp://$HA:$((PORT + 1))" "send where nobody listens"

# 3. The listener is killed mid-stream: the sender's next sends fail with
# one line on stderr; it neither hangs nor succeeds. The sender reads lines
# from a producer that stops by itself after a bounded number of lines.
url="tcp://$HA:$((PORT + 2))"
ip netns exec "$A" "$IPCX" recv "$url" -n 0 --timeout 10000 >"$T/k.out" 2>"$T/k.err" &
rpid=$!
track $rpid
wait_listen "$A" $((PORT + 2)) || fail "recv never listened on $url in $A: $(cat "$T/k.err")"
(
	i=0
	while [ $i -lt 400 ]; do
		echo "line $i" || exit 0
		i=$((i + 1))
		sleep 0.02
	done
) | bounded ip netns exec "$B" "$IPCX" send "$url" --timeout 5000 >"$T/s.out" 2>"$T/s.err" &
spid=$!
track $spid
# Wait for a few messages to arrive, then kill the listener.
tries=0
until [ "$(wc -l <"$T/k.out")" -ge 5 ]; do
	tries=$((tries + 1))
	[ "$tries" -lt 400 ] || fail "recv in $A got no messages: $(cat "$T/k.err") $(cat "$T/s.err")"
	sleep 0.05
done
kill -KILL $rpid
{ wait $rpid; } 2>/dev/null
# $spid is the subshell running the pipeline: its status is that of the
# last command, ipcx send (under timeout(1): 124 would be a hang).
wait $spid
rc=$?
[ "$rc" -ne 124 ] || fail "send kept going after its listener was killed (hung)"
[ "$rc" -eq 1 ] || fail "send after its listener was killed: exit $rc, expected 1: $(cat "$T/s.err")"
lines=$(wc -l <"$T/s.err")
[ "$lines" -eq 1 ] || fail "send after its listener was killed: $lines lines on stderr: $(cat "$T/s.err")"
grep -qF "send $url" "$T/s.err" || fail "send's error does not name the URL: $(cat "$T/s.err")"

# 4. Nothing answers at all: with A's end of the link down, B's packets go
# nowhere and no reset comes back. The --timeout bounds the connect.
ip -n "$A" link set "$VA" down 2>"$T/ip.err" || fail "setting $VA down: $(cat "$T/ip.err")"
run bounded ip netns exec "$B" "$IPCX" send "tcp://$HA:$PORT" --timeout 1000 -m lost
[ "$rc" -ne 124 ] || fail "send to a host that does not answer: hung"
[ "$rc" -eq 1 ] || fail "send to a host that does not answer: exit $rc, expected 1: $(cat "$T/err")"
expect_err "send tcp://$HA:$PORT" "send to a host that does not answer"
exit 0
