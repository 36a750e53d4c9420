#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# DNS-01 issuance against Pebble next to HTTP-01 for the same number of names, in the same run
# against the same services: BENCH_NAMES names (default 20) each way, BENCH_KEY_TYPE (default
# ecdsa) and BENCH_CONCURRENCY (default 4). DNS-01 goes through Knot (RFC 2136 + TSIG) with a
# secondary on 127.0.0.2 (NOTIFY + IXFR) listed in the zone's NS set, so each record is waited
# for on both authoritative servers (published -> visible on every authoritative -> valid);
# HTTP-01 goes through HAProxy -> spoa-agent -> Redis. Pebble resolves through Knot. Prints the
# wall time of each run, names per second, the ratio, and the per-record propagation times
# (update sent -> answered by both servers) the issuer logged. None fails on speed.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/knot.sh"

PUSHER=${PUSHER:-$BIN/cert-pusher}
[ -x "$PUSHER" ] || fail "$PUSHER not built"
N=${BENCH_NAMES:-20}
C=${BENCH_CONCURRENCY:-4}
KT=${BENCH_KEY_TYPE:-ecdsa}

t_challenge_path
KNOT_SECONDARY=1 t_start_knot preview.test
t_start_knot_secondary preview.test
PEBBLE_DNS=$KNOT_ADDR PEBBLE_AUTHZREUSE=0 t_start_pebble
t_keyring
DNS=(--dns-update "$KNOT_ADDR" --dns-tsig-key-file "$TSIG_FILE" --dns-zone preview.test)

# warm-up: creates the account, so neither measured run pays for it
t_pusher_issue warmup.preview.test || fail "warm-up issue failed: $(tail -3 "$T_DIR/pusher.log")"

# run LABEL ARGS...: issue N fresh names; prints the wall time in seconds
run() {
	local label=$1 names=() i t0 t1 got
	shift
	for ((i = 1; i <= N; i++)); do names+=("$label-$i.preview.test"); done
	t0=$(date +%s.%N)
	t_pusher_issue --concurrency "$C" --key-type "$KT" "$@" "${names[@]}" ||
		fail "$label: issue failed: $(grep -v '^<6>' "$T_DIR/pusher.log" | tail -3)"
	t1=$(date +%s.%N)
	got=$(grep -c '^issued ' "$T_DIR/issue.out")
	[ "$got" = "$N" ] || fail "$label: $got of $N names issued"
	awk -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.2f", t1 - t0 }'
}

http=$(run http)
mark=$(wc -l <"$T_DIR/pusher.log")
dns=$(run dns --challenge dns-01 "${DNS[@]}")
tail -n +"$((mark + 1))" "$T_DIR/pusher.log" |
	sed -n 's/.*dns01: host=dns-.* visible on 2 authoritative server(s) .* after \([0-9]*\) ms/\1/p' |
	sort -n >"$T_DIR/propagation.ms"
records=$(wc -l <"$T_DIR/propagation.ms")
[ "$records" -ge "$N" ] || fail "only $records propagation lines for $N names"

echo "dns01: $N names x $KT per run, --concurrency $C, against Pebble (NOSLEEP), $(nproc) CPUs"
awk -v t="$http" -v n="$N" 'BEGIN { printf "dns01: HTTP-01 (HAProxy, SPOE, Redis):        %6.2f s  %5.2f names/s\n", t, n / t }'
awk -v t="$dns" -v n="$N" 'BEGIN { printf "dns01: DNS-01 (RFC 2136, 2 authoritative):    %6.2f s  %5.2f names/s\n", t, n / t }'
awk -v a="$dns" -v b="$http" 'BEGIN { printf "dns01: ratio DNS-01 / HTTP-01 wall time: %.2fx\n", a / b }'
awk '{ v[NR] = $1; s += $1 } END {
	printf "dns01: propagation (update -> answered by both servers), %d records: " \
	       "median %d ms, p90 %d ms, max %d ms, mean %.0f ms\n",
	       NR, v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)], v[NR], s / NR }' "$T_DIR/propagation.ms"
