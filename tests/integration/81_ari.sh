#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ARI (RFC 9773) end to end against Pebble 2.7, whose renewalInfo suggests two thirds of the
# validity plus or minus a day (Debian's Pebble 2.4 has no renewalInfo). The daemon runs with
# --renew-fraction 1/2, so a renewal planned inside Pebble's window can only come from ARI.
# Asserted, from Pebble's side and from the certificates themselves:
# - the CertIDs spoacme records per key type are those computed here with openssl (AKI, serial);
# - the issuer asked renewalInfo once per key type after the order, and renew_at lies inside the
#   merge of the two windows Pebble gives for them (asked here with curl), the next poll being
#   Pebble's Retry-After (6 h) away;
# - an ARI poll (the due time brought forward) asks again for both and keeps renew_at;
# - a renewal sends each key type's CertID as `replaces`: Pebble logs both orders as replacements
#   of the two original orders, and the new serials are served.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/api.sh"

t_need_pebble27

api_stack
start_daemon pusher --renew-fraction 1/2 -v

N=ari.example.com
# ari_gets: renewalInfo requests Pebble has handled so far.
ari_gets() {
	grep -c 'GET /draft-ietf-acme-ari-03/renewalInfo/ -> calling handler' "$T_DIR/pebble.log" ||
		true
}
hget() { rcli HGET "spoacme:host:$N" "$1"; }

api_add "$N"
wait_state "$N" valid 60
t_log "$N issued: $(grep "host=$N order ok" "$T_DIR/pusher.log" | tail -n 1)"
issued_at=$(hget issued_at)
assert_eq "renewalInfo requests after the first order (one per key type)" 2 "$(ari_gets)"

# CertIDs and windows, per key type, from the certificates and from Pebble
declare -A ID START END SERIAL
for type in ecdsa rsa; do
	t_open_blob "$N" "$type" "$T_DIR/open"
	ID[$type]=$(t_cert_id "$T_DIR/open/leaf.pem")
	SERIAL[$type]=$(openssl x509 -in "$T_DIR/open/leaf.pem" -noout -serial | cut -d= -f2)
	rm -rf "$T_DIR/open"
	assert_eq "cert_id_$type in host:$N" "${ID[$type]}" "$(hget "cert_id_$type")"
	read -r START[$type] END[$type] <<<"$(t_ari_window "${ID[$type]}")"
	t_log "$N/$type: CertID ${ID[$type]} window ${START[$type]}..${END[$type]}"
	wait_served "$N" "$type" "${SERIAL[$type]}" 20
done
gets=$(ari_gets) # the issuer's two and ours
grep -q "host=$N order ok .*(ari)" "$T_DIR/pusher.log" ||
	fail "the renewal was not planned from ARI: $(grep "host=$N order ok" "$T_DIR/pusher.log")"
m_start=$((START[ecdsa] < START[rsa] ? START[ecdsa] : START[rsa]))
m_end=$((END[ecdsa] < END[rsa] ? END[ecdsa] : END[rsa]))
renew_at=$(hget renew_at)
[ "$renew_at" -ge "$m_start" ] && [ "$renew_at" -le "$m_end" ] ||
	fail "renew_at $renew_at is outside the merged ARI window $m_start..$m_end"
due=$(rcli ZSCORE spoacme:due "$N")
due=${due%.*}
# the next renewalInfo poll: Pebble's Retry-After, 6 h after the order (a few seconds of slack)
[ "$due" -ge $((issued_at + 21600 - 5)) ] && [ "$due" -le $((issued_at + 21600 + 5)) ] ||
	fail "next ARI poll at $due, expected about issued_at $issued_at + 6 h"
t_log "renew_at $renew_at in $m_start..$m_end (lifetime fraction 1/2 would be far earlier)," \
	"next poll in $((due - issued_at))s"

# an ARI poll: both CertIDs asked again, the same window, renew_at kept
rcli ZADD spoacme:due "$(date +%s)" "$N" >/dev/null
for _ in $(seq 1 100); do
	grep -q "host=$N ari window=" "$T_DIR/pusher.log" && break
	sleep 0.1
done
line=$(grep "host=$N ari window=" "$T_DIR/pusher.log" | tail -n 1)
[ -n "$line" ] || fail "no ARI poll logged after the due time was brought forward"
assert_eq "renewalInfo requests after a poll" $((gets + 2)) "$(ari_gets)"
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
case "$line" in
*"ari window=$(iso "$m_start")..$(iso "$m_end") renew_at=$(iso "$renew_at") "*) ;;
*) fail "ARI poll: expected window $m_start..$m_end renew_at $renew_at, logged: $line" ;;
esac
assert_eq "renew_at after the poll" "$renew_at" "$(hget renew_at)"

# a renewal now: each key type's newOrder replaces its certificate (RFC 9773 §5)
mapfile -t first_orders < <(sed -n 's/.*Added order "\([^"]*\)".*/\1/p' "$T_DIR/pebble.log")
assert_eq "orders before the renewal" 2 "${#first_orders[@]}"
api POST "/v1/hostnames/$N/renew" >/dev/null
for type in ecdsa rsa; do
	for _ in $(seq 1 300); do
		s=$(hget "serial_$type")
		[ "$s" != "${SERIAL[$type]}" ] && break
		sleep 0.2
	done
	[ "$s" != "${SERIAL[$type]}" ] || fail "$N/$type not renewed"
done
wait_state "$N" valid 30
grep -q "host=$N order start replaces_ecdsa=${ID[ecdsa]} replaces_rsa=${ID[rsa]}" \
	"$T_DIR/pusher.log" || fail "the renewal order did not start with both CertIDs as replaces"
replaced=$(sed -n 's/.*ARI: order "[^"]*" is a replacement of "\([^"]*\)".*/\1/p' \
	"$T_DIR/pebble.log" | sort | tr '\n' ' ')
assert_eq "orders Pebble saw replaced" \
	"$(printf '%s\n' "${first_orders[@]}" | sort | tr '\n' ' ')" "$replaced"
for _ in $(seq 1 50); do
	[ "$(grep -c 'has been marked as replaced' "$T_DIR/pebble.log" || true)" = 2 ] && break
	sleep 0.1
done
assert_eq "certificates Pebble marked replaced" 2 \
	"$(grep -c 'has been marked as replaced' "$T_DIR/pebble.log" || true)"
for type in ecdsa rsa; do
	wait_served "$N" "$type" "$(hget "serial_$type")" 20
	[ "$(hget "cert_id_$type")" != "${ID[$type]}" ] || fail "cert_id_$type did not change"
done
grep -q "alreadyReplaced\|without replaces" "$T_DIR/pusher.log" &&
	fail "a replaces was refused: $(grep -m1 'alreadyReplaced\|without replaces' "$T_DIR/pusher.log")"
t_log "PASS: ARI window per key type, renew_at inside it, renewal replaced both certificates"
