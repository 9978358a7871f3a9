#!/bin/sh
# recv -t SELECTOR on a transport that selects by type (a System V queue
# made by ipcmk): > 0 that type, < 0 the lowest type up to |t|, 0 the
# oldest, as msgrcv. Seed 001's own session is sysv_seed001.sh.
. "$(dirname "$0")/lib.sh"

has_transport sysvmq || skip "this build has no sysvmq transport"
command -v ipcmk >/dev/null 2>&1 || skip "ipcmk (util-linux) is not installed"
command -v ipcrm >/dev/null 2>&1 || skip "ipcrm (util-linux) is not installed"

id=$(ipcmk -Q | awk '/id/ { print $NF }')
[ -n "$id" ] || fail "ipcmk -Q printed no queue id"
at_exit "ipcrm -q $id"
q="sysvmq://id=$id"

for t in 3 1 2; do
	"$IPCX" send "$q" -t "$t" -m "type $t" || fail "send -t $t"
done
run "$IPCX" recv "$q" -t 2 --json
expect_out '{"type":2,"size":6,"data":"type 2"}' "recv -t 2"
run "$IPCX" recv "$q" -t -3 --json
expect_out '{"type":1,"size":6,"data":"type 1"}' "recv -t -3"
run "$IPCX" recv "$q" -t 2 --timeout 0
expect_rc 1 "recv -t 2 with no type 2 left"
expect_err "no message of desired type" "recv -t 2 with no type 2 left"
run "$IPCX" recv "$q" --json
expect_out '{"type":3,"size":6,"data":"type 3"}' "recv -t 0"
