#!/bin/sh
# ipcx ls / stat / mk / rm / limits: objects made by ipcx and by util-linux
# ipcmk show up in the table and in --json; a killed holder leaves a stale
# object that rm --stale removes while a live one stays; errors are one line.
. "$(dirname "$0")/lib.sh"

# A System V key per run and purpose, from our pid, so parallel runs differ.
key() {
	printf '0x%02x%06x' "$1" $(($$ % 16777216))
}

# ls_json: a fresh ipcx ls --json in $T/ls.json, checked to parse.
ls_json() {
	"$IPCX" ls --json >"$T/ls.json" 2>"$T/err" || fail "ls --json: $(cat "$T/err")"
}

# field URL KEY: the KEY of the object at URL in $T/ls.json, "absent" when not listed.
field() {
	/usr/bin/python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["schema"] == "ipcx.ls/1"
for o in doc["objects"]:
    if o["url"] == sys.argv[2]:
        v = o[sys.argv[3]]
        print(v if isinstance(v, str) else json.dumps(v))
        break
else:
    print("absent")' "$T/ls.json" "$1" "$2" || fail "ls --json does not parse"
}

# expect_field URL KEY WANT
expect_field() {
	got=$(field "$1" "$2")
	[ "$got" = "$3" ] || fail "$1: $2 is '$got' in ls --json, expected '$3'"
}

# stat_until URL PATTERN: ipcx stat URL into $T/out until a line matches PATTERN.
stat_until() {
	tries=0
	until "$IPCX" stat "$1" >"$T/out" 2>&1 && grep -q "$2" "$T/out"; do
		tries=$((tries + 1))
		[ "$tries" -lt 400 ] || fail "stat $1 never showed '$2': $(cat "$T/out")"
		sleep 0.05
	done
}

# mk URL...: ipcx mk, which must succeed; the URL it printed is in $made.
mk() {
	run "$IPCX" mk "$@"
	expect_rc 0 "mk $*"
	made=$(cat "$T/out")
	at_exit "'$IPCX' rm -f '$made' 2>/dev/null"
}

# ---- objects of every kind, made by ipcx ------------------------------------
mk "sysvmq://$(key 1)" --mode 0640
mq_url=$made
case "$mq_url" in sysvmq://id=*) ;; *) fail "mk sysvmq printed '$mq_url', not sysvmq://id=N" ;; esac
ipcs -q | grep -q " ${mq_url#sysvmq://id=} " || fail "ipcs -q does not list $mq_url"
mk "fifo://$T/made.fifo"
fifo_url=$made
mk "posixshm:///ipcx-inv-$$" --cap 64KiB
pshm_url=$made
mk "sem:///ipcx-inv-$$"
sem_url=$made
mk "sysvsem://" --cap 3
sem_set_url=$made
made_urls="$mq_url $fifo_url $pshm_url $sem_url $sem_set_url"
if has_transport mq; then
	mk "mq:///ipcx-inv-$$"
	made_urls="$made_urls $made"
fi
if has_transport shm; then
	mk "shm://ipcx-inv-$$"
	made_urls="$made_urls $made"
fi
if has_transport sysvshm; then
	mk "sysvshm://$(key 4)"
	made_urls="$made_urls $made"
fi
if has_transport file; then
	mk "file://$T/made.log"
	made_urls="$made_urls $made"
fi

# ---- and by ipcmk ----------------------------------------------------------
ipcmk_q=$(ipcmk -Q | awk '{ print $NF }') || fail "ipcmk -Q"
at_exit "ipcrm -q $ipcmk_q 2>/dev/null"
ipcmk_m=$(ipcmk -M 8192 | awk '{ print $NF }') || fail "ipcmk -M"
at_exit "ipcrm -m $ipcmk_m 2>/dev/null"
ipcmk_s=$(ipcmk -S 2 | awk '{ print $NF }') || fail "ipcmk -S"
at_exit "ipcrm -s $ipcmk_s 2>/dev/null"

