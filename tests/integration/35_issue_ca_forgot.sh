#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The CA forgets the stored account (Pebble restarted on the same directory URL): the issuer
# asks with onlyReturnExisting, gets accountDoesNotExist, registers the same key again, stores
# the new account URL sealed, and issues.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"

t_need_pusher

t_challenge_path
t_start_pebble
t_keyring

t_pusher_issue --key-type ecdsa f1.example.com || fail "first issue: $(tail -3 "$T_DIR/pusher.log")"
acct=$(rcli --scan --pattern 'spoacme:account:*')
[ -n "$acct" ] || fail "no account stored"
before=$(rcli --raw GET "$acct" | sha256sum)

t_restart_pebble
: >"$T_DIR/pusher.log"
t_pusher_issue --key-type ecdsa f2.example.com ||
	fail "issue after the CA forgot the account: $(tail -3 "$T_DIR/pusher.log")"
grep -q "is unknown to $PEBBLE_DIR_URL; registering its key again" "$T_DIR/pusher.log" ||
	fail "the forgotten account was not noticed"
after=$(rcli --raw GET "$acct" | sha256sum)
[ "$before" != "$after" ] || fail "the new account URL was not stored"
t_pebble_roots "$T_DIR/root.pem"
t_check_stored_cert f2.example.com ecdsa "$T_DIR/root.pem" >/dev/null

# and a third run finds the re-registered account as it is
: >"$T_DIR/pusher.log"
t_pusher_issue --key-type ecdsa f3.example.com || fail "third issue: $(tail -3 "$T_DIR/pusher.log")"
grep -q "registering its key again" "$T_DIR/pusher.log" && fail "account re-registered twice"
assert_eq "account blob after the third run" "$after" "$(rcli --raw GET "$acct" | sha256sum)"
t_log "PASS: forgotten account registered again and stored"
