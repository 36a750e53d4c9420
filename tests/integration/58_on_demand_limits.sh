#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# On-demand certificates under load and failure (issue 14), one edge, HAProxy's TLS
# pre-frontend, spoa-agent --on-demand, cert-pusher run, Pebble:
# - 20 clients open the same new allowed name at once: every one verifies against Pebble's
#   root, and Pebble saw exactly one order per key type;
# - 1000 random unknown names from one source: the per-source limit engages (the agent answers
#   "limited"), no order reaches Pebble, and a known name is still served verified;
# - the issuer stopped: a new allowed name (from another source address) gets the fallback
#   certificate once the agent's deadline passes, and the known name is still served.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/api.sh"

[ -x "$PUSHER" ] || fail "$PUSHER not built"
command -v jq >/dev/null || { t_log "SKIP: jq not installed"; exit 77; }

export SPOACME_ON_DEMAND=1
export SPOACME_TLS_INNER="abns@spoacme-test-$$-$RANDOM"
export SPOACME_SPOE_ONDEMAND_CONF=$ROOT/haproxy-cfg/spoe-ondemand.conf
EDGE=edge-a
DEADLINE_S=8

t_start_redis
t_start_agent --on-demand --edge-id "$EDGE" --on-demand-timeout "${DEADLINE_S}s"
t_start_haproxy
t_wait_agent_up 10 || fail "HAProxy never marked spoa-agent UP"
t_start_pebble
t_keyring
t_pebble_roots "$T_DIR/root.pem"
api_token
start_daemon pusher --edge-id "$EDGE" --on-demand-allow .on-demand.example
for ((i = 0; i < 100; i++)); do
	[ "$(rcli SISMEMBER spoacme:ondemand:allow .on-demand.example)" = 1 ] && break
	sleep 0.1
done

orders() { grep -c "Added order" "$T_DIR/pebble.log" 2>/dev/null || true; } # a badNonce retry posts twice
get() { # get NAME [curl args...]: HTTP status of a verified HTTPS request
	local n=$1
	shift
	curl -sS -o /dev/null -w '%{http_code}' --max-time 30 --resolve "$n:$HTTPS_PORT:127.0.0.1" \
		--cacert "$T_DIR/root.pem" "$@" "https://$n:$HTTPS_PORT/spoacme-haproxy-health" 2>/dev/null || true
}
metric() {
	curl -s "http://127.0.0.1:$METRICS_PORT/metrics" |
		sed -n "s/^spoacme_agent_ondemand_total{result=\"$1\"} //p"
}

# 20 clients at once, one new name.
N=crowd.on-demand.example
before=$(orders)
pids=()
for ((i = 0; i < 20; i++)); do
	get "$N" >"$T_DIR/crowd.$i" &
	pids+=($!)
done
wait "${pids[@]}"
for ((i = 0; i < 20; i++)); do
	assert_eq "client $i of 20 for $N" 200 "$(cat "$T_DIR/crowd.$i")"
done
assert_eq "orders for 20 concurrent clients (one per key type)" $((before + 2)) "$(orders)"
t_log "20 concurrent clients: all verified, 2 orders"

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
t_log "PASS: one order for 20 clients; flood limited without orders; issuer down -> fallback at the deadline ($ms ms)"
