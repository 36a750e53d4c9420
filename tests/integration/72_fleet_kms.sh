#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Blobs sealed through a KMS (SoftHSM2 over PKCS#11). The issuer and two edges each log in to
# the token with their own PIN file. Asserted: every certificate is issued and served by both
# edges (serials seen by a TLS client); the Redis dump holds SPA2 blobs only, no private key,
# and the key-ring file alone opens none of them. Then edge B's loader restarts with a wrong PIN:
# it logs the refused login, its /healthz and spoacme_kms_up say so, it keeps serving what
# HAProxy holds and does not load a name issued meanwhile, while edge A does; once B's PIN file
# is fixed, B catches up without a restart and reports the KMS up again. Last, B loses its token
# (its own copy of the token, holding the same KEK, is moved away: an HSM that is unplugged or
# unreachable): its /healthz and spoacme_kms_up say so while idle, it keeps serving, it does not
# load a name issued meanwhile (A does); the token back, B loads it by itself (the loader retries
# a failed reconcile after 5 s). That name is issued while the issuer's own token is gone too:
# it retries the seal and stores the certificate once its token is back.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/api.sh"
. "$(dirname "$0")/../lib/fleet.sh"
. "$(dirname "$0")/../lib/softhsm.sh"

fleet_addr_ok || { t_log "SKIP: cannot bind 127.0.0.2/127.0.0.3"; exit 77; }

PROBE=$BIN/tools/tls_probe
# probe X NAME [--rsa]: the serial edge X serves for NAME, through tests/tools/tls_probe, in
# uppercase hex without leading zeros.
probe() {
	local addr
	addr=$(fleet_edge_var "$1" ADDR)
	"$PROBE" "$addr" "$FLEET_HTTPS_PORT" ${3:-} "$2" | awk '{ print $3 }' | sed 's/^0*//'
}
# wait_probe X NAME TYPE SERIAL: until edge X serves SERIAL for NAME (30 s at most).
wait_probe() {
	local i got flag=
	[ "$3" = rsa ] && flag=--rsa
	for ((i = 0; i < 300; i++)); do
		got=$(probe "$1" "$2" $flag)
		[ "$got" = "$4" ] && return 0
		sleep 0.1
	done
	fail "edge $1: $2 ($3): expected serial $4, got '$got'"
}
# serial NAME TYPE: the serial the issuer stored, as probe prints it.
serial() { rcli HGET "spoacme:host:$1" "serial_$2" | tr 'a-f' 'A-F' | sed 's/^0*//'; }

fleet_start_redis
t_keyring
api_token
t_softhsm
t_pin_file issuer 1234
t_pin_file a 1234
t_pin_file b 1234
"$PUSHER" --kms "$(t_kms_uri issuer)" kms create-key 2>>"$T_DIR/pusher.log" ||
	fail "kms create-key failed: $(tail -1 "$T_DIR/pusher.log")"
"$PUSHER" --kms "$(t_kms_uri issuer)" kms create-key 2>>"$T_DIR/pusher.log" &&
	fail "kms create-key made a second KEK with the same label"
grep -q "already exists" "$T_DIR/pusher.log" || fail "second create-key: no clear error"
# edge B reaches the KEK through a token of its own (a copy: the same KEK, its own store), so
# that B alone can lose it
B_HSM_CONF=$(t_softhsm_copy b)
# and so does the issuer
I_HSM_CONF=$(t_softhsm_copy i)

fleet_start_edge a --reconcile-interval 1s --primary "127.0.0.1:$PRIMARY_PORT" --edge-id edge-a \
	--kms "$(t_kms_uri a)"
SOFTHSM2_CONF=$B_HSM_CONF fleet_start_edge b --reconcile-interval 1s \
	--primary "127.0.0.1:$PRIMARY_PORT" --edge-id edge-b --kms "$(t_kms_uri b)"
HTTP_PORT=$FLEET_HTTP_PORT t_start_pebble
t_pebble_roots "$T_DIR/root.pem"
SOFTHSM2_CONF=$I_HSM_CONF fleet_start_issuer --redis "127.0.0.1:$PRIMARY_PORT" \
	--wait-replicas 2 --wait-timeout 2s --kms "$(t_kms_uri issuer)"

NAMES="a1.example.com b1.example.com"
fleet_route a1.example.com a
fleet_route b1.example.com b
for n in $NAMES; do api_add "$n"; done
for n in $NAMES; do wait_state "$n" valid 90; done
for n in $NAMES; do
	for t in ecdsa rsa; do
		want=$(serial "$n" "$t")
		[ -n "$want" ] || fail "$n: no serial_$t"
		for x in a b; do wait_probe "$x" "$n" "$t" "$want"; done
	done
	for x in a b; do
		assert_eq "edge $x: verified HTTPS for $n" 200 "$(fleet_https "$x" "$n" "$T_DIR/root.pem")"
	done
done
t_log "both edges serve both names, sealed through the KMS"

