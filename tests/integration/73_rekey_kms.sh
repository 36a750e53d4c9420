#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `rekey` between the key ring and a KMS (SoftHSM2), with 100 names while a loader runs and a
# TLS client loops over them: key ring -> KMS (kek-1), KEK rotation kek-1 -> kek-2 (the data
# keys are re-wrapped, the ciphertexts do not change), KMS -> key ring (--kms-seal no). Asserted:
# every blob's format and key id after each step, no handshake failure during the migrations,
# the rotation needs no key ring, an HAProxy restart (empty cert dir) gets all 100 from a loader
# that has no key ring, and after the way back a loader with the key ring alone serves them all.
set -eu
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/lib/loader.sh"
source "$ROOT/tests/lib/softhsm.sh"
[ -x "$BIN/cert-pusher" ] || { echo "build first"; exit 77; }

N=100
loader_stack
t_softhsm
t_pin_file op 1234
t_pin_file loader 1234
for kek in kek-1 kek-2; do
	"$BIN/cert-pusher" --kms "$(t_kms_uri op "$kek")" kms create-key 2>>"$T_DIR/pusher.log" ||
		fail "kms create-key $kek: $(tail -1 "$T_DIR/pusher.log")"
done
# The operator's rekeys use a copy of the token (the same KEKs, a store of its own), as their
# machine would: SoftHSM2 writes its token file at each login, and another process that opens
# the module meanwhile can find no token there.
OP_HSM_CONF=$(t_softhsm_copy op)
op() { SOFTHSM2_CONF=$OP_HSM_CONF "$@"; }
mk_bench_certs "$N"
import_bench_certs "$N"

# blob_ids: "magic key-id" of every certificate blob, counted.
blob_ids() {
	local k
	for k in $(rcli --scan --pattern "${PREFIX}cert:*"); do
		# magic (4 bytes), id length (1 byte), id: the header blob.h describes
		rcli GET "$k" | head -c 80 | od -An -v -tu1 | xargs |
			awk '{ m = sprintf("%c%c%c%c", $1, $2, $3, $4); id = "";
			       for (i = 0; i < $5; i++) id = id sprintf("%c", $(6 + i));
			       print m, (m == "SPA2" ? "kms:" : "") id }'
	done | sort | uniq -c | awk '{ print $1, $2, $3 }' | xargs
}
all_served() {
	[ "$(hp "show ssl crt-list $CRT_LIST" | grep -c "^$CERT_DIR/")" = "$N" ]
}
wait_all_served() {
	for ((i = 0; i < 600; i++)); do all_served && return 0; sleep 0.1; done
	fail "HAProxy holds $(hp "show ssl crt-list $CRT_LIST" | grep -c "^$CERT_DIR/") of $N"
}
# rekey_to LOG ARGS...: cert-pusher rekey with ARGS; its summary must show N re-sealed.
rekey_to() {
	local log=$T_DIR/$1
	shift
	pusher "$@" rekey >"$log" 2>&1 || fail "rekey $*: $(tail -2 "$log")"
	grep -q "blobs=$N resealed=$N failed=0" "$log" || fail "rekey $*: $(tail -1 "$log")"
}
phase() { echo "$1" >"$T_DIR/run.tmp" && mv "$T_DIR/run.tmp" "$T_DIR/run"; }
names=$(for ((i = 1; i <= N; i++)); do echo "h$i.bench.example"; done)
# probe_start / probe_stop: a TLS client looping over the names; probe_stop checks every
# ECDSA handshake got a certificate of ours, not the fallback.
probe_start() {
	phase "$1"
	# shellcheck disable=SC2086
	"$BIN/tools/tls_probe" 127.0.0.1 "$HTTPS_PORT" --loop "$T_DIR/run" $names >"$T_DIR/client-$1.txt" &
	PROBE_PID=$!
	T_PIDS+=("$PROBE_PID")
}
probe_stop() {
	local n bad fallback
	rm -f "$T_DIR/run"
	wait "$PROBE_PID" || true
	# the bench certificates are ECDSA only: RSA-only handshakes fail by design
	awk '$3 == "ecdsa"' "$T_DIR/client-$1.txt" >"$T_DIR/client-$1.ecdsa"
	n=$(wc -l <"$T_DIR/client-$1.ecdsa")
	bad=$(awk '$4 == "FAIL" || $4 == "CUT" || $4 == "REFUSED"' "$T_DIR/client-$1.ecdsa" | wc -l)
	fallback=$(grep -c " $FALLBACK_SERIAL\$" "$T_DIR/client-$1.ecdsa" || true)
	[ "$n" -ge 100 ] || fail "$1: only $n handshakes"
	assert_eq "$1: failed handshakes of $n" 0 "$bad"
	assert_eq "$1: handshakes answered with the fallback of $n" 0 "$fallback"
	t_log "$1: $n handshakes, all with our certificates"
}
FALLBACK_SERIAL=$(openssl x509 -in "$T_DIR/fallback.pem" -noout -serial | sed 's/^serial=0*//')

assert_eq "blobs after import" "$N SPA1 k1" "$(blob_ids)"
start_loader --reconcile-interval 1s --kms "$(t_kms_uri loader kek-1)"
wait_all_served
wait_served h1.bench.example ecdsa "$(serial_of "$T_DIR/certs/h1.crt")"

