#!/bin/sh
# Installs the packages the build and the tests need when they are missing.
# As root it runs apt-get; otherwise it prints the command to run. Only the
# build needs gcc, make and cmake: a package that will not install (a mirror
# without it) is reported and left out, and the tests or benchmark peers that
# need it are skipped with the reason.
set -eu
required="gcc make cmake"
pkgs="$required socat iproute2 util-linux python3-sysv-ipc gnuplot-nox libzmq3-dev libnng-dev iceoryx libiceoryx-binding-c-dev"
installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}
missing=""
for p in $pkgs; do
	installed "$p" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
	echo "deps: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null || true
	if ! apt-get install -y -qq $missing >/dev/null; then
		for p in $missing; do
			apt-get install -y -qq "$p" >/dev/null 2>&1 || echo "deps: could not install $p" >&2
		done
	fi
	for p in $required; do
		installed "$p" || { echo "deps: $p is required to build" >&2; exit 1; }
	done
else
	echo "deps: missing$missing; install them with: sudo apt-get install$missing" >&2
	echo "deps: tests that need them are skipped with the reason" >&2
fi
