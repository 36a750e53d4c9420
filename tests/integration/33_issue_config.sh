#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The issue command's configuration errors: each bad or missing value is refused with a message
# naming the option (exit 2) before anything is ordered; --check accepts a good configuration;
# a --profile the CA does not offer is refused after reading its directory.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"

t_need_pusher

t_start_redis
HTTP_PORT=$(t_free_port) # nothing serves challenges here: no order may start
t_start_pebble
t_keyring

# expect_error EXPECTED_TEXT ARGS...: cert-pusher exits 2 and says EXPECTED_TEXT
expect_error() {
	local want=$1 rc=0
	shift
	"$PUSHER" "$@" >"$T_DIR/out" 2>&1 || rc=$?
	[ "$rc" = 2 ] || fail "exit $rc (want 2) for: $* -- $(cat "$T_DIR/out")"
	grep -qF -- "$want" "$T_DIR/out" || fail "no '$want' in: $(cat "$T_DIR/out")"
}

R=(--redis "127.0.0.1:$REDIS_PORT")
GOOD=(--directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA")
expect_error "--keyring: required" "${R[@]}" issue "${GOOD[@]}" a.example.com
cp "$KEYRING" "$T_DIR/open-ring" && chmod 644 "$T_DIR/open-ring"
expect_error "--keyring:" "${R[@]}" --keyring "$T_DIR/open-ring" issue "${GOOD[@]}" a.example.com
K=(--keyring "$KEYRING")
expect_error "--contact: 'nobody' is not an e-mail address" "${R[@]}" "${K[@]}" issue \
	"${GOOD[@]}" --contact nobody a.example.com
expect_error "--key-type: 'dsa' is not valid" "${R[@]}" "${K[@]}" issue "${GOOD[@]}" \
	--key-type dsa a.example.com
expect_error "--account-key-type: 'ed25519'" "${R[@]}" "${K[@]}" issue "${GOOD[@]}" \
	--account-key-type ed25519 a.example.com
expect_error "--ca-bundle:" "${R[@]}" "${K[@]}" issue --directory "$PEBBLE_DIR_URL" \
	--ca-bundle "$T_DIR/nonexistent.pem" a.example.com
echo "not a certificate" >"$T_DIR/junk.pem"
expect_error "holds no PEM certificate" "${R[@]}" "${K[@]}" issue \
	--directory "$PEBBLE_DIR_URL" --ca-bundle "$T_DIR/junk.pem" a.example.com
expect_error "--directory: 'http://127.0.0.1:1/dir' is not an https:// URL" "${R[@]}" "${K[@]}" \
	issue --directory http://127.0.0.1:1/dir a.example.com
expect_error "--eab-kid and --eab-hmac-key-file go together" "${R[@]}" "${K[@]}" issue \
	"${GOOD[@]}" --eab-kid kid-1 a.example.com
(umask 077 && echo 'not base64!' >"$T_DIR/eab")
expect_error "--eab-hmac-key-file:" "${R[@]}" "${K[@]}" issue "${GOOD[@]}" --eab-kid kid-1 \
	--eab-hmac-key-file "$T_DIR/eab" a.example.com
expect_error "--concurrency: '0'" "${R[@]}" "${K[@]}" issue "${GOOD[@]}" --concurrency 0 \
	a.example.com
expect_error "--wait-timeout: 'soon'" "${R[@]}" "${K[@]}" issue "${GOOD[@]}" \
	--wait-timeout soon a.example.com
expect_error "'Bad_Name.example.com' is not a hostname" "${R[@]}" "${K[@]}" issue \
	"${GOOD[@]}" Bad_Name.example.com
expect_error "no hostname given" "${R[@]}" "${K[@]}" issue "${GOOD[@]}"

# a good configuration passes --check without ordering anything
"$PUSHER" "${R[@]}" "${K[@]}" --check issue "${GOOD[@]}" --contact mailto:a@example.com \
	a.example.com >"$T_DIR/out" 2>&1 || fail "--check refused a good config: $(cat "$T_DIR/out")"
assert_eq "keys after --check" "" "$(rcli --scan)"

# Pebble 2.4 offers no profiles: asking for one is a configuration error, not an order
rc=0
"$PUSHER" "${R[@]}" "${K[@]}" issue "${GOOD[@]}" --profile shortlived a.example.com \
	>"$T_DIR/out" 2>&1 || rc=$?
assert_eq "exit status for an unknown profile" 1 "$rc"
grep -qF -- "--profile: 'shortlived' is not offered" "$T_DIR/out" ||
	fail "unknown profile not reported: $(cat "$T_DIR/out")"
assert_eq "orders for an unknown profile" "" "$(rcli --scan --pattern 'spoacme:host:*')"
t_log "PASS: configuration errors are clear"
