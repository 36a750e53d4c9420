#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the newer peers the test suite runs against besides Debian's own: HAProxy 3.4.0 (LTS)
# and Pebble 2.7.0 (ARI renewalInfo, meta.profiles), from the upstream release tarballs in
# ../shared/vendor/ (checked against its SHA256SUMS), into build/peers/. Each is built once and
# kept while its binary is newer than its tarball. Nothing built here is part of spoacme.
#
# Without the vendor directory (a checkout outside this project's CI) it says so and exits 0:
# the suite then runs on Debian's HAProxy 2.6 and Pebble 2.4 alone, and the scenarios that need
# Pebble 2.7 skip (tests/run.sh counts a skip as a failure under CI=true).
#
# Output: build/peers/haproxy-3.4.0/haproxy, build/peers/pebble-2.7.0/pebble; build logs in
# build/peers/*.log, whose tail is printed when a build fails. A copy of each binary is kept in
# PEERS_CACHE (default /var/cache/spoacme-peers when writable, else ~/.cache/spoacme-peers), named
# by its tarball's SHA-256, so a fresh clone on the same machine (CI) copies it instead of
# building again. Env: VENDOR (default $ROOT/../shared/vendor), GO (default
# /usr/lib/go-1.23/bin/go), PEERS_JOBS (default 2), PEERS_CACHE.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENDOR=${VENDOR:-$ROOT/../shared/vendor}
OUT=$ROOT/build/peers
GO=${GO:-/usr/lib/go-1.23/bin/go}
JOBS=${PEERS_JOBS:-2}
if [ -z "${PEERS_CACHE:-}" ]; then
	PEERS_CACHE=/var/cache/spoacme-peers
	mkdir -p "$PEERS_CACHE" 2>/dev/null && [ -w "$PEERS_CACHE" ] ||
		PEERS_CACHE=${HOME:-/tmp}/.cache/spoacme-peers
fi
HAPROXY_VER=3.4.0
PEBBLE_VER=2.7.0

say() { printf 'build-peers: %s\n' "$*" >&2; }

if [ ! -d "$VENDOR" ]; then
	say "no vendor directory at $VENDOR: HAProxy $HAPROXY_VER and Pebble $PEBBLE_VER are" \
		"not built; the suite runs on Debian's HAProxy and Pebble only"
	exit 0
fi
VENDOR=$(cd "$VENDOR" && pwd)
mkdir -p "$OUT"

# fresh BIN TARBALL: BIN exists, is executable and is newer than TARBALL.
fresh() { [ -x "$1" ] && [ "$1" -nt "$2" ]; }

# cached TARBALL DST: copy the binary built from TARBALL (same SHA-256) from the cache to DST.
cached() {
	local c
	c=$PEERS_CACHE/$(basename "$2")-$(sha256sum "$1" | cut -d' ' -f1)
	[ -x "$c" ] || return 1
	verify "$1" || return 1
	mkdir -p "$(dirname "$2")"
	cp "$c" "$2.tmp" && mv "$2.tmp" "$2" && touch "$2"
	say "$(basename "$2") from $c"
}

# keep TARBALL DST: put DST, built from TARBALL, in the cache when it is not there (best effort).
keep() {
	local c
	c=$PEERS_CACHE/$(basename "$2")-$(sha256sum "$1" | cut -d' ' -f1)
	[ -x "$c" ] && return 0
	mkdir -p "$PEERS_CACHE" 2>/dev/null && cp "$2" "$c.tmp" 2>/dev/null && mv "$c.tmp" "$c" || true
}

# verify TARBALL: its line of SHA256SUMS matches.
verify() {
	local f=$1 want got
	want=$(awk -v f="$(basename "$f")" '$2 == f || $2 == "*" f { print $1 }' "$VENDOR/SHA256SUMS")
	[ -n "$want" ] || { say "$(basename "$f") is not listed in $VENDOR/SHA256SUMS"; return 1; }
	got=$(sha256sum "$f" | cut -d' ' -f1)
	[ "$got" = "$want" ] || {
		say "$(basename "$f"): sha256 $got, SHA256SUMS says $want"
		return 1
	}
}

# run LOG CMD...: CMD with its output in LOG; on failure the log's tail and a non-zero status.
run() {
	local log=$1
	shift
	if ! "$@" >>"$log" 2>&1; then
		say "failed: $* (last lines of $log):"
		tail -n 30 "$log" >&2
		return 1
	fi
}

# unpack TARBALL DIR: DIR/<top directory of the tarball> from scratch.
unpack() {
	rm -rf "$2"
	mkdir -p "$2"
	tar -xzf "$1" -C "$2"
}

build_haproxy() {
	local tgz=$VENDOR/haproxy-$HAPROXY_VER.tar.gz dst=$OUT/haproxy-$HAPROXY_VER/haproxy
	local log=$OUT/haproxy-$HAPROXY_VER.log src=$OUT/src start
	[ -f "$tgz" ] || { say "missing $tgz"; return 1; }
	fresh "$dst" "$tgz" && { keep "$tgz" "$dst"; return 0; }
	cached "$tgz" "$dst" && return 0
	verify "$tgz"
	say "building HAProxy $HAPROXY_VER (a few minutes; log in $log)"
	start=$(date +%s)
	: >"$log"
	unpack "$tgz" "$src/haproxy"
	run "$log" nice make -C "$src/haproxy/haproxy-$HAPROXY_VER" -j"$JOBS" TARGET=linux-glibc \
		USE_OPENSSL=1 USE_PCRE2=1 USE_PCRE2_JIT=1
	mkdir -p "$(dirname "$dst")"
	cp "$src/haproxy/haproxy-$HAPROXY_VER/haproxy" "$dst.tmp"
	mv "$dst.tmp" "$dst"
	rm -rf "$src/haproxy"
	keep "$tgz" "$dst"
	"$dst" -v | head -n 1 >&2
	say "HAProxy $HAPROXY_VER built in $(($(date +%s) - start))s"
}

build_pebble() {
	local tgz=$VENDOR/pebble-$PEBBLE_VER.tar.gz dst=$OUT/pebble-$PEBBLE_VER/pebble
	local log=$OUT/pebble-$PEBBLE_VER.log src=$OUT/src start
	[ -f "$tgz" ] || { say "missing $tgz"; return 1; }
	fresh "$dst" "$tgz" && { keep "$tgz" "$dst"; return 0; }
	cached "$tgz" "$dst" && return 0
	[ -x "$GO" ] || {
		say "no Go at $GO (golang-1.23-go from bookworm-backports: scripts/install-deps.sh)"
		return 1
	}
	verify "$tgz"
	say "building Pebble $PEBBLE_VER (log in $log)"
	start=$(date +%s)
	: >"$log"
	unpack "$tgz" "$src/pebble"
	mkdir -p "$(dirname "$dst")"
	# Offline: the tarball vendors its modules; GOTOOLCHAIN=local keeps go from fetching one.
	(cd "$src/pebble/pebble-$PEBBLE_VER" &&
		run "$log" env GOTOOLCHAIN=local GOFLAGS=-mod=vendor GOPROXY=off \
			GOCACHE="$OUT/go-cache" GOPATH="$OUT/go-path" \
			nice "$GO" build -ldflags "-X main.version=v$PEBBLE_VER" -o "$dst.tmp" ./cmd/pebble)
	mv "$dst.tmp" "$dst"
	rm -rf "$src/pebble"
	keep "$tgz" "$dst"
	say "Pebble $PEBBLE_VER built in $(($(date +%s) - start))s"
}

rc=0
build_haproxy || rc=1
build_pebble || rc=1
exit $rc
