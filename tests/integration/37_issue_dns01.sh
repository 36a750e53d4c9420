#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# DNS-01 through RFC 2136 on a real authoritative server: Knot serves preview.test and takes
# TSIG-signed updates; Pebble resolves through Knot (-dnsserver), so its DNS-01 validations read
# what cert-pusher published there; the zone has a secondary too, found through its NS set and
# waited for. `cert-pusher issue '*.preview.test'` obtains the wildcard
# (ECDSA and RSA): each blob opens, verifies against Pebble's root with SAN DNS:*.preview.test,
# and Pebble validated dns-01; the TXT records are gone afterwards. A name under --challenge
# dns-01 is issued the same way and the loader makes HAProxy serve it (tls_probe: serial).
# Failures: a wrong TSIG secret, a key the zone's ACL does not let update TXT, an unreachable
# DNS server, a zone Knot does not serve and a name outside the zone without a delegation end
# in a clear error before any order reaches Pebble, and no record is left.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/knot.sh"

t_need_pusher

t_start_redis
t_start_agent
t_start_haproxy
# a primary and a secondary (127.0.0.2, NOTIFY + IXFR): the zone's NS set names both, and the
# issuer, given no --dns-auth, finds them there and waits for each
KNOT_SECONDARY=1 t_start_knot preview.test other.test
t_start_knot_secondary preview.test other.test
# no authorization reuse: every order answers its own dns-01 challenge
PEBBLE_DNS=$KNOT_ADDR PEBBLE_AUTHZREUSE=0 t_ca
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
grep -q "record=_acme-challenge.preview.test visible on 2 authoritative server(s) (127.0.0.1:$KNOT_PORT,127.0.0.2:$KNOT_PORT) after" \
	"$T_DIR/pusher.log" || fail "no propagation line naming both servers of the NS set in the log"
assert_eq "TXT left at _acme-challenge.preview.test" "" "$(t_knot_txt _acme-challenge.preview.test)"
t_log "wildcard issued through DNS-01; TXT removed"

# --- every edge serves it: the loader pushes the wildcard; HAProxy's SNI matching picks it for
# any <x>.preview.test, ECDSA and RSA, and the chain verifies for that name against Pebble's root
ECDSA_SERIAL=$(rcli HGET 'spoacme:host:*.preview.test' serial_ecdsa)
RSA_SERIAL=$(rcli HGET 'spoacme:host:*.preview.test' serial_rsa)
t_bg loader "$PUSHER" --redis "127.0.0.1:$REDIS_PORT" --keyring "$KEYRING" -v run --role loader \
	--haproxy-socket "$HAPROXY_SOCK" --cert-dir "$CERT_DIR"
X=p$RANDOM$RANDOM.preview.test
t_wait_serves "$X" "$ECDSA_SERIAL" "$RSA_SERIAL"
for v in "" rsa; do
	extra=()
	[ "$v" = rsa ] && extra=(--tls-max 1.2 --ciphers ECDHE-RSA-AES128-GCM-SHA256)
	code=$(curl -sS -o /dev/null -w '%{http_code}' --resolve "$X:$HTTPS_PORT:127.0.0.1" \
		--cacert "$T_DIR/root.pem" "${extra[@]}" "https://$X:$HTTPS_PORT/spoacme-haproxy-health") ||
		fail "curl ${v:-ecdsa} https://$X/ does not verify against Pebble's root"
	assert_eq "https://$X/ (${v:-ecdsa})" 200 "$code"
done
san=$(openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -servername "$X" </dev/null 2>/dev/null |
	openssl x509 -noout -ext subjectAltName | tail -n +2 | tr -d ' ')
assert_eq "SAN served for $X" "DNS:*.preview.test" "$san"
t_log "$X served with the wildcard (ECDSA $ECDSA_SERIAL, RSA $RSA_SERIAL), verified by curl"

# --- failures: a clear last_error, no order sent to Pebble (the DNS set-up is probed first),
# no record left behind
valid_before=$(grep -c 'set VALID' "$T_DIR/pebble.log" || true)
orders_before=$(grep -c 'Added order' "$T_DIR/pebble.log" || true)
bad_key=$T_DIR/bad.key
(umask 077 && printf 'hmac-sha256:spoacme-test:%s\n' "$(openssl rand -base64 32)" >"$bad_key")
t_pusher_issue "${DNS[@]/$TSIG_FILE/$bad_key}" '*.preview.test' && fail "issue with a wrong TSIG secret succeeded"
err=$(rcli HGET 'spoacme:host:*.preview.test' last_error)
case "$err" in *"serves the zone but its reply is not signed with key spoacme-test."*"wrong TSIG key name or secret"*) ;;
*) fail "wrong TSIG secret: last_error is '$err'" ;; esac
t_log "wrong TSIG secret: $err"

