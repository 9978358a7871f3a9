#!/bin/sh
# recv --json: one object per message, every payload a valid JSON string.
# Control bytes are \u00XX escapes; a payload that is not UTF-8 has each
# byte of 0x80 and above written as \u00XX and "encoding":"latin1".
. "$(dirname "$0")/lib.sh"

f="$T/json.fifo"
mkfifo "$f" || fail "mkfifo $f"
exec 3<>"$f"

# check NAME PRINTF-FORMAT EXPECTED: the payload printf makes comes back as EXPECTED.
check() {
	printf "$2" >"$T/payload"
	run "$IPCX" send --whole "fifo://$f" <"$T/payload"
	expect_rc 0 "send of $1"
	run "$IPCX" recv --json "fifo://$f"
	expect_rc 0 "recv --json of $1"
	expect_out "$3" "$1"
}

check "quotes and backslashes" 'say "hi" \\ bye' '{"type":1,"size":14,"data":"say \"hi\" \\ bye"}'
check "named control escapes" 'a\tb\nc\rd\010e\014f' '{"type":1,"size":11,"data":"a\tb\nc\rd\be\ff"}'
check "other control bytes" 'nul\000one\001esc\033del\177' '{"type":1,"size":16,"data":"nul\u0000one\u0001esc\u001bdel\u007f"}'
check "UTF-8 text" 'caf\303\251 \342\202\254' '{"type":1,"size":9,"data":"café €"}'
check "bytes that are not UTF-8" 'x\377\376y' '{"type":1,"size":4,"data":"x\u00ff\u00fey","encoding":"latin1"}'
check "an overlong UTF-8 form" '\300\257' '{"type":1,"size":2,"data":"\u00c0\u00af","encoding":"latin1"}'
check "a UTF-8 surrogate" '\355\240\200' '{"type":1,"size":3,"data":"\u00ed\u00a0\u0080","encoding":"latin1"}'
check "a cut UTF-8 sequence" 'caf\303' '{"type":1,"size":4,"data":"caf\u00c3","encoding":"latin1"}'
check "an empty message" '' '{"type":1,"size":0,"data":""}'

# When python3 is there, every line also parses as JSON into the same bytes.
if command -v python3 >/dev/null 2>&1; then
	printf 'q"\\\001\377\303\251' >"$T/payload"
	"$IPCX" send --whole -t 9 "fifo://$f" <"$T/payload" || fail "send for the python check"
	"$IPCX" recv --json "fifo://$f" >"$T/line" || fail "recv for the python check"
	python3 - "$T/line" "$T/payload" <<'PY' || fail "python3 does not read back the payload"
import json, sys
m = json.loads(open(sys.argv[1], encoding="utf-8").read())
raw = open(sys.argv[2], "rb").read()
data = m["data"].encode("latin1") if m.get("encoding") == "latin1" else m["data"].encode("utf-8")
assert m["type"] == 9 and m["size"] == len(raw) and data == raw, (m, raw)
PY
fi
exec 3>&-
