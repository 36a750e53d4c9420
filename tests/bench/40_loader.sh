#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Hot-loading BENCH_CERTS (default 1000) ECDSA certificates into a fresh HAProxy through the
# loader (from loader start until every certificate is committed and in the crt-list), against
# the alternative an operator would otherwise use: HAProxy started with the same certificates
# from files in a crt-list (from start until the TLS port accepts); and against HAProxy's own
# cost for the same runtime API commands piped in one session. All in the same run, on the
# same machine; prints the times, their ratios, ms per certificate and HAProxy's RSS.
set -eu
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/lib/loader.sh"
[ -x "$BIN/cert-pusher" ] || fail "$BIN/cert-pusher not built"
N=${BENCH_CERTS:-1000}

now_ms() { date +%s%3N; }

t_start_redis
mk_keyring
mk_ca
t_log "generating $N ECDSA certificates"
t0=$(now_ms)
mk_bench_certs "$N"
t_log "generated in $(($(now_ms) - t0)) ms; importing"
t0=$(now_ms)
import_bench_certs "$N"
assert_eq "hosts in Redis" "$N" "$(rcli SCARD "${PREFIX}hosts")"
t_log "imported in $(($(now_ms) - t0)) ms"

# 1. The loader into a fresh HAProxy with an empty crt-list.
t_start_haproxy
sleep 0.5
rss0=$(ps -o rss= -p "$HAPROXY_PID" | tr -d ' ')
t0=$(now_ms)
start_loader --reconcile-interval 1h
while :; do
	n=$(hp "show ssl crt-list $T_DIR/crt-list" | grep -c '^h' || true)
	[ "$n" -ge "$N" ] && break
	(($(now_ms) - t0 < 600000)) || fail "only $n of $N certificates after 10 minutes"
	sleep 0.05
done
t_loader=$(($(now_ms) - t0))
rss1=$(ps -o rss= -p "$HAPROXY_PID" | tr -d ' ')
for i in 1 $((N / 2)) "$N"; do
	wait_served "h$i.bench.example" ecdsa "$(serial_of "$T_DIR/certs/h$i.crt")" 5
done
inner=$(sed -n 's/.*reconciled hosts=\([0-9]*\) failed=0 ms=\([0-9]*\).*/\1 \2/p' "$T_DIR/loader.log" | head -1)
t_stop_pid "$LOADER_PID"
t_stop_pid "$HAPROXY_PID"

# 2. HAProxy's own cost: the same new/set/commit/add commands piped in one session (no
# round trips, no Redis, no decryption, no verification) into a fresh HAProxy.
{
	echo prompt
	for ((i = 1; i <= N; i++)); do
		n=h$i.bench.example.ecdsa
		printf 'new ssl cert %s\nset ssl cert %s <<\n' "$n" "$n"
		cat "$T_DIR/certs/h$i.crt" "$T_DIR/certs/h$i.key"
		printf '\ncommit ssl cert %s\nadd ssl crt-list %s %s\n' "$n" "$T_DIR/crt-list" "$n"
	done
	echo quit
} >"$T_DIR/raw.cmds"
t_start_haproxy
sleep 0.5
t0=$(now_ms)
socat -t 60 - "UNIX-CONNECT:$HAPROXY_SOCK" <"$T_DIR/raw.cmds" >"$T_DIR/raw.out"
t_raw=$(($(now_ms) - t0))
rm -f "$T_DIR/raw.cmds"
assert_eq "raw commits and adds" "$((2 * N))" "$(grep -c "^Success!" "$T_DIR/raw.out")"
assert_eq "raw crt-list entries" "$N" "$(hp "show ssl crt-list $T_DIR/crt-list" | grep -c '^h')"
t_stop_pid "$HAPROXY_PID"

# 3. HAProxy started with the same certificates from files.
for ((i = 1; i <= N; i++)); do
	cat "$T_DIR/certs/h$i.crt" "$T_DIR/certs/h$i.key" >"$T_DIR/certs/h$i.pem"
	echo "$T_DIR/certs/h$i.pem"
done >"$T_DIR/files.crt-list"
P_HTTP=$(t_free_port)
P_HTTPS=$(t_free_port)
t0=$(now_ms)
SPOACME_HTTP_BIND=127.0.0.1:$P_HTTP SPOACME_HTTPS_BIND=127.0.0.1:$P_HTTPS \
	SPOACME_AGENT_ADDR=127.0.0.1:$(t_free_port) SPOACME_SPOE_CONF=$ROOT/haproxy-cfg/spoe-acme.conf \
	SPOACME_FALLBACK_PEM=$T_DIR/fallback.pem SPOACME_CRT_LIST=$T_DIR/files.crt-list \
	SPOACME_STATS_SOCKET=$T_DIR/files.sock SPOACME_APP_ADDR=127.0.0.1:$(t_free_port) \
	t_bg haproxy-files "$HAPROXY_BIN" -db -f "$ROOT/haproxy-cfg/haproxy.cfg"
HF_PID=$T_LAST_PID
for ((i = 0; i < 60000; i++)); do
	(exec 3<>"/dev/tcp/127.0.0.1/$P_HTTPS") 2>/dev/null && break
	kill -0 "$HF_PID" 2>/dev/null || fail "haproxy with $N files did not start"
	sleep 0.01
done
t_files=$(($(now_ms) - t0))
sleep 0.5
rss2=$(ps -o rss= -p "$HF_PID" | tr -d ' ')
HTTPS_PORT=$P_HTTPS wait_served "h$N.bench.example" ecdsa "$(serial_of "$T_DIR/certs/h$N.crt")" 5

awk -v n="$N" -v tl="$t_loader" -v tf="$t_files" -v tr="$t_raw" -v inner="$inner" -v r0="$rss0" -v r1="$rss1" \
	-v r2="$rss2" 'BEGIN {
	split(inner, in_, " ")
	printf "loader:       %d certificates in %d ms (%.2f ms/cert; loader-measured reconcile %s ms)\n", n, tl, tl / n, in_[2]
	printf "files+start:  %d certificates in %d ms (%.2f ms/cert)\n", n, tf, tf / n
	printf "raw CLI:      %d certificates in %d ms (%.2f ms/cert: new+set+commit+add piped, HAProxy alone)\n", n, tr, tr / n
	printf "ratio loader/files: %.2f   loader/raw CLI: %.2f\n", tl / tf, tl / tr
	printf "HAProxy RSS: empty %d KB, after loader %d KB (%.1f KB/cert), from files %d KB\n", r0, r1, (r1 - r0) / n, r2
}'
