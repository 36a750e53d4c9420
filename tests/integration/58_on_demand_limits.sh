#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# On-demand certificates under load and failure (issue 14), HAProxy's TLS pre-frontend,
# spoa-agent --on-demand, cert-pusher run, Pebble; edge A (issuer + loader) and edge B (its own
# HAProxy, agent, loader and certificate directory on the same Redis):
# - 20 clients open the same new allowed name at once, 10 on each edge: every one verifies
#   against Pebble's root (edge B waited for its own loader), and Pebble saw exactly one order
#   per key type;
# - 1000 random unknown names from one source: the per-source limit engages (the agent answers
#   "limited"), no order reaches Pebble, and a known name is still served verified;
# - the issuer stopped: a new allowed name (from another source address) gets the fallback
#   certificate once the agent's deadline passes, and the known name is still served.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/api.sh"

ondemand_env
EDGE=edge-a
DEADLINE_S=8

# Edge A's agent, which takes the flood below, is the ASan+UBSan build when there is one (make
# test builds it; CI requires it): at its stop it must report no error and no leak.
ASAN_AGENT=$ROOT/build/asan/spoa-agent
[ -x "$ASAN_AGENT" ] || { [ "${CI:-}" != true ] || fail "$ASAN_AGENT not built"; ASAN_AGENT=; }
AGENT_BIN=${ASAN_AGENT:-$BIN/spoa-agent} api_stack --on-demand --edge-id "$EDGE" \
	--on-demand-timeout "${DEADLINE_S}s"
start_daemon pusher --edge-id "$EDGE" --on-demand-allow .on-demand.example
for ((i = 0; i < 100; i++)); do
	[ "$(rcli SISMEMBER spoacme:ondemand:allow .on-demand.example)" = 1 ] && break
	sleep 0.1
done

# Edge B.
B_AGENT_PORT=$(t_free_port)
B_METRICS_PORT=$(t_free_port)
B_HTTP_PORT=$(t_free_port)
B_HTTPS_PORT=$(t_free_port)
B_SOCK=$T_DIR/haproxy-b.sock
t_ramdir B_CERT_DIR
: >"$B_CERT_DIR/crt-list"
: >"$B_CERT_DIR/names.map"
t_bg agent-b "$BIN/spoa-agent" --listen "127.0.0.1:$B_AGENT_PORT" --redis "127.0.0.1:$REDIS_PORT" \
	--metrics "127.0.0.1:$B_METRICS_PORT" --on-demand --edge-id edge-b --on-demand-timeout "${DEADLINE_S}s"
t_wait_tcp 127.0.0.1 "$B_AGENT_PORT" 10 || fail "edge B: spoa-agent did not start"
SPOACME_HTTP_BIND=127.0.0.1:$B_HTTP_PORT SPOACME_HTTPS_BIND=127.0.0.1:$B_HTTPS_PORT \
	SPOACME_AGENT_ADDR=127.0.0.1:$B_AGENT_PORT SPOACME_SPOE_CONF=$ROOT/haproxy-cfg/spoe-acme.conf \
	SPOACME_FALLBACK_PEM=$T_DIR/fallback.pem SPOACME_CRT_LIST=$B_CERT_DIR/crt-list \
	SPOACME_NAMES_MAP=$B_CERT_DIR/names.map SPOACME_STATS_SOCKET=$B_SOCK \
	SPOACME_APP_ADDR=127.0.0.1:$APP_PORT SPOACME_TLS_INNER="abns@spoacme-test-b-$$-$RANDOM" \
	t_bg haproxy-b "$HAPROXY_BIN" -W -S "$T_DIR/haproxy-b-master.sock" -db -f "$ROOT/haproxy-cfg/haproxy.cfg"
t_wait_tcp 127.0.0.1 "$B_HTTP_PORT" 10 || fail "edge B: haproxy did not start"
HAPROXY_SOCK=$B_SOCK t_wait_agent_up 10 || fail "edge B: HAProxy never marked spoa-agent UP"
t_bg loader-b "$PUSHER" --redis "127.0.0.1:$REDIS_PORT" --keyring "$KEYRING" --haproxy-socket "$B_SOCK" \
	--cert-dir "$B_CERT_DIR" --edge-id edge-b run --role loader

