#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The loader refuses what must never reach HAProxy and keeps serving what it had: a PEM with
# a CLI command injected after a blank line, a chain before its leaf, a blob sealed with an
# unknown key, a blob moved to another Redis key; import refuses a certificate that does not
# cover the name. HAProxy's state stays identical (`show ssl
# cert`, crt-list) and nothing is sent. Then the safety nets: a blob stored without any events
# message is loaded by the periodic reconcile, and events still work after Redis restarts
# (the subscription comes back by itself).
set -eu
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/lib/loader.sh"
[ -x "$BIN/cert-pusher" ] && [ -x "$BIN/tools/blob_seal" ] || { echo "build first"; exit 77; }

loader_stack
mk_leaf a.example ecdsa "$T_DIR/a.ecdsa"
A1=$(serial_of "$T_DIR/a.ecdsa.crt")
import a.example "$T_DIR/a.ecdsa"
start_loader --reconcile-interval 2s
wait_served a.example ecdsa "$A1"

# seal HOST TYPE < plaintext: store a hostile blob the way the issuer would, and announce it.
seal() {
	"$BIN/tools/blob_seal" "$KEYRING" "${PREFIX}cert:$1:$2" >"$T_DIR/blob"
	rcli -x SET "${PREFIX}cert:$1:$2" <"$T_DIR/blob" >/dev/null
	rm -f "$T_DIR/blob"
	rcli SADD "${PREFIX}hosts" "$1" >/dev/null
	rcli PUBLISH "${PREFIX}events" "cert $1" >/dev/null
}
# wait_log PATTERN: until the loader logged PATTERN (5 s).
wait_log() {
	local i
	for ((i = 0; i < 50; i++)); do grep -q -- "$1" "$T_DIR/loader.log" && return 0; sleep 0.1; done
	fail "loader never logged '$1'"
}

state0=$(managed_state)
(umask 077 && mk_leaf b.example ecdsa "$T_DIR/b.ecdsa" && mk_leaf b.example rsa "$T_DIR/b.rsa")

t_log "a PEM with a command injected after a blank line is refused"
{ cat "$T_DIR/b.ecdsa.crt" "$T_DIR/b.ecdsa.key"; printf '\ndel ssl cert a.example.ecdsa\n'; } |
	seal b.example ecdsa
wait_log "name=$CERT_DIR/b.example.ecdsa.pem .*refusing the certificate: line [0-9]*: only PEM blocks"
t_log "a command inside a block, and a CR-only line, are refused"
{ sed '2a show info' "$T_DIR/b.ecdsa.crt"; cat "$T_DIR/b.ecdsa.key"; } | seal b.example ecdsa
wait_log "name=$CERT_DIR/b.example.ecdsa.pem .*not a base64 line"
{ sed '3a \\r' "$T_DIR/b.ecdsa.crt"; cat "$T_DIR/b.ecdsa.key"; } | seal b.example ecdsa
wait_log "name=$CERT_DIR/b.example.ecdsa.pem .*empty line inside a CERTIFICATE block"
t_log "a chain before its leaf is refused"
{ cat "$T_DIR/ca.crt"; head -n -0 "$T_DIR/b.rsa.crt" | sed '/END CERTIFICATE/q'; cat "$T_DIR/b.rsa.key"; } |
	seal b.example rsa
wait_log "name=$CERT_DIR/b.example.rsa.pem .*the leaf must come first"
t_log "import refuses the same inputs"
{ cat "$T_DIR/b.ecdsa.crt"; printf '\nshow info\n'; } >"$T_DIR/bad.crt"
pusher --cert-file "$T_DIR/bad.crt" --key-file "$T_DIR/b.ecdsa.key" import b.example \
	>"$T_DIR/bad-import.log" 2>&1 && fail "import accepted an injected command"
grep -q "only PEM blocks" "$T_DIR/bad-import.log" || fail "import: unclear error"
rm -f "$T_DIR/bad.crt"
t_log "import refuses a certificate whose SANs do not cover the name (RFC 6125)"
(umask 077 && mk_leaf other.example ecdsa "$T_DIR/o.ecdsa" && mk_leaf '*.w.example' ecdsa "$T_DIR/w.ecdsa")
hosts0=$(rcli SMEMBERS "${PREFIX}hosts" | sort | xargs)
pusher --cert-file "$T_DIR/o.ecdsa.crt" --key-file "$T_DIR/o.ecdsa.key" import b.example \
	>"$T_DIR/bad-import.log" 2>&1 && fail "import accepted other.example's certificate for b.example"
grep -q "does not cover 'b.example': its DNS subjectAltNames are other.example " \
	"$T_DIR/bad-import.log" || fail "import: unclear error: $(cat "$T_DIR/bad-import.log")"
for n in w.example a.b.w.example; do
	pusher --cert-file "$T_DIR/w.ecdsa.crt" --key-file "$T_DIR/w.ecdsa.key" import "$n" \
		>"$T_DIR/bad-import.log" 2>&1 && fail "import accepted *.w.example for $n"
	grep -q "does not cover '$n': its DNS subjectAltNames are \*.w.example " "$T_DIR/bad-import.log" ||
		fail "import: unclear error: $(cat "$T_DIR/bad-import.log")"
