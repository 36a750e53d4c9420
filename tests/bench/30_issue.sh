#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Issuance throughput against Pebble (PEBBLE_VA_NOSLEEP=1) through the real challenge path
# (HAProxy -> spoa-agent -> Redis): BENCH_NAMES names (default 50), both key types, once with
# --concurrency 1 (the baseline) and once with BENCH_CONCURRENCY (default 4), in the same run
# against the same services. Prints certificates per second for both and the ratio. Pebble's
# authorization reuse is off so that both runs answer every challenge. BENCH_KEY_TYPE=ecdsa
# measures without RSA 2048 key generation (about 150 ms of CPU per key here), which bounds the
# ratio by the number of cores.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"

t_need_pusher
N=${BENCH_NAMES:-50}
C=${BENCH_CONCURRENCY:-4}
KT=${BENCH_KEY_TYPE:-ecdsa,rsa}
PER_NAME=$(echo "$KT" | tr ',' '\n' | wc -l)

t_challenge_path
PEBBLE_AUTHZREUSE=0 t_start_pebble
t_keyring

# warm-up: creates the account, so neither measured run pays for it
t_pusher_issue warmup.example.com || fail "warm-up issue failed: $(tail -3 "$T_DIR/pusher.log")"

# run LABEL CONCURRENCY: issue N fresh names; prints certificates/second
run() {
	local label=$1 conc=$2 names=() i t0 t1 certs
	for ((i = 1; i <= N; i++)); do names+=("$label-$i.example.com"); done
	t0=$(date +%s.%N)
	t_pusher_issue --concurrency "$conc" --key-type "$KT" "${names[@]}" ||
		fail "$label: issue failed: $(grep -v '^<6>' "$T_DIR/pusher.log" | tail -3)"
	t1=$(date +%s.%N)
	certs=$(grep -c '^issued ' "$T_DIR/issue.out")
	[ "$certs" = "$N" ] || fail "$label: $certs of $N names issued"
	awk -v n="$((PER_NAME * N))" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.2f", n / (t1 - t0) }'
}

base=$(run seq 1)
par=$(run par "$C")
echo "issue: $((PER_NAME * N)) certificates (${N} names x $KT) per run against Pebble, NOSLEEP, $(nproc) CPUs"
echo "issue: --concurrency 1:  $base certificates/s"
echo "issue: --concurrency $C:  $par certificates/s"
awk -v a="$par" -v b="$base" -v c="$C" 'BEGIN { printf "issue: ratio concurrency %d / 1: %.2fx\n", c, a / b }'