ls_json
for u in $made_urls; do
	expect_field "$u" lasting true
	expect_field "$u" state idle
	expect_field "$u" kind "${u%%:*}"
done
expect_field "$mq_url" mode 0640
expect_field "$mq_url" messages 0
expect_field "$pshm_url" size 65536
expect_field "$sem_set_url" nsems 3
expect_field "$sem_set_url" registered true
field "$sem_set_url" creator | grep -q '^{"pid": [0-9]' ||
	fail "$sem_set_url: no creator pid in ls --json"
expect_field "$sem_set_url" caps null
expect_field "sysvmq://id=$ipcmk_q" registered false
expect_field "sysvshm://id=$ipcmk_m" size 8192
expect_field "sysvsem://id=$ipcmk_s" nsems 2

run "$IPCX" ls
expect_rc 0 "ls"
head -1 "$T/out" | grep -q "^KIND *STATE *OWNER" || fail "ls: no table header: $(head -1 "$T/out")"
grep -q " sysvmq://id=$ipcmk_q\$" "$T/out" || fail "ls does not show the ipcmk queue"
grep -q " $fifo_url\$" "$T/out" || fail "ls does not show $fifo_url"
run "$IPCX" ls -k sysvsem -o kind,url
expect_rc 0 "ls -k sysvsem -o kind,url"
grep -q "^sysvsem *sysvsem://id=$ipcmk_s\$" "$T/out" || fail "ls -k sysvsem: $(cat "$T/out")"
! grep -q "^sysvmq" "$T/out" || fail "ls -k sysvsem shows other kinds"
run "$IPCX" ls -l
expect_rc 0 "ls -l"
grep -q "kernel.msgmax=" "$T/out" || fail "ls -l shows no limits"
head -1 "$T/out" | grep -q " URL *CAPS\$" || fail "ls -l: no CAPS column: $(head -1 "$T/out")"
grep -q " $fifo_url .*named" "$T/out" || fail "ls -l: no capabilities for $fifo_url"

run "$IPCX" stat "$mq_url"
expect_rc 0 "stat $mq_url"
grep -q "^state *idle: made to last" "$T/out" || fail "stat: $(cat "$T/out")"
run "$IPCX" stat "sysvmq://$(key 1)"
expect_rc 0 "stat by key"
grep -q "^url *$mq_url\$" "$T/out" || fail "stat by key finds another object: $(cat "$T/out")"

run "$IPCX" limits --json
expect_rc 0 "limits --json"
/usr/bin/python3 -c '
import json, sys
names = {l["name"] for l in json.load(open(sys.argv[1]))["limits"]}
need = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "fs.mqueue.msg_max",
        "fs.mqueue.msgsize_max", "kernel.shmmax", "kernel.shmall", "kernel.shmmni",
        "kernel.sem.semmsl", "fs.pipe-max-size", "RLIMIT_MSGQUEUE", "RLIMIT_SIGPENDING"}
sys.exit(sorted(need - names) or 0)' "$T/out" || fail "limits --json lacks limits"

# ---- a killed holder leaves a stale object; a live one stays ---------------
"$IPCX" recv "fifo://$T/dead.fifo" >/dev/null 2>&1 &
dead=$!
track $dead
"$IPCX" recv "fifo://$T/live.fifo" >/dev/null 2>&1 &
live=$!
track $live
"$IPCX" recv "sysvmq://$(key 2)" >/dev/null 2>&1 &
deadq=$!
track $deadq
at_exit "'$IPCX' rm -f 'sysvmq://$(key 2)' 2>/dev/null"
wait_for -p "$T/dead.fifo" && wait_for -p "$T/live.fifo" || fail "recv made no FIFO"
stat_until "sysvmq://$(key 2)" "^url "
q_url=$(awk '$1 == "url" { print $2 }' "$T/out")
ls_json
expect_field "fifo://$T/dead.fifo" state live
expect_field "$q_url" state live

