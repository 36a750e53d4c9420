#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The preview wildcard in the daemon: `cert-pusher run` with --preview-domain preview.test and
# --dns-update (Knot, TSIG) adds "*.preview.test" itself, obtains it through DNS-01 (ECDSA and
# RSA) and its loader serves it; a hostname POSTed to the API gets a preview_hostname in the 201
# that curl verifies against Pebble's root, while the name itself is issued through HTTP-01.
# Pebble resolves every name through Knot (preview.test and example.com zones).
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/knot.sh"
. "$(dirname "$0")/../lib/api.sh"

t_challenge_path
t_start_knot preview.test example.com
PEBBLE_DNS=$KNOT_ADDR PEBBLE_AUTHZREUSE=0 t_ca
api_token
start_daemon daemon --preview-domain preview.test --dns-update "$KNOT_ADDR" \
	--dns-tsig-key-file "$TSIG_FILE"

W='*.preview.test'
for _ in $(seq 1 300); do
	[ "$(rcli HGET "spoacme:host:$W" state)" = valid ] && break
	sleep 0.1
done
assert_eq "state of $W" valid "$(rcli HGET "spoacme:host:$W" state)"
for t in ecdsa rsa; do
	s=$(t_check_stored_cert "$W" "$t" "$T_DIR/root.pem")
	t_log "$W/$t: serial $s, SAN DNS:$W, verifies against Pebble's root"
done
grep -qF "dns01: preview wildcard $W added" "$T_DIR/daemon.log" || fail "the daemon did not add $W"

out=$(api POST /v1/hostnames '{"data":{"attributes":{"hostname":"shop.example.com"}}}')
assert_eq "POST status" 201 "$(head -1 <<<"$out")"
P=$(tail -n +2 <<<"$out" | jq -r '.data.attributes.preview_hostname')
case "$P" in *.preview.test) ;; *) fail "201 without a preview_hostname under preview.test: $out" ;; esac
ECDSA_SERIAL=$(rcli HGET "spoacme:host:$W" serial_ecdsa)
RSA_SERIAL=$(rcli HGET "spoacme:host:$W" serial_rsa)
t_wait_serves "$P" "$ECDSA_SERIAL" "$RSA_SERIAL"
assert_eq "https://$P/ verified against Pebble's root" 200 "$(https_ok "$P" "$T_DIR/root.pem")"
t_log "$P (from the 201) served with the wildcard, verified by curl"
# The loader's names map (the on-demand pre-frontend's) holds the wildcard as it is named.
grep -qxF "$W 1" "$CERT_DIR/names.map" || fail "names.map lacks '$W 1': $(cat "$CERT_DIR/names.map")"

wait_state shop.example.com valid 60
assert_eq "https://shop.example.com/ verified" 200 "$(https_ok shop.example.com "$T_DIR/root.pem")"
assert_eq "TXT left at _acme-challenge.preview.test" "" "$(t_knot_txt _acme-challenge.preview.test)"
t_log "PASS: the daemon obtains and serves the preview wildcard; the 201's preview_hostname works"
