#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The loader at BENCH_CERTS certificates (default "1000 10000": each count in turn), all in the
# same run, on the same machine:
#  (b) hot-loading them into a fresh HAProxy with an empty certificate directory (from loader
#      start until every certificate is committed and in the crt-list), against HAProxy's own
#      cost for the same runtime API commands piped in one session by this script (the floor:
#      no round trips, no Redis, no decryption, no files, no verification), as a ratio;
#  (a) a master-worker reload of that HAProxy while a TLS client loop runs: the time until the
#      new worker answers and serves every name (each name probed once), the loader's time to
#      verify it, and the handshakes the loop saw with the fallback certificate (target 0);
#  (c) the operator's alternative: HAProxy started with the same certificates from files in a
#      crt-list (from start until the TLS port accepts).
# Prints times, ratios, ms per certificate and HAProxy's RSS.
set -eu
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/lib/loader.sh"
[ -x "$BIN/cert-pusher" ] || fail "$BIN/cert-pusher not built"
COUNTS=${BENCH_CERTS:-1000 10000}
MAX=$(tr ' ' '\n' <<<"$COUNTS" | sort -n | tail -1)
PROBE=$BIN/tools/tls_probe
HAPROXY=${HAPROXY_BIN:-haproxy}

now_ms() { date +%s%3N; }
entries() { hp "show ssl crt-list $CRT_LIST" | grep -c "^$CERT_DIR/h" || true; }

t_start_redis
mk_keyring
mk_ca
t_log "generating $MAX ECDSA certificates"
t0=$(now_ms)
mk_bench_certs "$MAX"
t_log "generated in $(($(now_ms) - t0)) ms"
imported=0