# a key Knot knows, which the zone's ACL lets update A records only: NOTAUTH for our TXT
t_pusher_issue "${DNS[@]/$TSIG_FILE/$TSIG_AONLY_FILE}" '*.preview.test' &&
	fail "issue with a key the ACL does not let update TXT succeeded"
err=$(rcli HGET 'spoacme:host:*.preview.test' last_error)
case "$err" in *"is not signed with key spoacme-aonly."*"ACL does not let this key add TXT _acme-challenge.preview.test"*) ;;
*) fail "ACL denial: last_error is '$err'" ;; esac
t_log "ACL denial: $err"

unused=$(t_free_port)
t_pusher_issue --dns-update "127.0.0.1:$unused" --dns-tsig-key-file "$TSIG_FILE" \
	--dns-zone preview.test '*.preview.test' && fail "issue with no DNS server succeeded"
err=$(rcli HGET 'spoacme:host:*.preview.test' last_error)
case "$err" in *"DNS update of preview.test. at 127.0.0.1:$unused"*) ;;
*) fail "unreachable DNS server: last_error is '$err'" ;; esac
t_log "unreachable DNS server: $err"

t_pusher_issue --dns-update "$KNOT_ADDR" --dns-tsig-key-file "$TSIG_FILE" \
	--dns-zone nothere.test '*.nothere.test' && fail "issue in a zone Knot does not serve succeeded"
err=$(rcli HGET 'spoacme:host:*.nothere.test' last_error)
case "$err" in *"refused: it is not authoritative for nothere.test. (SOA query: "*) ;;
*) fail "zone not served: last_error is '$err'" ;; esac
t_log "zone not served: $err"

# --dns-update pointed at the secondary, which knows no key (Knot: unsigned NOTAUTH/BADKEY)
t_pusher_issue --dns-update "127.0.0.2:$KNOT_PORT" --dns-tsig-key-file "$TSIG_FILE" \
	--dns-zone preview.test '*.preview.test' && fail "an update at the secondary succeeded"
err=$(rcli HGET 'spoacme:host:*.preview.test' last_error)
case "$err" in *"DNS update of preview.test. at 127.0.0.2:$KNOT_PORT: the server serves the zone but its reply is not signed"*) ;;
*) fail "update at the secondary: last_error is '$err'" ;; esac
t_log "update at the secondary: $err"

# outside --dns-zone without the customer's delegation CNAME (asked through Knot here)
t_pusher_issue "${DNS[@]}" --dns-resolver "$KNOT_ADDR" '*.other.test' &&
	fail "issue outside --dns-zone succeeded"
err=$(rcli HGET 'spoacme:host:*.other.test' last_error)
case "$err" in *"create '_acme-challenge.other.test. CNAME "*".acme-delegation.preview.test.' in the DNS of other.test (found: no CNAME)"*) ;;
*) fail "name outside the zone: last_error is '$err'" ;; esac
t_log "no delegation: $err"

assert_eq "challenges validated by Pebble during the failures" "$valid_before" \
	"$(grep -c 'set VALID' "$T_DIR/pebble.log" || true)"
assert_eq "orders sent to Pebble during the failures" "$orders_before" \
	"$(grep -c 'Added order' "$T_DIR/pebble.log" || true)"
assert_eq "TXT left at _acme-challenge.preview.test" "" "$(t_knot_txt _acme-challenge.preview.test)"

# the secondary lags (its refreshes held): the TXT never reaches it, so the challenge is not
# answered; the error names that server and the record is removed from the primary
knotc -s "$KNOT2_CTL" zone-freeze preview.test >/dev/null || fail "knotc zone-freeze failed"
valid_before=$(grep -c 'set VALID' "$T_DIR/pebble.log" || true)
t_pusher_issue "${DNS[@]}" --dns-propagation-timeout 1s '*.preview.test' &&
	fail "issue with a lagging secondary succeeded"
err=$(rcli HGET 'spoacme:host:*.preview.test' last_error)
case "$err" in *"127.0.0.2:$KNOT_PORT does not answer TXT _acme-challenge.preview.test "*" yet after "*" ms"*) ;;
*) fail "lagging secondary: last_error is '$err'" ;; esac
t_log "lagging secondary: $err"
assert_eq "challenges validated with a lagging secondary" "$valid_before" \
	"$(grep -c 'set VALID' "$T_DIR/pebble.log" || true)"
assert_eq "TXT left at _acme-challenge.preview.test on the primary" "" \
	"$(t_knot_txt _acme-challenge.preview.test)"
knotc -s "$KNOT2_CTL" zone-thaw preview.test >/dev/null

# the key file's mode is checked
chmod 0644 "$bad_key"
t_pusher_issue "${DNS[@]/$TSIG_FILE/$bad_key}" '*.preview.test' && fail "a world-readable key was used"
grep -q -- "--dns-tsig-key-file: .*$bad_key" "$T_DIR/pusher.log" || fail "no error naming the key file's mode"
t_log "PASS: DNS-01 wildcard issued and served; TSIG, reachability and zone errors are clear"
