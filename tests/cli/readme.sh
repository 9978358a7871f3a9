#!/bin/sh
# readme.sh - the README's capability table is what this build reports:
# `ipcx transports --markdown` must appear in README.md verbatim, so the
# table cannot drift from the code. Regenerate it with that command.
. "$(dirname "$0")/lib.sh"

readme="$(dirname "$0")/../../README.md"
"$IPCX" transports --markdown >"$T/caps.md" || exit 1
if ! python3 - "$readme" "$T/caps.md" <<'PY'
import sys
readme = open(sys.argv[1], encoding="utf-8").read()
table = open(sys.argv[2], encoding="utf-8").read()
sys.exit(0 if table in readme else 1)
PY
then
	echo "FAIL: README.md's capability table differs from 'ipcx transports --markdown':" >&2
	cat "$T/caps.md" >&2
	exit 1
fi
echo "ok   README capability table matches the code"