# what an attacker with Redis gets: SPA2 blobs, no private key, no data key the key ring opens
nblobs=0
for k in $(rcli --scan --pattern 'spoacme:cert:*') $(rcli --scan --pattern 'spoacme:account:*'); do
	rcli --no-raw GET "$k" >"$T_DIR/blob.txt"
	head -c 5 "$T_DIR/blob.txt" | grep -q '"SPA2' || fail "$k is not a KMS (SPA2) blob"
	nblobs=$((nblobs + 1))
done
[ "$nblobs" -ge 5 ] || fail "expected 4 certificate blobs and an account blob, found $nblobs"
rcli SAVE >/dev/null
dump=$(rcli CONFIG GET dir | tail -1)/$(rcli CONFIG GET dbfilename | tail -1)
[ -s "$dump" ] || fail "no Redis dump at $dump"
grep -aq "PRIVATE KEY" "$dump" && fail "the Redis dump holds a PRIVATE KEY"
grep -aq "BEGIN CERTIFICATE" "$dump" && fail "the Redis dump holds a certificate in the clear"
# nor any data key: each blob's, unwrapped by the token (tests/tools/kms_data_key), is not in
# the dump, while its wrapped form, which is stored, is (the search can find what is there)
xxd -p "$dump" | tr -d '\n' >"$T_DIR/dump.hex"
ndk=0
for k in $(rcli --scan --pattern 'spoacme:cert:*'); do
	bh=$(rcli GET "$k" | xxd -p | tr -d '\n')
	idl=$((16#${bh:8:2}))
	wl=$((16#${bh:$((10 + 2 * idl)):2}))
	wrapped=${bh:$((12 + 2 * idl)):$((2 * wl))}
	dk=$(rcli GET "$k" | "$BIN/tools/kms_data_key" "$(t_kms_uri issuer)") ||
		fail "$k: the token does not unwrap its data key"
	[ ${#dk} = 64 ] || fail "$k: data key '$dk'"
	grep -q "$wrapped" "$T_DIR/dump.hex" || fail "$k: its wrapped data key is not in the dump"
	grep -q "$dk" "$T_DIR/dump.hex" && fail "$k: its data key is in the Redis dump in the clear"
	ndk=$((ndk + 1))
done
[ "$ndk" = 4 ] || fail "expected 4 certificate blobs, checked $ndk"
t_log "Redis dump: $nblobs SPA2 blobs, no PEM and none of $ndk data keys in the clear"
# the key-ring file alone: rekey --check opens nothing
"$PUSHER" --redis "127.0.0.1:$PRIMARY_PORT" --keyring "$KEYRING" --check rekey \
	2>"$T_DIR/rekey-ring.log" && fail "rekey with the key ring alone succeeded"
grep -q "no --kms is configured" "$T_DIR/rekey-ring.log" ||
	fail "the key ring alone: no clear error ($(tail -2 "$T_DIR/rekey-ring.log"))"

# wrong PIN on edge B: restart its loader with it
want_a1=$(serial a1.example.com ecdsa)
t_stop_pid "$EDGE_B_LOADER_PID"
t_pin_file b 0000
B_API=http://$EDGE_B_ADDR:$(t_free_port)
SOFTHSM2_CONF=$B_HSM_CONF fleet_start_loader b --reconcile-interval 1s \
	--primary "127.0.0.1:$PRIMARY_PORT" --edge-id edge-b --kms "$(t_kms_uri b)" \
	--api "${B_API#http://}" --api-token-file "$T_DIR/token"
t_wait_tcp "$EDGE_B_ADDR" "${B_API##*:}" 10 || fail "edge B: the API did not start"
# b_health: HTTP status of edge B's /healthz (body in $T_DIR/health.json); b_kms_up: the gauge.
b_health() { curl -s -o "$T_DIR/health.json" -w '%{http_code}' "$B_API/healthz"; }
b_kms_up() {
	curl -sS -H "Authorization: Bearer $TOKEN" "$B_API/metrics" |
		awk '$1 == "spoacme_kms_up" { print $2 }'
}
for ((i = 0; i < 300; i++)); do
	grep -q "login failed: wrong PIN" "$T_DIR/loader-b.log" && break
	sleep 0.1
done
grep -q "login failed: wrong PIN" "$T_DIR/loader-b.log" || fail "edge B did not report its wrong PIN"
assert_eq "edge B /healthz with a wrong PIN" 503 "$(b_health)"
assert_eq "edge B /healthz: kms check" false "$(jq -r .checks.kms.ok "$T_DIR/health.json")"
jq -r .checks.kms.state "$T_DIR/health.json" | grep -q "wrong PIN" ||
	fail "edge B /healthz does not say why: $(cat "$T_DIR/health.json")"
assert_eq "edge B spoacme_kms_up with a wrong PIN" 0 "$(b_kms_up)"
fleet_route c1.example.com a
api_add c1.example.com
wait_state c1.example.com valid 90
want_c1=$(serial c1.example.com ecdsa)
wait_probe a c1.example.com ecdsa "$want_c1"
# B had its chances: two more failed login lines after c1 was issued
n0=$(grep -c "login failed" "$T_DIR/loader-b.log")
for ((i = 0; i < 300; i++)); do
	[ "$(grep -c "login failed" "$T_DIR/loader-b.log")" -ge $((n0 + 2)) ] && break
	sleep 0.1
done
[ "$(probe b c1.example.com)" = "$want_c1" ] && fail "edge B serves c1 with a wrong PIN"
assert_eq "edge B keeps serving a1 with a wrong PIN" "$want_a1" "$(probe b a1.example.com)"
grep -q "removed name=" "$T_DIR/loader-b.log" && fail "B's loader removed certificates"
t_log "edge B: wrong PIN reported, still serves what it had; edge A serves c1"

# PIN fixed: B catches up by itself
t_pin_file b 1234
wait_probe b c1.example.com ecdsa "$want_c1"
wait_probe b c1.example.com rsa "$(serial c1.example.com rsa)"
kill -0 "$EDGE_B_LOADER_PID" || fail "edge B's loader is gone"
assert_eq "edge B spoacme_kms_up once the PIN is fixed" 1 "$(b_kms_up)"
assert_eq "edge B /healthz: kms check once the PIN is fixed" true \
	"$(b_health >/dev/null; jq -r .checks.kms.ok "$T_DIR/health.json")"
t_log "edge B: PIN fixed, caught up without a restart"

# edge B loses its token: its store moved away (to the module, the HSM is gone)
mv "$T_DIR/softhsm-b/tokens" "$T_DIR/softhsm-b/tokens.away"
# idle, B finds out by itself: /healthz and the gauge check the token
for ((i = 0; i < 100; i++)); do
	[ "$(b_health)" = 503 ] && break
	sleep 0.1
done
assert_eq "edge B /healthz with its token gone" 503 "$(b_health)"
jq -r .checks.kms.state "$T_DIR/health.json" | grep -q "token unavailable" ||
	fail "edge B /healthz does not say the token is gone: $(cat "$T_DIR/health.json")"
assert_eq "edge B spoacme_kms_up with its token gone" 0 "$(b_kms_up)"
# meanwhile the issuer loses its own token with d1 to store: it retries the seal, and the
# certificate the CA issued is stored once its token is back, not thrown away
mv "$T_DIR/softhsm-i/tokens" "$T_DIR/softhsm-i/tokens.away"
fleet_route d1.example.com a
api_add d1.example.com
for ((i = 0; i < 300; i++)); do
	grep -q "name=d1.example.com: .*token unavailable.*retrying in 1s" "$T_DIR/issuer.log" && break
	sleep 0.1
done
grep -q "name=d1.example.com: .*token unavailable.*retrying in 1s" "$T_DIR/issuer.log" ||
	fail "the issuer did not retry sealing d1: $(grep d1.example.com "$T_DIR/issuer.log" | tail -2)"
mv "$T_DIR/softhsm-i/tokens.away" "$T_DIR/softhsm-i/tokens"
wait_state d1.example.com valid 30
grep -q "name=d1.example.com type=.*cannot seal" "$T_DIR/issuer.log" &&
	fail "the issuer threw a certificate of d1 away"
t_log "issuer: token lost while sealing d1, the seal retried, d1 stored"
want_d1=$(serial d1.example.com ecdsa)
wait_probe a d1.example.com ecdsa "$want_d1"
wait_probe a d1.example.com rsa "$(serial d1.example.com rsa)"
for ((i = 0; i < 300; i++)); do
	grep -q "d1.example.com.*token unavailable" "$T_DIR/loader-b.log" && break
	sleep 0.1
done
grep -q "d1.example.com.*token unavailable" "$T_DIR/loader-b.log" ||
	fail "edge B did not log why d1 does not open: $(grep d1.example.com "$T_DIR/loader-b.log" | tail -2)"
[ "$(probe b d1.example.com)" = "$want_d1" ] && fail "edge B serves d1 without its token"
assert_eq "edge B keeps serving c1 without its token" "$want_c1" "$(probe b c1.example.com)"
assert_eq "edge B keeps serving a1 without its token" "$want_a1" "$(probe b a1.example.com)"
grep -q "removed name=" "$T_DIR/loader-b.log" && fail "B's loader removed certificates"
t_log "edge B: token gone, reported, still serves what it had; edge A serves d1"

# the token back: B re-initialises the module and catches up by itself
mv "$T_DIR/softhsm-b/tokens.away" "$T_DIR/softhsm-b/tokens"
wait_probe b d1.example.com ecdsa "$want_d1"
wait_probe b d1.example.com rsa "$(serial d1.example.com rsa)"
kill -0 "$EDGE_B_LOADER_PID" || fail "edge B's loader is gone"
assert_eq "edge B spoacme_kms_up with its token back" 1 "$(b_kms_up)"
assert_eq "edge B /healthz: kms check with its token back" true \
	"$(b_health >/dev/null; jq -r .checks.kms.ok "$T_DIR/health.json")"
t_log "PASS: KMS fleet: sealed in the token; a wrong PIN and a lost token contained to one edge, recovered by itself; the issuer retries a seal"
