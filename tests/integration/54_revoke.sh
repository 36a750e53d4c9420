#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Revocation on removal, against Pebble: `DELETE /v1/hostnames/<name>?revoke=true` answers 202
# "removing"; the issuer revokes both certificates at the CA (revokeCert with the account key,
# reason cessationOfOperation) and then purges the name: Pebble's management interface reports
# each serial Revoked with reason 5, and nothing is left in Redis. A bad query is 422 and
# removes nothing; a plain DELETE leaves the certificates valid at the CA; `cert-pusher rm
# --revoke` does the same as the API.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/api.sh"

# pebble_status SERIAL: "Status Reason" of the certificate with our (uppercase hex) serial, as
# Pebble's management interface reports it (lowercase hex, no leading zeros).
pebble_status() {
	local s
	s=$(tr 'A-F' 'a-f' <<<"$1" | sed 's/^0*//')
	curl -sf --cacert "$PEBBLE_CA" "$PEBBLE_MGMT/cert-status-by-serial/$s" |
		jq -r '"\(.Status) \(.Reason // "-")"'
}

# wait_gone NAME: until the API answers 404 for NAME.
wait_gone() {
	local i code
	for ((i = 0; i < 300; i++)); do
		code=$(api GET "/v1/hostnames/$1" | head -1)
		[ "$code" = 404 ] && return 0
		sleep 0.2
	done
	fail "$1 still there: $(api GET "/v1/hostnames/$1" | tail -n +2)"
}

# assert_nothing_left NAME
assert_nothing_left() {
	assert_eq "keys left for $1" "" "$(rcli --scan --pattern "spoacme:*$1*")"
	assert_eq "due entry of $1" "" "$(rcli ZSCORE spoacme:due "$1")"
	assert_eq "$1 in the hosts set" 0 "$(rcli SISMEMBER spoacme:hosts "$1")"
}

t_challenge_path
t_start_pebble
t_keyring
api_token
start_daemon pusher

R=gone.example.com K=kept.example.com C=cli.example.com
for n in "$R" "$K" "$C"; do api_add "$n"; done
for n in "$R" "$K" "$C"; do wait_state "$n" valid 90; done
r_ecdsa=$(host_attr "$R" serials.ecdsa)
r_rsa=$(host_attr "$R" serials.rsa)
k_ecdsa=$(host_attr "$K" serials.ecdsa)
c_ecdsa=$(host_attr "$C" serials.ecdsa)
c_rsa=$(host_attr "$C" serials.rsa)
for s in "$r_ecdsa" "$r_rsa" "$k_ecdsa" "$c_ecdsa" "$c_rsa"; do
	[ -n "$s" ] && [ "$s" != null ] || fail "a serial is missing"
	assert_eq "Pebble's status of $s before" "Valid -" "$(pebble_status "$s")"
done

# bad queries: 422, nothing removed
for q in "revoke=yes" "revoke=" "foo=1" "revoke=true&revoke=true"; do
	assert_eq "DELETE ?$q" 422 "$(api DELETE "/v1/hostnames/$R?$q" | head -1)"
done
assert_eq "$R after bad DELETEs" valid "$(host_attr "$R" state)"

# with revoke: 202 removing, then revoked at the CA and purged
out=$(api DELETE "/v1/hostnames/$R?revoke=true")
assert_eq "DELETE ?revoke=true" 202 "$(head -1 <<<"$out")"
assert_eq "state in the 202" removing "$(tail -n +2 <<<"$out" | jq -r .data.attributes.state)"
wait_gone "$R"
assert_nothing_left "$R"
assert_eq "Pebble's status of $R/ecdsa" "Revoked 5" "$(pebble_status "$r_ecdsa")"
assert_eq "Pebble's status of $R/rsa" "Revoked 5" "$(pebble_status "$r_rsa")"
t_log "$R: both certificates revoked (reason 5) and the name purged"

# without revoke: as before, the certificate stays valid at the CA
assert_eq "DELETE ?revoke=false" 204 "$(api DELETE "/v1/hostnames/$K?revoke=false" | head -1)"
assert_nothing_left "$K"
assert_eq "Pebble's status of $K/ecdsa" "Valid -" "$(pebble_status "$k_ecdsa")"

# the command line
out=$("$PUSHER" --redis "127.0.0.1:$REDIS_PORT" rm --revoke "$C" 2>&1) ||
	fail "rm --revoke $C: $out"
grep -q "^$C: removing" <<<"$out" || fail "rm --revoke said: $out"
wait_gone "$C"
assert_nothing_left "$C"
assert_eq "Pebble's status of $C/ecdsa" "Revoked 5" "$(pebble_status "$c_ecdsa")"
assert_eq "Pebble's status of $C/rsa" "Revoked 5" "$(pebble_status "$c_rsa")"
grep -q "host=$R certificates revoked; removed" "$T_DIR/pusher.log" ||
	fail "no revocation line in the daemon's log"
t_log "PASS: DELETE ?revoke=true and rm --revoke revoke at the CA then purge; plain DELETE does not revoke"
