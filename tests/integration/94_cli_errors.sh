#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Command-line errors read in one glance: an unknown option makes each binary exit 2 with two
# lines on stderr (getopt's, naming the option, and the --help hint), nothing on stdout; and
# --version prints "<binary> <version>" with the version of debian/changelog. Errors carry
# journald's "<3>" prefix when stderr is a pipe (as under systemd) and "error: " instead on a
# terminal (a pty from script(1)).
set -eu
. "$(dirname "$0")/../lib/common.sh"

VERSION=$(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Version)
for b in spoa-agent cert-pusher; do
	rc=0
	"$BIN/$b" --no-such-option ls >"$T_DIR/out" 2>"$T_DIR/err" || rc=$?
	assert_eq "$b: exit for an unknown option" 2 "$rc"
	assert_eq "$b: stdout for an unknown option" "" "$(cat "$T_DIR/out")"
	assert_eq "$b: stderr lines for an unknown option" 2 "$(wc -l <"$T_DIR/err")"
	grep -q "unrecognized option '--no-such-option'" "$T_DIR/err" || fail "$b: $(cat "$T_DIR/err")"
	grep -qx "try '$b --help'" "$T_DIR/err" || fail "$b: no --help hint: $(cat "$T_DIR/err")"
	assert_eq "$b --version" "$b $VERSION" "$("$BIN/$b" --version)"
done
command -v script >/dev/null || fail "script (util-linux) missing"
out=$("$BIN/cert-pusher" --keyring "$T_DIR/none" --check rekey 2>&1 | cat) || true
assert_eq "error on a pipe" "<3>--keyring: $T_DIR/none: No such file or directory" "$out"
out=$(script -qec "$BIN/cert-pusher --keyring $T_DIR/none --check rekey" /dev/null | tr -d '\r') || true
assert_eq "error on a terminal" "error: --keyring: $T_DIR/none: No such file or directory" "$out"
t_log "unknown options: 2 lines, exit 2; --version $VERSION"
