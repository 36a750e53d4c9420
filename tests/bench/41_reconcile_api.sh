#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The API shares the daemon's event loop with the loader: how long does an API request wait
# while the loader reloads BENCH_CERTS (default 1000) certificates into a restarted HAProxy?
# Same run, same machine, two daemons one after the other: --reconcile-slice 0 (the whole
# reconcile in one event-loop turn, as before slicing) and the default 20ms slices. A client
# polls GET /healthz (a Redis PING through the API) during each reload; prints the reload time
# and the API's p50 / p99 / max latency for both, and the ratio of the maxima. No assertion on
# time: a measurement.
set -eu
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/lib/loader.sh"
[ -x "$BIN/cert-pusher" ] || fail "$BIN/cert-pusher not built"
N=${BENCH_CERTS:-1000}

now_ms() { date +%s%3N; }

t_start_redis
mk_keyring
mk_ca
t_log "generating and importing $N ECDSA certificates"
mk_bench_certs "$N"
import_bench_certs "$N"
assert_eq "hosts in Redis" "$N" "$(rcli SCARD "${PREFIX}hosts")"
(umask 077 && openssl rand -hex 24 >"$T_DIR/token")

loaded() { hp "show ssl crt-list $CRT_LIST" 2>/dev/null | grep -c "^$CERT_DIR/h" || true; }
wait_loaded() {
	local t0
	t0=$(now_ms)
	while [ "$(loaded)" -lt "$N" ]; do
		(($(now_ms) - t0 < 600000)) || fail "only $(loaded) of $N certificates after 10 minutes"
		sleep 0.05
	done
}

# measure SLICE: prints "reload_ms p50_ms p99_ms max_ms requests".
measure() {
	local slice=$1 port t0 reload
	t_start_haproxy
	port=$(t_free_port)
	t_bg "daemon-$slice" "$BIN/cert-pusher" --redis "127.0.0.1:$REDIS_PORT" --keyring "$KEYRING" \
		--directory https://127.0.0.1:1/directory --api "127.0.0.1:$port" \
		--api-token-file "$T_DIR/token" --haproxy-socket "$HAPROXY_SOCK" \
		--cert-dir "$CERT_DIR" --reconcile-interval 1h --reconcile-slice "$slice" \
		--edge-id bench run
	local daemon=$T_LAST_PID
	t_wait_tcp 127.0.0.1 "$port" 60 || fail "the API did not start"
	wait_loaded
	: >"$T_DIR/probe-$slice"
	(
		while :; do
			curl -s -o /dev/null --max-time 60 -w '%{time_total}\n' \
				"http://127.0.0.1:$port/healthz" || echo 60
		done
	) >>"$T_DIR/probe-$slice" &
	local probe=$!
	T_PIDS+=("$probe")
	sleep 1
	# A restarted HAProxy with an emptied certificate directory (what a lost tmpfs would
	# give): the loader writes and pushes everything again.
	t_stop_pid "$HAPROXY_PID"
	rm -f "$CERT_DIR"/*.pem
	: >"$CRT_LIST"
	t0=$(now_ms)
	t_start_haproxy
	wait_loaded
	reload=$(($(now_ms) - t0))
	sleep 1
	kill "$probe"
	wait "$probe" 2>/dev/null || true
	t_stop_pid "$daemon"
	t_stop_pid "$HAPROXY_PID"
	sort -n "$T_DIR/probe-$slice" | awk -v r="$reload" '
		{ v[NR] = $1 * 1000 }
		END { printf "%d %.1f %.1f %.1f %d\n", r, v[int(NR * 0.5) + 1], v[int(NR * 0.99) + 1], v[NR], NR }'
}

read -r r0 p50_0 p99_0 max0 n0 <<<"$(measure 0)"
read -r r1 p50_1 p99_1 max1 n1 <<<"$(measure 20ms)"
printf '\nreconcile of %d certificates into a restarted HAProxy, API GET /healthz meanwhile:\n' "$N"
printf '  %-26s reload %6d ms  api p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms  (%d requests)\n' \
	"one turn (--reconcile-slice 0)" "$r0" "$p50_0" "$p99_0" "$max0" "$n0" \
	"sliced (20ms, default)" "$r1" "$p50_1" "$p99_1" "$max1" "$n1"
awk -v a="$max0" -v b="$max1" 'BEGIN { r = (b > 0) ? a / b : 0; printf "  max latency ratio one-turn/sliced: %.1fx\n", r }'
