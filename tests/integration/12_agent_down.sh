#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# spoa-agent killed (SIGKILL, no goodbye): challenge requests get 503 at once while HAProxy's
# other routes keep answering, and 200 comes back once the agent is restarted on the same
# port (HAProxy's connections to the dead agent are reset, its health check marks it UP
# again). Durations are printed, not asserted.
set -eu
. "$(dirname "$0")/../lib/common.sh"

t_challenge_path --threads 2

TOKEN=down_token_1
rcli SET "spoacme:chal:$TOKEN" "$TOKEN.thumb" >/dev/null
URL="http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/$TOKEN"
status() { curl -sS --max-time 5 -o "$T_DIR/body" -w '%{http_code} %{time_total}\n' "$1" || true; }
ms() { awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }'; }

# warm HAProxy's agent connections so the kill leaves some behind
for i in 1 2 3 4 5; do
	read -r code t <<<"$(status "$URL")"
	assert_eq "before the kill" 200 "$code"
done

kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
for i in 1 2 3 4 5 6; do
	read -r code t <<<"$(status "$URL")"
	assert_eq "agent down, request $i" 503 "$code"
	t_log "agent down: 503 in $(ms "$t") ms"
	read -r code t <<<"$(status "http://127.0.0.1:$HTTP_PORT/spoacme-haproxy-health")"
	assert_eq "monitor-uri while the agent is down" 200 "$code"
	read -r code t <<<"$(status "http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/bad.token")"
	assert_eq "invalid token while the agent is down" 404 "$code"
done
kill -0 "$HAPROXY_PID" || fail "haproxy died"

# restart on the same ports
t_start_agent --threads 2
ok=0
for ((i = 0; i < 150; i++)); do
	read -r code t <<<"$(status "$URL")"
	[ "$code" = 200 ] && { ok=1; break; }
	sleep 0.1
done
[ $ok = 1 ] || fail "no 200 within 15 s of the agent restart (last status $code)"
t_log "200 again ~$((i * 100)) ms after the restart"
printf '%s' "$TOKEN.thumb" | cmp -s - "$T_DIR/body" || fail "body after restart differs"
for i in 1 2 3 4 5; do
	read -r code t <<<"$(status "$URL")"
	assert_eq "after the restart, request $i" 200 "$code"
done

# a clean stop exits 0
kill -TERM "$AGENT_PID"
rc=0
wait "$AGENT_PID" || rc=$?
assert_eq "agent exit status after SIGTERM" 0 "$rc"

t_log "PASS 12_agent_down"
