#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Issuance when the CA rejects 30% of valid nonces (PEBBLE_WFE_NONCEREJECT=30): every badNonce
# is retried with the fresh nonce, so both names still get both key types, and the chains
# verify against Pebble's root.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"

t_need_pusher

t_challenge_path
PEBBLE_WFE_NONCEREJECT=30 t_ca

NAMES="n1.example.com n2.example.com n3.example.com"
# shellcheck disable=SC2086
t_pusher_issue -v --contact admin@example.com $NAMES ||
	fail "issue failed with 30% badNonce: $(grep -v '^<7>' "$T_DIR/pusher.log" | tail -5)"
retries=$(grep -c 'badNonce, retrying with the fresh nonce' "$T_DIR/pusher.log" || true)
t_log "badNonce retries: $retries"
[ "$retries" -gt 0 ] || fail "Pebble rejected no nonce: the scenario tested nothing"
for n in $NAMES; do
	assert_eq "state of $n" valid "$(rcli HGET "spoacme:host:$n" state)"
	for t in ecdsa rsa; do
		t_check_stored_cert "$n" "$t" "$T_DIR/root.pem" >/dev/null
	done
done
assert_eq "challenge tokens left" "" "$(rcli --scan --pattern 'spoacme:chal:*')"
t_log "PASS: issued through $retries badNonce rejections"