probe_start to-kms
op rekey_to rekey-kms.log --kms "$(t_kms_uri op kek-1)"
assert_eq "blobs after rekey to the KMS" "$N SPA2 kms:kek-1" "$(blob_ids)"
before=$(rcli GET "${PREFIX}cert:h7.bench.example:ecdsa" | tail -c 300 | od -An -tx1 | tr -d ' \n')
# the rotation runs with the KMS alone: no key ring needed once every blob is SPA2
op "$BIN/cert-pusher" --redis "127.0.0.1:$REDIS_PORT" --kms "$(t_kms_uri op kek-2)" rekey \
	>"$T_DIR/rekey-rotate.log" 2>&1 || fail "rekey to kek-2: $(tail -2 "$T_DIR/rekey-rotate.log")"
grep -q "blobs=$N resealed=$N failed=0 key_id=kms:kek-2" "$T_DIR/rekey-rotate.log" ||
	fail "rekey to kek-2: $(tail -1 "$T_DIR/rekey-rotate.log")"
assert_eq "blobs after the KEK rotation" "$N SPA2 kms:kek-2" "$(blob_ids)"
after=$(rcli GET "${PREFIX}cert:h7.bench.example:ecdsa" | tail -c 300 | od -An -tx1 | tr -d ' \n')
assert_eq "the rotation left the ciphertext alone" "$before" "$after"
op pusher --kms "$(t_kms_uri op kek-2)" rekey >"$T_DIR/rekey-again.log" 2>&1 ||
	fail "second rekey to kek-2 failed"
grep -q "blobs=$N resealed=0 failed=0" "$T_DIR/rekey-again.log" || fail "second rekey not a no-op"
sleep 2 # two reconcile intervals of the loader over the new blobs while the client loops
probe_stop to-kms
grep -q "cannot open the blob" "$T_DIR/loader.log" && fail "the loader could not open a blob"

# wipe_cert_dir: HAProxy starts with nothing but the fallback (as after a reboot: tmpfs), so
# whatever it serves afterwards the loader opened and pushed.
wipe_cert_dir() {
	rm -f "$CERT_DIR"/*.pem
	: >"$CERT_DIR/crt-list"
}

# an HAProxy restart: a loader with no key ring at all pushes all 100 again, each unwrapped by
# the token
t_stop_pid "$LOADER_PID"
t_bg loader-kms "$BIN/cert-pusher" --redis "127.0.0.1:$REDIS_PORT" --kms "$(t_kms_uri loader kek-2)" \
	-v run --role loader --haproxy-socket "$HAPROXY_SOCK" --cert-dir "$CERT_DIR" \
	--reconcile-interval 1s
LOADER_PID=$T_LAST_PID
t_stop_pid "$HAPROXY_PID"
wipe_cert_dir
t0=$(date +%s%N)
t_start_haproxy
wait_all_served
t_log "HAProxy restart: $N certificates reloaded through the KMS in $((($(date +%s%N) - t0) / 1000000)) ms"
wait_served h100.bench.example ecdsa "$(serial_of "$T_DIR/certs/h100.crt")"

# the way back needs loaders that hold the key ring as well as the KMS
t_stop_pid "$LOADER_PID"
start_loader --reconcile-interval 1s --kms "$(t_kms_uri loader kek-2)"
probe_start to-ring
# The operator's token is not there when this rekey starts, and comes back once the rekey has
# met its absence (SoftHSM2 finds no token in its directory, as a loaded machine once made it):
# the rekey waits for it, rather than failing every blob within the 2 s before the module is
# initialised again.
TOKEN_DIR=$(ls -d "$T_DIR"/softhsm-op/tokens/*/)
mv "$TOKEN_DIR" "$T_DIR/softhsm-op/token.away"
: >"$T_DIR/rekey-back.log"
(for ((i = 0; i < 100; i++)); do
	grep -q "the KMS token is unavailable; trying again" "$T_DIR/rekey-back.log" && break
	sleep 0.1
done
mv "$T_DIR/softhsm-op/token.away" "$TOKEN_DIR") &
BACK_PID=$!
op rekey_to rekey-back.log --kms "$(t_kms_uri op kek-2)" --kms-seal no
wait "$BACK_PID"
grep -q "the KMS token is unavailable; trying again" "$T_DIR/rekey-back.log" ||
	fail "the rekey did not meet the missing token: $(head -2 "$T_DIR/rekey-back.log")"
assert_eq "blobs after rekey back to the key ring" "$N SPA1 k1" "$(blob_ids)"
sleep 2
probe_stop to-ring

# the key ring alone now serves everything from scratch
t_stop_pid "$LOADER_PID"
t_stop_pid "$HAPROXY_PID"
wipe_cert_dir
t_start_haproxy
assert_eq "certificates HAProxy holds before the loader starts" 0 \
	"$(hp "show ssl crt-list $CRT_LIST" | grep -c "^$CERT_DIR/" || true)"
t0=$(date +%s%N)
start_loader --reconcile-interval 1h
wait_all_served
t_log "loader start: $N certificates loaded with the key ring in $((($(date +%s%N) - t0) / 1000000)) ms"
wait_served h50.bench.example ecdsa "$(serial_of "$T_DIR/certs/h50.crt")"
grep -q "cannot open the blob" "$T_DIR/loader.log" "$T_DIR/loader-kms.log" &&
	fail "a blob did not open"
t_log "PASS: rekey key ring -> KMS -> rotated KEK -> key ring, $N names, no failed handshake"