kill -9 $dead $deadq
wait $dead $deadq 2>/dev/null
ls_json
expect_field "fifo://$T/dead.fifo" state stale
expect_field "fifo://$T/live.fifo" state live
expect_field "$q_url" state stale

run "$IPCX" rm --stale -n
expect_rc 0 "rm --stale -n"
grep -q "^would remove fifo://$T/dead.fifo " "$T/out" || fail "rm --stale -n: $(cat "$T/out")"
! grep -q "live.fifo" "$T/out" || fail "rm --stale -n would remove a live FIFO"
[ -p "$T/dead.fifo" ] || fail "rm --stale -n removed something"

run "$IPCX" rm --stale -k fifo,sysvmq
expect_rc 0 "rm --stale"
grep -q "^removed fifo://$T/dead.fifo\$" "$T/out" || fail "rm --stale: $(cat "$T/out")"
grep -q "^removed $q_url\$" "$T/out" || fail "rm --stale kept the queue: $(cat "$T/out")"
[ ! -e "$T/dead.fifo" ] || fail "the stale FIFO is still there"
[ -p "$T/live.fifo" ] || fail "rm --stale removed the live FIFO"
ls_json
expect_field "$q_url" state absent
expect_field "fifo://$T/live.fifo" state live

# A held object stays unless forced; once its holder is gone it goes.
run "$IPCX" rm "fifo://$T/live.fifo"
expect_rc 1 "rm of a held FIFO"
expect_err "held by pid $live" "rm of a held FIFO"
kill $live
wait $live 2>/dev/null
run "$IPCX" rm "fifo://$T/live.fifo"
expect_rc 0 "rm of a FIFO nobody holds"
[ ! -e "$T/live.fifo" ] || fail "rm left the FIFO"

# rm by URL of every kind made above, and of ipcmk's objects.
run "$IPCX" rm $made_urls "sysvmq://id=$ipcmk_q" "sysvshm://id=$ipcmk_m" "sysvsem://id=$ipcmk_s"
expect_rc 0 "rm of every kind"
ls_json
for u in $made_urls "sysvmq://id=$ipcmk_q" "sysvshm://id=$ipcmk_m"; do
	expect_field "$u" state absent
done
ipcs -q | grep -q " ${mq_url#sysvmq://id=} " && fail "ipcs still lists $mq_url"

