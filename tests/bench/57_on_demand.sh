#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# On-demand certificates (issue 14), same run, same machine, Pebble with PEBBLE_VA_NOSLEEP:
#  (a) time to the first successful (verified) HTTPS request for BENCH_NAMES (default 50) new
#      allowed names, one after the other: p50, p99, max;
#  (b) TLS handshakes per second for a known name through the pre-frontend (HTTPS_PORT: TCP
#      frontend, SNI to the agent, PROXY v2 to the TLS frontend) against a second TLS frontend
#      with the same certificates and no pre-frontend (DIRECT_PORT), BENCH_HANDSHAKES each
#      (default 2000, tests/tools/tls_probe, sequential), twice alternated; ratio (target >= 0.9).
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT/tests/lib/pebble.sh"
. "$ROOT/tests/lib/api.sh"
[ -x "$PUSHER" ] || fail "$PUSHER not built"
PROBE=$BIN/tools/tls_probe
[ -x "$PROBE" ] || fail "$PROBE not built"
NAMES=${BENCH_NAMES:-50}
HS=${BENCH_HANDSHAKES:-2000}

export SPOACME_ON_DEMAND=1
export SPOACME_TLS_INNER="abns@spoacme-bench-$$"
export SPOACME_SPOE_ONDEMAND_CONF=$ROOT/haproxy-cfg/spoe-ondemand.conf
t_fallback_cert
DIRECT_PORT=$(t_free_port)
cat >"$T_DIR/direct.cfg" <<EOC
frontend https-direct
	bind 127.0.0.1:$DIRECT_PORT ssl crt $T_DIR/fallback.pem crt-list $CRT_LIST alpn h2,http/1.1
	monitor-uri /spoacme-haproxy-health
	default_backend app
EOC
t_start_redis
t_start_agent --on-demand --edge-id bench --on-demand-source-burst 1000
t_start_haproxy "$T_DIR/direct.cfg"
t_wait_agent_up 10 || fail "HAProxy never marked spoa-agent UP"
t_start_pebble
t_keyring
t_pebble_roots "$T_DIR/root.pem"
api_token
start_daemon pusher --edge-id bench --on-demand-allow .bench.example
for ((i = 0; i < 100; i++)); do
	[ "$(rcli SISMEMBER spoacme:ondemand:allow .bench.example)" = 1 ] && break
	sleep 0.1
done

: >"$T_DIR/first.ms"
for ((i = 0; i < NAMES; i++)); do
	n=n$i.bench.example
	t0=$(date +%s%N)
	code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 30 --resolve "$n:$HTTPS_PORT:127.0.0.1" \
		--cacert "$T_DIR/root.pem" "https://$n:$HTTPS_PORT/spoacme-haproxy-health" || true)
	t1=$(date +%s%N)
	[ "$code" = 200 ] || fail "$n: first request got '$code'"
	echo $(((t1 - t0) / 1000000)) >>"$T_DIR/first.ms"
done
sort -n "$T_DIR/first.ms" >"$T_DIR/first.sorted"
pct() { awk -v p="$1" '{ v[NR] = $1 } END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print v[i] }' "$T_DIR/first.sorted"; }
echo "on-demand: time to first verified HTTPS request over $NAMES new names: p50 $(pct 50) ms, p99 $(pct 99) ms, max $(tail -1 "$T_DIR/first.sorted") ms"

K=n0.bench.example
rate() { # PORT: handshakes per second for K
	local t0 t1 ok
	t0=$(date +%s%N)
	ok=$(yes "$K" | head -n "$HS" | xargs "$PROBE" 127.0.0.1 "$1" | grep -vc 'FAIL\|CUT\|REFUSED' || true)
	t1=$(date +%s%N)
	[ "$ok" = "$HS" ] || fail "port $1: $ok of $HS handshakes succeeded"
	echo $((HS * 1000000000 / (t1 - t0)))
}
d1=$(rate "$DIRECT_PORT")
p1=$(rate "$HTTPS_PORT")
d2=$(rate "$DIRECT_PORT")
p2=$(rate "$HTTPS_PORT")
echo "known name, $HS handshakes x2: through the pre-frontend $p1 $p2 /s, direct $d1 $d2 /s, ratio $(awk -v a=$((p1 + p2)) -v b=$((d1 + d2)) 'BEGIN { printf "%.2f", a / b }')"
