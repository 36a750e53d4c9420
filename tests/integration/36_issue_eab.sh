#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# External Account Binding against a Pebble that requires it: without EAB the directory's
# externalAccountRequired is a clear configuration error; a wrong HMAC key gets Pebble's
# problem; the right kid + key registers the account (HS256 over the account JWK) and issues.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"

t_need_pusher

MAC=zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W
t_challenge_path
PEBBLE_EAB="\"kid-1\": \"$MAC\"" t_start_pebble
t_keyring
(umask 077 && echo "$MAC" >"$T_DIR/eab" && echo "${MAC%????}AAAA" >"$T_DIR/eab-wrong")

rc=0
t_pusher_issue --key-type ecdsa e1.example.com || rc=$?
assert_eq "exit without EAB" 1 "$rc"
grep -q "requires External Account Binding: set --eab-kid and --eab-hmac-key-file" \
	"$T_DIR/pusher.log" || fail "missing EAB not reported: $(tail -3 "$T_DIR/pusher.log")"

rc=0
t_pusher_issue --key-type ecdsa --eab-kid kid-1 --eab-hmac-key-file "$T_DIR/eab-wrong" \
	e1.example.com || rc=$?
assert_eq "exit with a wrong EAB key" 1 "$rc"
grep -q "account: urn:ietf:params:acme:error:" "$T_DIR/pusher.log" ||
	fail "Pebble's EAB problem not reported: $(tail -3 "$T_DIR/pusher.log")"
assert_eq "accounts stored after failures" "" "$(rcli --scan --pattern 'spoacme:account:*')"

t_pusher_issue --key-type ecdsa --eab-kid kid-1 --eab-hmac-key-file "$T_DIR/eab" \
	e1.example.com || fail "issue with EAB failed: $(tail -3 "$T_DIR/pusher.log")"
t_pebble_roots "$T_DIR/root.pem"
t_check_stored_cert e1.example.com ecdsa "$T_DIR/root.pem" >/dev/null
t_log "PASS: EAB required, refused when wrong, accepted when right"
