#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `cert-pusher rekey` re-seals every blob under the key ring's first key: afterwards a loader
# with only the new key serves every certificate (even after an HAProxy restart forces it to
# push them all again), a running loader pushes nothing (same certificates), and a blob that
# no key of the ring opens is reported and left alone.
set -eu
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/lib/loader.sh"
[ -x "$BIN/cert-pusher" ] || { echo "build first"; exit 77; }

# blob_key_id KEY: the 2-byte key id in the header of the blob under KEY ("SPA1" \x02 id).
blob_key_id() { rcli GET "$1" | head -c 7 | tail -c 2; }

t_start_redis
t_start_haproxy
mk_keyring
OLD_RING=$KEYRING
mk_ca
for n in a.example b.example; do
	mk_leaf "$n" ecdsa "$T_DIR/$n.ecdsa"
	import "$n" "$T_DIR/$n.ecdsa"
done
mk_leaf a.example rsa "$T_DIR/a.example.rsa"
import a.example "$T_DIR/a.example.rsa"
rcli SET "${PREFIX}account:0123abcd" "not a blob" >/dev/null
# The rotation an operator follows: every loader gets the ring with the new key first and the
# old one still there, then rekey, then the old key goes.
(umask 077 && { printf 'k2 %s\n' "$(openssl rand -base64 32)"; cat "$OLD_RING"; } >"$T_DIR/ring2")
KEYRING=$T_DIR/ring2 start_loader --reconcile-interval 1h
wait_served a.example ecdsa "$(serial_of "$T_DIR/a.example.ecdsa.crt")"
wait_served b.example ecdsa "$(serial_of "$T_DIR/b.example.ecdsa.crt")"
n_loaded=$(grep -c "loaded name=" "$T_DIR/loader.log")

t_log "rekey with a ring whose first key is new"
"$BIN/cert-pusher" --redis "127.0.0.1:$REDIS_PORT" --keyring "$T_DIR/ring2" --check rekey \
	>"$T_DIR/rekey-check.log" 2>&1 || true
assert_eq "--check writes nothing" k1 "$(blob_key_id "${PREFIX}cert:a.example:ecdsa")"
if "$BIN/cert-pusher" --redis "127.0.0.1:$REDIS_PORT" --keyring "$T_DIR/ring2" rekey \
	>"$T_DIR/rekey.log" 2>&1; then fail "rekey ignored a blob it cannot open"; fi
grep -q "rekey: blobs=4 resealed=3 failed=1 key_id=k2" "$T_DIR/rekey.log" ||
	fail "rekey summary: $(tail -1 "$T_DIR/rekey.log")"
grep -q "account:0123abcd: not a spoacme blob" "$T_DIR/rekey.log" || fail "bad blob not reported"
for k in cert:a.example:ecdsa cert:a.example:rsa cert:b.example:ecdsa; do
	assert_eq "$k re-sealed" k2 "$(blob_key_id "$PREFIX$k")"
done
assert_eq "account blob untouched" "not a blob" "$(rcli GET "${PREFIX}account:0123abcd")"
rcli DEL "${PREFIX}account:0123abcd" >/dev/null
"$BIN/cert-pusher" --redis "127.0.0.1:$REDIS_PORT" --keyring "$T_DIR/ring2" rekey \
	>"$T_DIR/rekey2.log" 2>&1 || fail "second rekey failed"
grep -q "blobs=3 resealed=0 failed=0" "$T_DIR/rekey2.log" || fail "second rekey is not a no-op"

t_log "the running loader (old + new key) pushes nothing: the certificates did not change"
rcli PUBLISH "${PREFIX}events" "cert a.example" >/dev/null
rcli PUBLISH "${PREFIX}events" "cert b.example" >/dev/null
loader_events_done
grep -q "event 'cert b.example'" "$T_DIR/loader.log" || fail "events not seen"
t_stop_pid "$LOADER_PID"
assert_eq "pushes after rekey" "$n_loaded" "$(grep -c "loaded name=" "$T_DIR/loader.log")"

t_log "a loader with only the new key serves everything after an HAProxy restart"
(umask 077 && head -1 "$T_DIR/ring2" >"$T_DIR/ring-new")
KEYRING=$T_DIR/ring-new
t_stop_pid "$HAPROXY_PID"
t_start_haproxy
start_loader --reconcile-interval 1h
wait_served a.example ecdsa "$(serial_of "$T_DIR/a.example.ecdsa.crt")"
wait_served a.example rsa "$(serial_of "$T_DIR/a.example.rsa.crt")"
wait_served b.example ecdsa "$(serial_of "$T_DIR/b.example.ecdsa.crt")"
grep -q "cannot open the blob" "$T_DIR/loader.log" && fail "a blob did not open with the new key"
t_log "PASS"
