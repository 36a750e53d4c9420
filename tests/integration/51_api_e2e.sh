#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# End to end through the API: redis-server, HAProxy (shipped config), spoa-agent, Pebble, and
# `cert-pusher run` (issuer + loader + API). POST a hostname -> the issuer orders ECDSA and RSA
# certificates (HTTP-01 through HAProxy -> agent -> Redis) -> the loader pushes them -> curl
# verifies HTTPS for the name against Pebble's root, and HAProxy serves exactly the serials the
# API reports, for an ECDSA and an RSA-only client. DELETE -> the fallback certificate is
# served again and nothing is left in Redis for the name.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/api.sh"

api_stack
start_daemon pusher

N=shop.example.com
fallback=$(served_serial "$N")
[ -n "$fallback" ] || fail "HAProxy serves nothing for $N before the test"
api_add "$N"
wait_state "$N" valid 90
ecdsa=$(host_attr "$N" serials.ecdsa)
rsa=$(host_attr "$N" serials.rsa)
[ -n "$ecdsa" ] && [ "$ecdsa" != null ] && [ "$rsa" != null ] || fail "serials: $ecdsa / $rsa"
[ "$(host_attr "$N" not_after)" != null ] || fail "no not_after"
[ "$(host_attr "$N" renew_at)" != null ] || fail "no renew_at"
wait_served "$N" ecdsa "$ecdsa" 20
wait_served "$N" rsa "$rsa" 20
assert_eq "HTTPS for $N verified against Pebble's root" 200 "$(https_ok "$N" "$T_DIR/root.pem")"
t_log "$N: ecdsa $ecdsa rsa $rsa served and verified"
grep -q "spoacme_orders_total{outcome=\"success\"} 1" <<<"$(api GET /metrics)" ||
	fail "metrics: one successful order expected"
metrics=$(api GET /metrics)
grep -qx 'spoacme_loader_pushes_total 2' <<<"$metrics" ||
	fail "metrics: the loader should have pushed 2 certificates: $(grep loader_pushes <<<"$metrics")"
grep -qx 'spoacme_loader_haproxy_up 1' <<<"$metrics" || fail "metrics: HAProxy not seen up"
ok2xx=$(sed -n 's/^spoacme_acme_requests_total{code="2xx"} //p' <<<"$metrics")
[ "${ok2xx:-0}" -ge 10 ] || fail "metrics: expected the ACME requests of two orders, 2xx=$ok2xx"

out=$(api DELETE "/v1/hostnames/$N")
assert_eq "DELETE" 204 "$(head -1 <<<"$out")"
wait_served "$N" ecdsa "$fallback" 20
assert_eq "keys left for $N" "" "$(rcli --scan --pattern "spoacme:*$N*")"
assert_eq "due entry" "" "$(rcli ZSCORE spoacme:due "$N")"
grep -qx 'spoacme_loader_removals_total{result="ok"} 2' <<<"$(api GET /metrics)" ||
	fail "metrics: the loader should have removed 2 certificates"
https_ok "$N" "$T_DIR/root.pem" >/dev/null 2>&1 && fail "HTTPS still verifies for a deleted name"
t_log "PASS: POST -> served and verified; DELETE -> fallback, nothing left"
