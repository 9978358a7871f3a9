#!/bin/sh
# ipcx watch netlink:route: link and address events from the kernel, seen
# in a network namespace of the script's own (unshare -n), where it makes
# a dummy interface (or a veth pair when the dummy module is missing) and
# gives it an address. Skipped with the reason when that is not allowed.
. "$(dirname "$0")/lib.sh"

if [ -z "${IPCX_WATCH_NETNS:-}" ]; then
	command -v unshare >/dev/null 2>&1 || skip "unshare (util-linux) is not installed"
	command -v ip >/dev/null 2>&1 || skip "ip (iproute2) is not installed"
	unshare -n true 2>/dev/null || skip "unshare -n is not permitted here (needs root or user namespaces)"
	# Run again inside a fresh namespace; each copy removes its own $T.
	IPCX_WATCH_NETNS=1 unshare -n sh "$0"
	exit $?
fi

# wait_listening PID: wait until process PID holds a NETLINK_ROUTE socket
# that joined a group, so that no event made from now on is missed.
wait_listening() {
	tries=0
	until awk -v pid="$1" '$2 == 0 && $3 == pid && $4 != "00000000" { found = 1 }
		END { exit !found }' /proc/net/netlink; do
		tries=$((tries + 1))
		[ "$tries" -lt 400 ] || return 1
		sleep 0.05
	done
}

# wait_line PATTERN FILE: wait until a line of FILE is PATTERN (grep -x).
wait_line() {
	tries=0
	until grep -qx -- "$1" "$2"; do
		tries=$((tries + 1))
		[ "$tries" -lt 400 ] || return 1
		sleep 0.05
	done
}

# start_watch OUT ARGS...: start ipcx watch netlink:route in the background
# with its output in OUT, and wait until it listens; the pid is in $watcher.
start_watch() {
	out=$1
	shift
	"$IPCX" watch netlink:route "$@" >"$out" 2>"$out.err" &
	watcher=$!
	track "$watcher"
	wait_listening "$watcher" || fail "ipcx watch never joined the rtnetlink groups"
}

# add_link: make an interface, a dummy or else a veth pair; its name is in $dev.
add_link() {
	dev=ipcxdummy0
	ip link add "$dev" type dummy 2>/dev/null && return 0
	dev=ipcxveth0
	ip link add "$dev" type veth peer name ipcxveth1 2>"$T/ip.err" && return 0
	skip "neither a dummy nor a veth interface can be made: $(cat "$T/ip.err")"
}

# -n 1 ends after the first event, whatever interface it is about.
start_watch "$T/one" -n 1 --json --timeout 20000
ip link set lo up || fail "ip link set lo up"
wait "$watcher" || fail "watch -n 1 ended with status $?: $(cat "$T/one.err")"
grep -q '^{"event":"link","action":"change","index":1,"ifname":"lo","up":true' "$T/one" ||
	fail "watch -n 1 --json printed '$(cat "$T/one")'"
[ "$(wc -l <"$T/one")" -eq 1 ] || fail "watch -n 1 printed more than one event"

# Every event, until the address has been seen.
start_watch "$T/all" -n 0
add_link
ip addr add 10.9.8.7/24 dev "$dev" || fail "ip addr add 10.9.8.7/24 dev $dev"
wait_line "addr add 10.9.8.7/24 dev $dev index [0-9]*" "$T/all" ||
	fail "no address event; watch printed '$(cat "$T/all")'; stderr '$(cat "$T/all.err")'"
grep -q "^link add $dev index [0-9]* down$" "$T/all" ||
	fail "no link event for $dev; watch printed '$(cat "$T/all")'"
kill "$watcher"
wait "$watcher"
[ $? -eq 143 ] || fail "watch did not end as SIGTERM asked"
[ ! -s "$T/all.err" ] || fail "watch wrote on stderr: $(cat "$T/all.err")"

# Errors: one line each.
run "$IPCX" watch netlink:nosuch
expect_rc 2 "watch netlink:nosuch"
expect_err "unknown source 'netlink:nosuch'" "watch netlink:nosuch"
run "$IPCX" watch netlink:route --timeout 0
expect_rc 1 "watch --timeout 0 with nothing happening"
expect_err "no event is pending" "watch --timeout 0 with nothing happening"
exit 0
