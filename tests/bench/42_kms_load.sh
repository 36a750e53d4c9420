#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What the KMS costs an edge's bulk load (issue 17): N certificates (BENCH_KMS_CERTS, default
# 500) loaded by a loader into an HAProxy restarted with an empty certificate directory, first
# sealed under the key ring, then, after `rekey --kms`, through SoftHSM2 (one C_UnwrapKey per
# blob). Reported: the loader's first full reconcile (its own "reconciled ... ms=" line, blobs
# opened and pushed) for each, and their ratio; the rekey's duration per blob. Same run, same
# HAProxy, same certificates.
set -eu
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/lib/loader.sh"
source "$ROOT/tests/lib/softhsm.sh"
[ -x "$BIN/cert-pusher" ] || { echo "build first"; exit 77; }
[ -r "$SOFTHSM_MODULE" ] || { echo "softhsm2 is not installed"; exit 77; }
N=${BENCH_KMS_CERTS:-500}

loader_stack
t_softhsm
t_pin_file op 1234
t_pin_file loader 1234
"$BIN/cert-pusher" --kms "$(t_kms_uri op)" kms create-key >>"$T_DIR/pusher.log" 2>&1 ||
	fail "kms create-key: $(tail -1 "$T_DIR/pusher.log")"
t_log "generating and importing $N certificates"
mk_bench_certs "$N"
import_bench_certs "$N"

# load LABEL ARGS...: HAProxy restarted on an empty directory, a loader started with ARGS; the
# ms of its first reconcile that loaded all N into LOAD_MS (not a $(...): the processes started
# here must stay in T_PIDS for the cleanup).
load() {
	local label=$1 line i
	shift
	t_stop_haproxy
	find "$CERT_DIR" -mindepth 1 -delete
	: >"$CRT_LIST"
	t_start_haproxy
	start_loader --reconcile-interval 1h "$@"
	for ((i = 0; i < 1200; i++)); do
		line=$(grep -m1 "reconciled hosts=$N failed=0" "$T_DIR/loader.log" || true)
		[ -n "$line" ] && break
		sleep 0.1
	done
	[ -n "$line" ] || fail "$label: the loader never reconciled $N hosts: $(tail -2 "$T_DIR/loader.log")"
	t_stop_pid "$LOADER_PID"
	mv "$T_DIR/loader.log" "$T_DIR/loader-$label.log"
	LOAD_MS=$(sed 's/.* ms=\([0-9]*\).*/\1/' <<<"$line")
}

load keyring
ring_ms=$LOAD_MS
t0=${EPOCHREALTIME/./}
pusher --kms "$(t_kms_uri op)" rekey >"$T_DIR/rekey.log" 2>&1 || fail "rekey: $(tail -2 "$T_DIR/rekey.log")"
rekey_us=$((${EPOCHREALTIME/./} - t0))
grep -q "resealed=$N failed=0" "$T_DIR/rekey.log" || fail "rekey: $(tail -1 "$T_DIR/rekey.log")"
load kms --kms "$(t_kms_uri loader)"
kms_ms=$LOAD_MS
t_log "$N certificates: first full load ${ring_ms} ms with the key ring, ${kms_ms} ms through the KMS"
awk -v r="$ring_ms" -v k="$kms_ms" -v n="$N" -v rk="$rekey_us" 'BEGIN {
	printf "kms load: ratio %.2f (KMS / key ring), +%.2f ms per certificate; rekey to the KMS %.2f ms per blob\n",
	       k / r, (k - r) / n, rk / 1000 / n }'