done
pusher --check --cert-file "$T_DIR/w.ecdsa.crt" --key-file "$T_DIR/w.ecdsa.key" import x.w.example \
	>"$T_DIR/bad-import.log" 2>&1 || fail "import refused *.w.example for x.w.example: $(cat "$T_DIR/bad-import.log")"
assert_eq "refused imports stored nothing" "$hosts0" "$(rcli SMEMBERS "${PREFIX}hosts" | sort | xargs)"
t_log "the loader refuses such a blob too (stored by hand, or before import checked)"
cat "$T_DIR/o.ecdsa.crt" "$T_DIR/o.ecdsa.key" | seal b.example ecdsa
wait_log "name=$CERT_DIR/b.example.ecdsa.pem: refusing the certificate: it does not cover b.example (SANs: other.example)"
rm -f "$T_DIR"/o.ecdsa.* "$T_DIR"/w.ecdsa.*

t_log "a bad update of a.example keeps the good certificate"
printf 'k9 %s\n' "$(openssl rand -base64 32)" >"$T_DIR/other-ring"
chmod 600 "$T_DIR/other-ring"
cat "$T_DIR/a.ecdsa.crt" | "$BIN/tools/blob_seal" "$T_DIR/other-ring" "${PREFIX}cert:a.example:ecdsa" |
	rcli -x SET "${PREFIX}cert:a.example:ecdsa" >/dev/null
rcli PUBLISH "${PREFIX}events" "cert a.example" >/dev/null
wait_log "name=$CERT_DIR/a.example.ecdsa.pem key=${PREFIX}cert:a.example:ecdsa: cannot open the blob: sealed with a key id"
# A valid blob of another key copied under a.example's key does not open either.
mk_leaf c.example ecdsa "$T_DIR/c.ecdsa"
import c.example "$T_DIR/c.ecdsa"
rcli SREM "${PREFIX}hosts" c.example >/dev/null
rcli GET "${PREFIX}cert:c.example:ecdsa" | head -c -1 >"$T_DIR/blob"
rcli -x SET "${PREFIX}cert:a.example:ecdsa" <"$T_DIR/blob" >/dev/null
rm -f "$T_DIR/blob"
rcli DEL "${PREFIX}cert:c.example:ecdsa" >/dev/null
rcli PUBLISH "${PREFIX}events" "cert a.example" >/dev/null
rcli PUBLISH "${PREFIX}events" "del c.example" >/dev/null
wait_log "name=$CERT_DIR/a.example.ecdsa.pem .*authentication failed"
assert_eq "a.example still served" "$A1" "$(served_serial a.example)"
assert_eq "HAProxy state unchanged" "$state0" "$(managed_state)"
assert_eq "crt-list file unchanged (what a reload reads)" "$CERT_DIR/a.example.ecdsa.pem" \
	"$(grep -v "^#" "$CRT_LIST" | xargs)"
[ -e "$CERT_DIR/b.example.ecdsa.pem" ] && fail "a refused certificate reached the directory"
hp "show ssl cert" | grep -q '^\*' && fail "a transaction was left open"
grep -q "loaded name=$CERT_DIR/b.example" "$T_DIR/loader.log" && fail "a refused certificate was loaded"

t_log "safety net: a blob stored without an events message is loaded by the periodic reconcile"
rcli DEL "${PREFIX}cert:b.example:ecdsa" "${PREFIX}cert:b.example:rsa" >/dev/null
mk_leaf a.example ecdsa "$T_DIR/a2.ecdsa"
A2=$(serial_of "$T_DIR/a2.ecdsa.crt")
# import publishes; this SET does not: seal a good chain by hand.
cat "$T_DIR/a2.ecdsa.crt" "$T_DIR/a2.ecdsa.key" |
	"$BIN/tools/blob_seal" "$KEYRING" "${PREFIX}cert:a.example:ecdsa" >"$T_DIR/blob"
rm -f "$T_DIR/a2.ecdsa.key"
rcli -x SET "${PREFIX}cert:a.example:ecdsa" <"$T_DIR/blob" >/dev/null
rm -f "$T_DIR/blob"
wait_served a.example ecdsa "$A2" 10

t_log "Redis restart: the subscription comes back and events work again"
t_stop_pid "$REDIS_PID"
t_start_redis "$REDIS_PORT"
n=$(grep -c "subscribed to" "$T_DIR/loader.log")
for ((i = 0; i < 100; i++)); do [ "$(grep -c "subscribed to" "$T_DIR/loader.log")" -gt "$n" ] && break; sleep 0.1; done
[ "$(grep -c "subscribed to" "$T_DIR/loader.log")" -gt "$n" ] || fail "no resubscription"
# The new Redis is empty: the safety net removes a.example (hosts set is empty now).
wait_served a.example ecdsa "$(serial_of "$T_DIR/fallback.crt")" 10
mk_leaf a.example ecdsa "$T_DIR/a3.ecdsa"
import a.example "$T_DIR/a3.ecdsa"
wait_served a.example ecdsa "$(serial_of "$T_DIR/a3.ecdsa.crt")" 3
kill -0 "$LOADER_PID" || fail "loader died"
rm -f "$T_DIR"/*.key
t_log "PASS"