orders() { grep -c "Added order" "$T_DIR/pebble.log" 2>/dev/null || true; } # a badNonce retry posts twice
get() { # get NAME [curl args...]: HTTP status of a verified HTTPS request (to PORT, default A's)
	local n=$1 port=${PORT:-$HTTPS_PORT}
	shift
	curl -sS -o /dev/null -w '%{http_code}' --max-time 30 --resolve "$n:$port:127.0.0.1" \
		--cacert "$T_DIR/root.pem" "$@" "https://$n:$port/spoacme-haproxy-health" 2>/dev/null || true
}
metric() {
	curl -s "http://127.0.0.1:$METRICS_PORT/metrics" |
		sed -n "s/^spoacme_agent_ondemand_total{result=\"$1\"} //p"
}

# 20 clients at once, one new name, half of them on each edge.
N=crowd.on-demand.example
before=$(orders)
pids=()
for ((i = 0; i < 20; i++)); do
	PORT=$( ((i % 2)) && echo "$B_HTTPS_PORT" || echo "$HTTPS_PORT") get "$N" >"$T_DIR/crowd.$i" &
	pids+=($!)
done
wait "${pids[@]}"
for ((i = 0; i < 20; i++)); do
	assert_eq "client $i of 20 for $N" 200 "$(cat "$T_DIR/crowd.$i")"
done
assert_eq "orders for 20 concurrent clients on two edges (one per key type)" $((before + 2)) "$(orders)"
assert_eq "edge B's loader reported $N" 1 "$(rcli HEXISTS spoacme:served:edge-b "$N:ecdsa")"
assert_eq "edge B serves $N" 200 "$(PORT=$B_HTTPS_PORT get "$N")"
t_log "20 concurrent clients on two edges: all verified, 2 orders"

# 1000 random unknown names from one source.
before=$(orders)
for ((i = 0; i < 1000; i++)); do echo "r$i-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ').flood.example"; done |
	xargs "$BIN/tools/tls_probe" 127.0.0.1 "$HTTPS_PORT" >"$T_DIR/flood.out"
assert_eq "flood handshakes (fallback certificate each)" 1000 "$(grep -vc 'FAIL\|CUT\|REFUSED' "$T_DIR/flood.out")"
limited=$(metric limited)
refused=$(metric refused)
[ "${limited:-0}" -gt 0 ] || fail "no rate limiting after 1000 random names (refused=$refused)"
assert_eq "answers for the 1000 random names" 1000 $((limited + refused))
assert_eq "orders after 1000 random names" "$before" "$(orders)"
assert_eq "known name during/after the flood" 200 "$(get "$N")"
assert_eq "random names in hosts" 1 "$(rcli SCARD spoacme:hosts)"
t_log "1000 random names: limited=$limited refused=$refused, no order, $N still served"

# Issuer down: the new name waits for the deadline, then falls back; known names unaffected.
t_stop_pid "$DAEMON_PID"
M=late.on-demand.example
t0=$(date +%s%N)
# From 127.0.0.2: the flood spent 127.0.0.1's bucket (src reaches the agent through PROXY v2).
subj=$(curl -vk --max-time 30 --interface 127.0.0.2 --resolve "$M:$HTTPS_PORT:127.0.0.1" \
	"https://$M:$HTTPS_PORT/spoacme-haproxy-health" 2>&1 | grep -o 'subject: CN=[A-Za-z0-9.-]*' || true)
t1=$(date +%s%N)
assert_eq "$M with the issuer down: fallback" "subject: CN=spoacme-fallback" "$subj"
ms=$(((t1 - t0) / 1000000))
[ "$ms" -ge $((DEADLINE_S * 1000 - 500)) ] || fail "$M fell back after $ms ms, before the deadline"
[ "${ms}" -lt $((DEADLINE_S * 1000 + 5000)) ] || fail "$M fell back after $ms ms, long after the deadline"
assert_eq "agent timeouts" 1 "$(metric timeout)"
assert_eq "known name with the issuer down" 200 "$(get "$N")"
if [ -n "$ASAN_AGENT" ]; then
	t_stop_pid "$AGENT_PID"
	! grep -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error' "$T_DIR/agent.log" ||
		fail "the ASan agent reported errors after the flood (see agent.log)"
	# its own last line: a SIGKILL after t_stop_pid's grace would also skip the leak check
	grep -q 'exited cleanly' "$T_DIR/agent.log" || fail "the agent did not stop cleanly"
	t_log "ASan+UBSan agent: 1000 random names, the deadline case, no error or leak at its stop"
fi
t_log "PASS: one order for 20 clients; flood limited without orders; issuer down -> fallback at the deadline ($ms ms)"
