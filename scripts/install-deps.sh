#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian packages spoacme builds, tests and runs with, when they are missing.
# Idempotent and quiet when everything is there; needs root (apt-get) only when it installs.
#
# The test suite also builds newer peers than bookworm ships (HAProxy 3.4, Pebble 2.7: see
# scripts/build-peers.sh). Pebble needs Go >= 1.22, which bookworm has only in its backports
# suite: that suite is enabled for Go alone (an apt pin keeps every other package on bookworm
# unless asked for by name with -t).
set -eu

PKGS="build-essential pkg-config libevent-dev libhiredis-dev libcurl4-openssl-dev libjansson-dev
libssl-dev libcmocka-dev haproxy redis-server redis-tools pebble clang clang-format
libclang-rt-14-dev wrk curl openssl ca-certificates procps iproute2 socat jq libpcre2-dev xxd git
libp11-kit-dev softhsm2 libldns-dev knot knot-dnsutils unbound
debhelper dpkg-dev fakeroot help2man man-db bash-completion systemd prometheus chromium"
# From bookworm-backports, for building Pebble 2.7 (scripts/build-peers.sh).
BPO_PKGS="golang-1.23-go"
BPO_SOURCES=/etc/apt/sources.list.d/spoacme-bookworm-backports.sources
BPO_PIN=/etc/apt/preferences.d/spoacme-bookworm-backports

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=""
for p in $PKGS; do
	installed "$p" || missing="$missing $p"
done
bpo_missing=""
for p in $BPO_PKGS; do
	installed "$p" || bpo_missing="$bpo_missing $p"
done
[ -z "$missing" ] && [ -z "$bpo_missing" ] && exit 0

echo "install-deps: installing:$missing${bpo_missing:+ (bookworm-backports:$bpo_missing)}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "install-deps: need root or sudo for:$missing$bpo_missing" >&2
		exit 1
	}
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

# bookworm-backports, unless some source already lists it. The pin (priority 100, what apt gives
# a backports suite anyway) says it in so many words: nothing is upgraded to or installed from
# backports unless named with -t bookworm-backports.
if [ -n "$bpo_missing" ]; then
	if ! cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -qE '^[^#]*[[:space:]]bookworm-backports([[:space:]]|$)'; then
		printf '%s\n' "Types: deb" "URIs: http://deb.debian.org/debian" \
			"Suites: bookworm-backports" "Components: main" \
			"Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" |
			$SUDO tee "$BPO_SOURCES" >/dev/null
	fi
	if [ ! -f "$BPO_PIN" ]; then
		printf '%s\n' "# spoacme (scripts/install-deps.sh): Go only, with -t bookworm-backports" \
			"Package: *" "Pin: release n=bookworm-backports" "Pin-Priority: 100" |
			$SUDO tee "$BPO_PIN" >/dev/null
	fi
fi

$SUDO apt-get update -q >/dev/null
if [ -n "$missing" ]; then
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
if [ -n "$bpo_missing" ]; then
	if ! apt-cache policy $bpo_missing | grep -q 'bookworm-backports'; then
		echo "install-deps: apt finds no bookworm-backports suite offering:$bpo_missing" >&2
		exit 1
	fi
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -q --no-install-recommends -t bookworm-backports $bpo_missing \
		>/dev/null
fi
# The Debian package starts a system redis-server on 6379; tests start their own on free ports.
exit 0
