#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Certificate profiles against Pebble 2.7 (draft-ietf-acme-profiles; Debian's Pebble 2.4 has
# none). Pebble declares "default" (90 days) and "shortlived" (6 days) in its config and lists
# them in the directory's meta.profiles. `cert-pusher issue --profile shortlived` gives, for both
# key types, a certificate whose lifetime read from the certificate itself is 6 days, and
# `--profile default` one of 90 days (Pebble picks a profile at random for an order that names
# none, so each order must have carried its profile). An unknown profile is refused before any
# account or order reaches the CA, with a message naming the option and the offered profiles.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"

t_need_pusher
command -v jq >/dev/null || { t_log "SKIP: jq not installed"; exit 77; }
t_need_pebble27

DEFAULT_S=7776000
SHORT_S=518400
PEBBLE_PROFILES="\"default\": {\"description\": \"90 days\", \"validityPeriod\": $DEFAULT_S},
\"shortlived\": {\"description\": \"6 days\", \"validityPeriod\": $SHORT_S}"
t_challenge_path
PEBBLE_PROFILES=$PEBBLE_PROFILES t_ca
t_log "Pebble: $("$PEBBLE_BIN" -version 2>&1 | head -n 1)"

assert_eq "meta.profiles of Pebble's directory" "default shortlived" \
	"$(curl -sf --cacert "$PEBBLE_CA" "$PEBBLE_DIR_URL" | jq -r '.meta.profiles | keys | join(" ")')"

# orders_added: how many orders Pebble has created so far (its log).
orders_added() { grep -c 'Added order' "$T_DIR/pebble.log" || true; }

# check_lifetime NAME WANT: both key types' certificates of NAME verify against Pebble's root
# and live exactly WANT seconds (read from the certificate, not from spoacme's records).
check_lifetime() {
	local type life
	for type in ecdsa rsa; do
		t_check_stored_cert "$1" "$type" "$T_DIR/root.pem" >/dev/null
		t_open_blob "$1" "$type" "$T_DIR/open"
		life=$(t_lifetime "$T_DIR/open/leaf.pem")
		rm -rf "$T_DIR/open"
		assert_eq "lifetime of $1/$type" "$2" "$life"
		t_log "$1/$type: lifetime ${life}s"
	done
}

S=short.example.com
t_pusher_issue --contact admin@example.com --profile shortlived "$S" ||
	fail "issue --profile shortlived failed: $(tail -n 5 "$T_DIR/pusher.log")"
check_lifetime "$S" "$SHORT_S"

D=default.example.com
t_pusher_issue --contact admin@example.com --profile default "$D" ||
	fail "issue --profile default failed: $(tail -n 5 "$T_DIR/pusher.log")"
check_lifetime "$D" "$DEFAULT_S"

# an unknown profile: refused from the directory alone; Pebble sees no account and no order
before_orders=$(orders_added)
before_accounts=$(grep -c 'POST /sign-me-up' "$T_DIR/pebble.log" || true)
: >"$T_DIR/pusher.log"
rc=0
t_pusher_issue --contact other@example.com --profile longlived nope.example.com || rc=$?
[ "$rc" != 0 ] || fail "issue --profile longlived succeeded"
want="--profile: 'longlived' is not offered by $PEBBLE_DIR_URL (offered: default, shortlived)"
grep -qF -- "$want" "$T_DIR/pusher.log" ||
	fail "no refusal naming --profile: $(cat "$T_DIR/pusher.log")"
assert_eq "orders created for an unknown profile" "$before_orders" "$(orders_added)"
assert_eq "newAccount calls for an unknown profile" "$before_accounts" \
	"$(grep -c 'POST /sign-me-up' "$T_DIR/pebble.log" || true)"
assert_eq "blobs stored for nope.example.com" "" "$(rcli --scan --pattern 'spoacme:cert:nope*')"
t_log "PASS: shortlived ${SHORT_S}s, default ${DEFAULT_S}s, unknown profile refused before" \
	"any order"