bench_n() {
	local N=$1 i n t0 t1 t2
	t_log "== $N certificates ($("$HAPROXY" -v | head -1 | awk '{ print $3 }'))"
	# Redis holds exactly N hosts.
	(for ((i = imported + 1; i <= N; i++)); do _bench_import_one "$i"; done)
	imported=$N
	assert_eq "hosts in Redis" "$N" "$(rcli SCARD "${PREFIX}hosts")"
	names=$(for ((i = 1; i <= N; i++)); do echo "h$i.bench.example"; done)

	# (b) The loader into a fresh HAProxy, empty directory and crt-list.
	t_fallback_cert
	t_cert_dir
	t_start_haproxy
	sleep 0.5
	rss0=$(ps -o rss= -p "$(t_haproxy_worker)" | tr -d ' ')
	t0=$(now_ms)
	: >"$T_DIR/loader.log"
	start_loader --reconcile-interval 1h
	while :; do
		n=$(entries)
		[ "$n" -ge "$N" ] && break
		(($(now_ms) - t0 < 900000)) || fail "only $n of $N certificates after 15 minutes"
		sleep 0.2
	done
	t_loader=$(($(now_ms) - t0))
	rss1=$(ps -o rss= -p "$(t_haproxy_worker)" | tr -d ' ')
	for i in 1 $((N / 2)) "$N"; do
		wait_served "h$i.bench.example" ecdsa "$(serial_of "$T_DIR/certs/h$i.crt")" 5
	done
	inner=$(sed -n 's/.*reconciled hosts=\([0-9]*\) failed=0 ms=\([0-9]*\).*/\2/p' \
		"$T_DIR/loader.log" | head -1)

	# (a) A master-worker reload under a TLS client loop.
	echo reload >"$T_DIR/run"
	# shellcheck disable=SC2086
	"$PROBE" 127.0.0.1 "$HTTPS_PORT" --loop "$T_DIR/run" $names >"$T_DIR/loop.txt" &
	lp=$!
	sleep 1
	old=$(t_haproxy_worker)
	nrec=$(grep -c "reconciled hosts" "$T_DIR/loader.log")
	tr0=$(now_ms)
	echo reload | socat -t 60 - "UNIX-CONNECT:$HAPROXY_MASTER_SOCK" >/dev/null
	while :; do
		n=$(t_haproxy_worker)
		[ -n "$n" ] && [ "$n" != "$old" ] &&
			echo "show info" | socat -t 2 - "UNIX-CONNECT:$HAPROXY_SOCK" | grep -qx "Pid: $n" &&
			break
		(($(now_ms) - tr0 < 300000)) || fail "no new worker"
		sleep 0.01
	done
	t1=$(now_ms)
	# shellcheck disable=SC2086
	"$PROBE" 127.0.0.1 "$HTTPS_PORT" $names >"$T_DIR/all.txt"
	t2=$(now_ms)
	rm -f "$T_DIR/run"
	wait "$lp" || true
	bad=0
	while read -r name _ serial; do
		[ "$serial" = "$(serial_of "$T_DIR/certs/${name%%.*}.crt")" ] || bad=$((bad + 1))
	done < <(shuf -n 20 "$T_DIR/all.txt")
	fb=$(grep -c " $(serial_of "$T_DIR/fallback.crt")\$" "$T_DIR/loop.txt" || true)
	ecdsa_total=$(grep -c ' ecdsa ' "$T_DIR/loop.txt" || true)
	cut=$(grep -c ' CUT$\| REFUSED$' "$T_DIR/loop.txt" || true)
	served_all=$(awk '$3 ~ /^[0-9A-F]+$/' "$T_DIR/all.txt" | wc -l)
	for ((i = 0; i < 6000; i++)); do
		[ "$(grep -c "reconciled hosts" "$T_DIR/loader.log")" -gt "$nrec" ] && break
		sleep 0.05
	done
	verify=$(sed -n 's/.*reconciled hosts=\([0-9]*\) failed=0 ms=\([0-9]*\).*/\2/p' \
		"$T_DIR/loader.log" | tail -1)
	t_stop_pid "$LOADER_PID"
	# (b') binds the same ports: the worker must be gone too ("Address already in use")
	t_stop_haproxy

	# (b') HAProxy's own cost: the same commands piped in one session into a fresh HAProxy.
	t_fallback_cert
	t_cert_dir
	{
		echo prompt
		for ((i = 1; i <= N; i++)); do
			n=h$i.bench.example.ecdsa
			printf 'new ssl cert %s\nset ssl cert %s <<\n' "$n" "$n"
			cat "$T_DIR/certs/h$i.crt" "$T_DIR/certs/h$i.key"
			printf '\ncommit ssl cert %s\nadd ssl crt-list %s %s\n' "$n" "$CRT_LIST" "$n"
		done
		echo quit
	} >"$T_DIR/raw.cmds"
	t_start_haproxy
	sleep 0.5
	t0=$(now_ms)
	socat -t 600 - "UNIX-CONNECT:$HAPROXY_SOCK" <"$T_DIR/raw.cmds" >"$T_DIR/raw.out"
	t_raw=$(($(now_ms) - t0))
	rm -f "$T_DIR/raw.cmds"
	assert_eq "raw commits and adds" "$((2 * N))" "$(grep -c "^Success!" "$T_DIR/raw.out")"
	t_stop_pid "$HAPROXY_PID"

	# (c) HAProxy started with the same certificates from files.
	for ((i = 1; i <= N; i++)); do
		[ -f "$T_DIR/certs/h$i.pem" ] ||
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
		t_bg haproxy-files "$HAPROXY" -db -f "$ROOT/haproxy-cfg/haproxy.cfg"
	HF_PID=$T_LAST_PID
	for ((i = 0; i < 600000; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$P_HTTPS") 2>/dev/null && break
		kill -0 "$HF_PID" 2>/dev/null || fail "haproxy with $N files did not start"
		sleep 0.01
	done
	t_files=$(($(now_ms) - t0))
	sleep 0.5
	rss2=$(ps -o rss= -p "$HF_PID" | tr -d ' ')
	HTTPS_PORT=$P_HTTPS wait_served "h$N.bench.example" ecdsa "$(serial_of "$T_DIR/certs/h$N.crt")" 5
	t_stop_pid "$HF_PID"

	awk -v n="$N" -v tl="$t_loader" -v tf="$t_files" -v tr="$t_raw" -v inner="$inner" \
		-v r0="$rss0" -v r1="$rss1" -v r2="$rss2" -v tw=$((t1 - tr0)) -v ta=$((t2 - tr0)) \
		-v fb="$fb" -v loop="$(wc -l <"$T_DIR/loop.txt")" -v ecdsa="$ecdsa_total" \
		-v cut="$cut" -v sa="$served_all" -v bad="$bad" -v verify="$verify" 'BEGIN {
	printf "(b) loader:     %d certificates in %d ms (%.2f ms/cert; loader-measured reconcile %s ms)\n", n, tl, tl / n, inner
	printf "(b) raw CLI:    %d certificates in %d ms (%.2f ms/cert: new+set+commit+add piped, HAProxy alone)\n", n, tr, tr / n
	printf "(b) ratio loader/raw CLI: %.2f (target <= 1.2); loader-measured/raw CLI: %.2f\n", tl / tr, inner / tr
	printf "(a) reload: new worker answering after %d ms, every name probed and served %d of %d after %d ms (20 sampled serials wrong: %d); loader verified it in %s ms\n", tw, sa, n, ta, bad, verify
	printf "(a) client loop during the reload: %d ECDSA handshakes, %d with the fallback certificate (target 0), %d cut or refused (RSA attempts fail: these names are ECDSA only)\n", ecdsa, fb, cut
	printf "(c) files+start: %d certificates in %d ms (%.2f ms/cert); ratio loader/files: %.2f\n", n, tf, tf / n, tl / tf
	printf "HAProxy RSS: empty %d KB, after loader %d KB (%.1f KB/cert), from files %d KB\n", r0, r1, (r1 - r0) / n, r2
}'
}

for c in $COUNTS; do bench_n "$c"; done
