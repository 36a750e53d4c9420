#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A managed name entered twice in the crt-list (an operator's `add ssl crt-list` by hand) is
# removed entirely when the name goes (issue 13, defect 8): the line numbers come from `show ssl
# crt-list -n`, never from the error text, here a path whose directory holds "(97)".
set -eu
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/lib/loader.sh"
[ -x "$BIN/cert-pusher" ] || { echo "build first"; exit 77; }

t_ramdir base
CERT_DIR="$base/edge(97)"
mkdir -m 700 "$CERT_DIR"
CRT_LIST=$CERT_DIR/crt-list
: >"$CRT_LIST"
loader_stack
mk_import a.example b.example
FALLBACK=$(served_serial nothing.example ecdsa)
start_loader --reconcile-interval 1h
wait_served a.example ecdsa "$(serial_of "$T_DIR/a.example.ecdsa.crt")" 10
wait_served b.example ecdsa "$(serial_of "$T_DIR/b.example.ecdsa.crt")" 10

t_log "a second crt-list entry for a.example, added by hand"
out=$(hp "add ssl crt-list $CRT_LIST $CERT_DIR/a.example.ecdsa.pem")
grep -q Success <<<"$out" || fail "add ssl crt-list: $out"
assert_eq "a.example's entries" 2 \
	"$(hp "show ssl crt-list $CRT_LIST" | grep -c "^$CERT_DIR/a.example.ecdsa.pem")"

t_log "a.example removed: every entry goes"
rcli SREM "${PREFIX}hosts" a.example >/dev/null
rcli DEL "${PREFIX}cert:a.example:ecdsa" "${PREFIX}cert:a.example:rsa" >/dev/null
rcli PUBLISH "${PREFIX}events" "del a.example" >/dev/null
wait_served a.example ecdsa "$FALLBACK" 5
assert_eq "a.example's entries left" 0 \
	"$(hp "show ssl crt-list $CRT_LIST" | grep -c "^$CERT_DIR/a.example" || true)"
hp "show ssl cert" | grep -q "^$CERT_DIR/a.example" && fail "a.example still in show ssl cert"
wait_served b.example ecdsa "$(serial_of "$T_DIR/b.example.ecdsa.crt")" 1
t_log "PASS: a duplicated entry under a path with '(97)' is removed by its line numbers"
