#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The revocation drill, against Pebble 2.7 and a fleet of two edges (tests/lib/fleet.sh): a
# certificate the edges serve is revoked at the CA behind spoacme's back (RFC 8555 revokeCert
# signed with the certificate's own key, as anyone holding the key may do), and Pebble's
# renewalInfo then answers a window in the past for that serial. At its next ARI poll (brought
# forward here: Pebble's Retry-After is 6 hours) the issuer sees the window and renews at once,
# each key type's order replacing its certificate (`replaces`, logged by Pebble), and both edges
# serve the new serials ("deployed" in the API). Prints the time from revocation to deployed.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/api.sh"
. "$(dirname "$0")/../lib/fleet.sh"

t_need_pebble27
fleet_addr_ok || { t_log "SKIP: cannot bind 127.0.0.2/127.0.0.3"; exit 77; }

fleet_start_redis
fleet_two_edges --primary "127.0.0.1:$PRIMARY_PORT"
fleet_start_issuer --redis "127.0.0.1:$PRIMARY_PORT" --wait-replicas 2 --wait-timeout 2s -v

N=drill.example.com
hget() { rcli HGET "spoacme:host:$N" "$1"; }
# wait_deployed: until the API says every live edge (both) serves the current serials.
wait_deployed() {
	local i d
	for ((i = 0; i < ${1:-30} * 5; i++)); do
		d=$(api GET "/v1/hostnames/$N" | tail -n +2 |
			jq -r '.data.attributes | "\(.deployed) \(.edges | map(select(.live)) | length)"')
		[ "$d" = "true 2" ] && return 0
		sleep 0.2
	done
	fail "$N not deployed on both edges: $(api GET "/v1/hostnames/$N" | tail -n +2)"
}

fleet_route "$N" a
api_add "$N"
wait_state "$N" valid 60
wait_deployed 30
declare -A OLD OLD_ID
for type in ecdsa rsa; do
	OLD[$type]=$(hget "serial_$type")
	OLD_ID[$type]=$(hget "cert_id_$type")
	for x in a b; do fleet_wait_serial "$x" "$N" "$type" "${OLD[$type]}" 20; done
done
renew_at=$(hget renew_at)
[ "$renew_at" -gt $(($(date +%s) + 86400)) ] ||
	fail "renewal planned at $renew_at, expected days away (a 90-day certificate)"
t_log "$N served by both edges: ecdsa ${OLD[ecdsa]} rsa ${OLD[rsa]}, renew_at $renew_at"

# revoke the RSA certificate at the CA with its own key (plaintext only in $T_DIR, removed)
t_open_blob "$N" rsa "$T_DIR/open"
t0=$(date +%s.%N)
t_acme_revoke_by_cert_key "$T_DIR/open/leaf.pem" "$T_DIR/open/key.pem" 4
rm -rf "$T_DIR/open"
assert_eq "Pebble's status of the revoked RSA certificate" "Revoked 4" \
	"$(t_pebble_status "${OLD[rsa]}")"
read -r ws we <<<"$(t_ari_window "${OLD_ID[rsa]}")"
[ "$we" -lt "$(date +%s)" ] || fail "Pebble's window for the revoked serial ($ws..$we) is not past"
t_log "revoked ${OLD[rsa]}; Pebble's renewalInfo now suggests $ws..$we (in the past)"

# the next ARI poll, now
rcli ZADD spoacme:due "$(date +%s)" "$N" >/dev/null
for type in ecdsa rsa; do
	for _ in $(seq 1 300); do
		s=$(hget "serial_$type")
		[ "$s" != "${OLD[$type]}" ] && break
		sleep 0.1
	done
	[ "$s" != "${OLD[$type]}" ] || fail "$N/$type not renewed after the revocation"
done
wait_state "$N" valid 30
for type in ecdsa rsa; do
	want=$(hget "serial_$type")
	for x in a b; do fleet_wait_serial "$x" "$N" "$type" "$want" 30; done
done
wait_deployed 30
t1=$(date +%s.%N)
grep -q "host=$N order start replaces_ecdsa=${OLD_ID[ecdsa]} replaces_rsa=${OLD_ID[rsa]}" \
	"$T_DIR/issuer.log" || fail "the renewal did not start with both CertIDs as replaces"
assert_eq "renewal orders Pebble logged as replacements" 2 \
	"$(grep -c 'ARI: order .* is a replacement of' "$T_DIR/pebble.log" || true)"
assert_eq "Pebble's status of the new RSA certificate" "Valid -" \
	"$(t_pebble_status "$(hget serial_rsa)")"
for x in a b; do
	assert_eq "edge $x: verified HTTPS for $N" 200 "$(fleet_https "$x" "$N" "$T_DIR/root.pem")"
done
printf 'revocation drill: revoked at the CA -> new serials deployed on both edges in %.1f s\n' \
	"$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
t_log "PASS: ecdsa ${OLD[ecdsa]} -> $(hget serial_ecdsa), rsa ${OLD[rsa]} -> $(hget serial_rsa)"
