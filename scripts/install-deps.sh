#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian packages spoacme builds, tests and runs with, when they are missing.
# Idempotent and quiet when everything is there; needs root (apt-get) only when it installs.
set -eu

PKGS="build-essential pkg-config libevent-dev libhiredis-dev libcurl4-openssl-dev libjansson-dev
libssl-dev libcmocka-dev haproxy redis-server redis-tools pebble clang clang-format
libclang-rt-14-dev wrk curl openssl ca-certificates procps iproute2 socat jq"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo for:$missing" >&2; exit 1; }
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
# The Debian package starts a system redis-server on 6379; tests start their own on free ports.
exit 0
