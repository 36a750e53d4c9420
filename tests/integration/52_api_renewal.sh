#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Renewal on its own: Pebble issues 30-second certificates (certificateValidityPeriod), so the
# scheduler renews at 2/3 of the lifetime (+-5% jitter). The served serial changes without any
# request, the API shows a new not_after, and a client hammering HTTPS during the swap never
# sees a failed handshake or a certificate that does not verify against Pebble's root.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/api.sh"

PEBBLE_VALIDITY=30 api_stack
start_daemon pusher

N=renew.example.com
api_add "$N"
wait_state "$N" valid 60
first=$(host_attr "$N" serials.ecdsa)
first_na=$(host_attr "$N" not_after)
wait_served "$N" ecdsa "$first" 20
t_log "$N: first serial $first, not_after $first_na, renew_at $(host_attr "$N" renew_at)"

# a client over TLS for the whole swap: every request must verify and succeed
(
	while :; do
		https_ok "$N" "$T_DIR/root.pem" 2>/dev/null || true
		echo
	done
) >"$T_DIR/probe.out" &
PROBE=$!
T_PIDS+=("$PROBE")

for _ in $(seq 1 600); do
	now=$(served_serial "$N")
	[ -n "$now" ] && [ "$now" != "$first" ] && break
	sleep 0.1
done
[ "$now" != "$first" ] || fail "the certificate was not renewed within 60 s"
sleep 1 # a few more requests on the new certificate
kill "$PROBE"
wait "$PROBE" 2>/dev/null || true
total=$(grep -c . "$T_DIR/probe.out" || true)
bad=$(grep -vc '^200$' "$T_DIR/probe.out" || true)
t_log "probe: $total requests during the swap, $bad not 200"
[ "$total" -gt 20 ] || fail "too few probe requests ($total)"
assert_eq "failed requests during the renewal" 0 "$bad"
wait_state "$N" valid 30
[ "$(host_attr "$N" not_after)" != "$first_na" ] || fail "not_after did not move"
assert_eq "serial in the API" "$now" "$(host_attr "$N" serials.ecdsa)"
assert_eq "attempts" 0 "$(host_attr "$N" attempts)"
t_log "PASS: renewed on its own ($first -> $now) with no failed request"
