#!/bin/sh
# Seed 001's message-queue session, with ipcx in place of its send and recv
# programs: ipcmk -Q, send -t 123, recv -t 123, and the same recv again
# failing with "no message of desired type".
set -eu
IPCX=${IPCX:?set IPCX to the ipcx binary}
command -v ipcmk >/dev/null 2>&1 || { echo "skipped: ipcmk (util-linux) is missing"; exit 77; }

id=$(ipcmk -Q | sed -n 's/^Message queue id: *\([0-9][0-9]*\).*/\1/p')
[ -n "$id" ] || { echo "ipcmk -Q printed no id"; exit 1; }
trap 'ipcrm -q "$id" 2>/dev/null || true' EXIT INT TERM

"$IPCX" send "sysvmq://id=$id" -t 123 -m "hello helios"
msgs=$(ipcs -q | awk -v id="$id" '$2 == id { print $6 }')
[ "$msgs" = 1 ] || { echo "ipcs -q shows '$msgs' messages, want 1"; exit 1; }

out=$("$IPCX" recv "sysvmq://id=$id" -t 123)
[ "$out" = "hello helios" ] || { echo "recv printed '$out'"; exit 1; }

if err=$("$IPCX" recv "sysvmq://id=$id" -t 123 --timeout 0 2>&1); then
	echo "the second recv succeeded: '$err'"
	exit 1
fi
case $err in
*"no message of desired type"*) ;;
*) echo "the second recv said '$err'"; exit 1 ;;
esac
echo "ok   seed 001 session"
