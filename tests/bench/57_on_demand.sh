#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# On-demand certificates (issue 14), same run, same machine, Pebble with PEBBLE_VA_NOSLEEP:
#  (a) time to the first successful (verified) HTTPS request for BENCH_NAMES (default 50) new
#      allowed names, one after the other: p50, p99, max;
#  (b) TLS handshakes per second for a known name through the pre-frontend (HTTPS_PORT: TCP
#      frontend, the names map, PROXY v2 over abns@ to the TLS frontend) against the same
#      haproxy.cfg without on-demand in a second HAProxy (its `https` frontend on DIRECT_PORT,
#      the same crt-list), BENCH_HANDSHAKES each (default 2000, tests/tools/tls_probe) by 1 and
#      by 4 parallel clients, in BENCH_ROUNDS (default 10) alternated rounds; ratio (target
#      >= 0.9). The known name is in the names map, so it never reaches the agent (checked: the
#      agent's counters do not move).
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$ROOT/tests/lib/pebble.sh"
. "$ROOT/tests/lib/api.sh"
PROBE=$BIN/tools/tls_probe
[ -x "$PROBE" ] || fail "$PROBE not built"
NAMES=${BENCH_NAMES:-50}
HS=${BENCH_HANDSHAKES:-2000}

export SPOACME_ON_DEMAND=1
export SPOACME_TLS_INNER="abns@spoacme-bench-$$"
export SPOACME_SPOE_ONDEMAND_CONF=$ROOT/haproxy-cfg/spoe-ondemand.conf
t_fallback_cert
api_stack --on-demand --edge-id bench --on-demand-source-burst 1000
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
# The baseline: the same haproxy.cfg without SPOACME_ON_DEMAND (its `https` frontend on the TLS
# port itself) in a second HAProxy, loading the same crt-list the loader wrote.
DIRECT_PORT=$(t_free_port)
SPOACME_HTTP_BIND=127.0.0.1:$(t_free_port) \
	SPOACME_HTTPS_BIND=127.0.0.1:$DIRECT_PORT SPOACME_AGENT_ADDR=127.0.0.1:$AGENT_PORT \
	SPOACME_SPOE_CONF=$ROOT/haproxy-cfg/spoe-acme.conf SPOACME_FALLBACK_PEM=$T_DIR/fallback.pem \
	SPOACME_CRT_LIST=$CRT_LIST SPOACME_STATS_SOCKET=$T_DIR/haproxy-direct.sock \
	SPOACME_APP_ADDR=127.0.0.1:$APP_PORT \
	t_bg haproxy-direct env -u SPOACME_ON_DEMAND "$HAPROXY_BIN" -W -S "$T_DIR/haproxy-direct-master.sock" -db \
	-f "$ROOT/haproxy-cfg/haproxy.cfg"
t_wait_tcp 127.0.0.1 "$DIRECT_PORT" 10 || fail "the baseline HAProxy did not start"
# The names map keeps a known name from the agent: wait until the worker's map holds K.
for ((i = 0; i < 100; i++)); do
	echo "show map $NAMES_MAP" | socat -t 5 - "UNIX-CONNECT:$HAPROXY_SOCK" | grep -q " $K 1$" && break
	sleep 0.1
done
asked() { curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | awk '/^spoacme_agent_ondemand_total/ { n += $2 } END { print n + 0 }'; }
# rate PORT N CLIENTS: milliseconds for N handshakes of K on PORT, by CLIENTS parallel clients.
rate() {
	local t0 t1 ok
	t0=$(date +%s%N)
	ok=$(yes "$K" | head -n "$2" | xargs -P "$3" -n $(($2 / $3)) "$PROBE" 127.0.0.1 "$1" |
		grep -vc 'FAIL\|CUT\|REFUSED' || true)
	t1=$(date +%s%N)
	[ "$ok" = "$2" ] || fail "port $1: $ok of $2 handshakes succeeded"
	echo $(((t1 - t0) / 1000000))
}
# The machine is shared: ROUNDS short rounds, alternating which side goes first, so that load
# drifts hit both sides alike; handshakes/s from the sums.
ROUNDS=${BENCH_ROUNDS:-10}
a0=$(asked)
for c in 1 4; do
	dms=0 pms=0
	for ((r = 0; r < ROUNDS; r++)); do
		if ((r % 2)); then
			pms=$((pms + $(rate "$HTTPS_PORT" $((HS / ROUNDS)) $c)))
			dms=$((dms + $(rate "$DIRECT_PORT" $((HS / ROUNDS)) $c)))
		else
			dms=$((dms + $(rate "$DIRECT_PORT" $((HS / ROUNDS)) $c)))
			pms=$((pms + $(rate "$HTTPS_PORT" $((HS / ROUNDS)) $c)))
		fi
	done
	echo "known name, $HS handshakes each side, $c client(s), $ROUNDS alternated rounds:" \
		"through the pre-frontend $((HS * 1000 / pms)) /s, direct $((HS * 1000 / dms)) /s," \
		"ratio $(awk -v a="$dms" -v b="$pms" 'BEGIN { printf "%.2f", a / b }') (target >= 0.9)"
done
[ "$(asked)" = "$a0" ] || fail "known-name handshakes reached the agent ($a0 -> $(asked))"
