#!/bin/sh
# Installs the packages the build and the tests need when they are missing.
# As root it runs apt-get; otherwise it prints the command to run.
set -eu
pkgs="gcc make cmake socat iproute2 util-linux python3-sysv-ipc gnuplot-nox libzmq3-dev libnng-dev iceoryx libiceoryx-binding-c-dev"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
	echo "deps: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null || true
	apt-get install -y -qq $missing >/dev/null
else
	echo "deps: missing$missing; install them with: sudo apt-get install$missing" >&2
	echo "deps: tests that need them are skipped with the reason" >&2
fi
