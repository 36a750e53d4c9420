#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A name whose challenge can't be served: challtestsrv resolves it to 127.0.0.9, where nothing
# listens. The order fails, host:<name> says failed with Pebble's problem document as
# last_error, no challenge token is left in Redis, no certificate is stored, and a good name in
# the same run is still issued.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"

t_need_pusher

t_challenge_path
t_start_pebble
t_keyring
t_cts_add_a unreachable.example.com 127.0.0.9

rc=0
t_pusher_issue --contact admin@example.com unreachable.example.com ok.example.com || rc=$?
assert_eq "exit status with one failed name" 1 "$rc"

assert_eq "state of the good name" valid "$(rcli HGET spoacme:host:ok.example.com state)"
assert_eq "state of the failed name" failed "$(rcli HGET spoacme:host:unreachable.example.com state)"
err=$(rcli HGET spoacme:host:unreachable.example.com last_error)
t_log "last_error: $err"
case "$err" in
ecdsa:\ urn:ietf:params:acme:error:connection:*127.0.0.9*) ;;
*) fail "last_error is not Pebble's connection problem for 127.0.0.9: '$err'" ;;
esac
grep -q "host=unreachable.example.com type=ecdsa failed: urn:ietf:params:acme:error:connection" \
	"$T_DIR/pusher.log" || fail "the problem document is not in the log"
assert_eq "certificates stored for the failed name" "" \
	"$(rcli --scan --pattern 'spoacme:cert:unreachable.example.com:*')"
assert_eq "challenge tokens left" "" "$(rcli --scan --pattern 'spoacme:chal:*')"
t_assert_no_plaintext_keys
t_log "PASS: failed with the CA's problem, tokens cleaned up"