# ---- an shm queue: messages waiting, pattern, peers alive and dead ----------
if has_transport shm; then
	shm_url="shm://ipcx-inv-q-$$"
	at_exit "'$IPCX' rm -f '$shm_url' 2>/dev/null"
	run "$IPCX" send "$shm_url" -m one -m two -m three
	expect_rc 0 "send to $shm_url"
	ls_json
	expect_field "$shm_url" messages 3
	expect_field "$shm_url" size 11
	expect_field "$shm_url" pattern queue
	expect_field "$shm_url" peers 0
	run "$IPCX" stat "$shm_url"
	expect_rc 0 "stat $shm_url"
	grep -q "^messages *3\$" "$T/out" || fail "stat $shm_url: $(cat "$T/out")"
	grep -q "^pattern *queue\$" "$T/out" || fail "stat $shm_url shows no pattern"
	grep -q "^caps .*zero-copy" "$T/out" || fail "stat $shm_url shows no capabilities"

	# A receiver that drained the queue and waits for more is a live peer; killed, a dead one.
	"$IPCX" recv "$shm_url" -n 0 --timeout 30000 >/dev/null 2>&1 &
	shm_rcv=$!
	track $shm_rcv
	stat_until "$shm_url" "^peer *pid $shm_rcv receiver alive: sent 0 (0 bytes), received 3 (11 bytes)\$"
	grep -q "^messages *0\$" "$T/out" || fail "stat $shm_url after recv: $(cat "$T/out")"
	grep -q "^state *live" "$T/out" || fail "stat $shm_url with a receiver: $(cat "$T/out")"
	kill -9 $shm_rcv
	wait $shm_rcv 2>/dev/null
	stat_until "$shm_url" "^peer *pid $shm_rcv receiver dead"

	# An mpsc queue is one object: its lanes' messages are its own, and rm removes the lanes.
	mpsc_url="shm://ipcx-inv-mpsc-$$"
	at_exit "'$IPCX' rm -f '$mpsc_url' 2>/dev/null"
	run "$IPCX" send "$mpsc_url?pattern=mpsc" -m one -m two
	expect_rc 0 "send to $mpsc_url"
	run "$IPCX" send "$mpsc_url" -m three
	expect_rc 0 "second send to $mpsc_url"
	ls_json
	expect_field "$mpsc_url" messages 3
	expect_field "$mpsc_url" pattern mpsc
	# The queue's own capabilities: many senders, one receiver.
	case "$(field "$mpsc_url" caps)" in
	*many-receivers*) fail "ls --json gives $mpsc_url many-receivers: $(field "$mpsc_url" caps)" ;;
	*many-senders*) ;;
	*) fail "ls --json gives $mpsc_url no many-senders: $(field "$mpsc_url" caps)" ;;
	esac
	grep -q "ipcx-inv-mpsc-$$#" "$T/ls.json" && fail "ls lists the lanes of $mpsc_url: $(cat "$T/ls.json")"
	ls /dev/shm | grep -q "ipcx.ipcx-inv-mpsc-$$#0" || fail "no lane file for $mpsc_url"
	run "$IPCX" rm "$mpsc_url"
	expect_rc 0 "rm $mpsc_url"
	ls /dev/shm | grep -q "ipcx-inv-mpsc-$$" && fail "rm $mpsc_url left $(ls /dev/shm | grep "ipcx-inv-mpsc-$$")"

	# An unbounded queue's virtual ring is larger than any bounded one: still an shm queue.
	unb_url="shm://ipcx-inv-unb-$$"
	at_exit "'$IPCX' rm -f '$unb_url' 2>/dev/null"
	run "$IPCX" send "$unb_url?cap=unbounded" -m one -m two
	expect_rc 0 "send to $unb_url"
	ls_json
	expect_field "$unb_url" messages 2
	expect_field "$unb_url" pattern queue
fi

# ---- errors: one line, non-zero ---------------------------------------------
run "$IPCX" stat "sysvmq://id=2147483647"
expect_rc 1 "stat of a missing object"
expect_err "ipcx: stat sysvmq://id=2147483647: no such object" "stat of a missing object"
run "$IPCX" rm "fifo://$T/none.fifo"
expect_rc 1 "rm of a missing object"
expect_err "no such object" "rm of a missing object"
run "$IPCX" ls -k bogus
expect_rc 2 "ls -k bogus"
expect_err "unknown kind 'bogus'" "ls -k bogus"
run "$IPCX" rm --all sysvmq
expect_rc 2 "rm --all without --yes"
expect_err "--yes" "rm --all without --yes"
run "$IPCX" mk "unix://$T/s.sock"
expect_rc 1 "mk of a socket"
expect_err "no lasting object" "mk of a socket"
run "$IPCX" mk "$fifo_url"
run "$IPCX" mk "$fifo_url"
expect_rc 1 "mk of an existing FIFO"
expect_err "ipcx: mk $fifo_url: " "mk of an existing FIFO"

# Permission denied, seen by an unprivileged user when we are root.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1; then
	mk "sysvmq://$(key 3)"
	run env -u XDG_RUNTIME_DIR setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$IPCX" rm "$made"
	expect_rc 1 "rm of root's queue by nobody"
	expect_err "not permitted" "rm of root's queue by nobody"
fi
exit 0
