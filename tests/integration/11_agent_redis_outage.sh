#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Redis outages seen through HAProxy: Redis stopped -> 503 (the agent answers "unavailable" at
# once, well within HAProxy's processing timeout) and 200 again once Redis is back; Redis
# frozen by DEBUG SLEEP with requests in flight -> 503 from the agent's own deadline, the
# agent survives and serves again; SIGTERM while a lookup is in flight -> the request is still
# answered and the agent exits 0. Durations are printed, not asserted. Every 503 is also
# checked to carry the agent's own answer (txn.acme.error, shown by a test-only frontend):
# a 503 from HAProxy's processing timeout or a dead agent would not.
# The agent's /healthz is 503 while no worker has Redis, and 200 once they reconnected.
set -eu
. "$(dirname "$0")/../lib/common.sh"

t_start_redis "" --enable-debug-command local
t_start_agent --threads 2 --timeout 300ms
ERR_PORT=$(t_free_port)
cat >"$T_DIR/err.cfg" <<EOF
frontend t_err
	bind 127.0.0.1:$ERR_PORT
	filter spoe engine acme config "\${SPOACME_SPOE_CONF}"
	http-request send-spoe-group acme acme-grp
	http-request return status 200 content-type text/plain lf-string "%[var(txn.acme.keyauth)]" if { var(txn.acme.found) -m bool }
	http-request return status 503 content-type text/plain lf-string "%[var(txn.acme.error)]" if { var(txn.acme.error) -m found }
	http-request return status 404
EOF
t_start_haproxy "$T_DIR/err.cfg"
t_wait_agent_up 10 || fail "HAProxy never marked spoa-agent UP"

TOKEN=outage_token-1
rcli SET "spoacme:chal:$TOKEN" "$TOKEN.thumb" >/dev/null
URL="http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/$TOKEN"
# status: prints "CODE SECONDS" for one request (curl gives up after 5 s)
status() { curl -sS --max-time 5 -o "$T_DIR/body" -w '%{http_code} %{time_total}\n' "$URL" || true; }
ms() { awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }'; }
# agent_error [FILE]: one request through the test frontend: "CODE ERROR" (FILE: the body)
agent_error() {
	local code
	code=$(curl -sS --max-time 5 -o "$T_DIR/err.body" -w '%{http_code}' \
		"http://127.0.0.1:$ERR_PORT/.well-known/acme-challenge/$TOKEN" || true)
	echo "$code $(cat "$T_DIR/err.body" 2>/dev/null)"
}
# Redis is inside DEBUG SLEEP once a PING goes unanswered (the PING runs after it: harmless).
wait_asleep() {
	local i
	for ((i = 0; i < 50; i++)); do
		timeout 0.2 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" PING >/dev/null 2>&1 || return 0
	done
	fail "Redis never went to sleep"
}

read -r code t <<<"$(status)"
assert_eq "before the outage" 200 "$code"

# --- Redis stopped
t_stop_pid "$REDIS_PID"
for i in 1 2 3 4 5; do
	read -r code t <<<"$(status)"
	assert_eq "Redis down, request $i" 503 "$code"
	t_log "Redis down: 503 in $(ms "$t") ms"
done
assert_eq "the agent's answer with Redis down" "503 redis-unavailable" "$(agent_error)"
kill -0 "$AGENT_PID" || fail "agent died with Redis"
down=$(t_agent_metric 'spoacme_agent_requests_total{result="unavailable"}')
[ "$down" -ge 5 ] || fail "expected >= 5 'unavailable' answers, metrics say $down"
assert_eq "redis_connected while down" 0 "$(t_agent_metric spoacme_agent_redis_connected)"
assert_eq "agent /healthz while no worker has Redis" 503 \
	"$(curl -s -o "$T_DIR/health" -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/healthz")"
grep -q "redis unavailable: 0 of 2 workers connected" "$T_DIR/health" || fail "healthz: $(cat "$T_DIR/health")"

# --- Redis back on the same port (empty: store the token again)
t_start_redis "$REDIS_PORT" --enable-debug-command local
rcli SET "spoacme:chal:$TOKEN" "$TOKEN.thumb" >/dev/null
ok=0
for ((i = 0; i < 100; i++)); do
	read -r code t <<<"$(status)"
	[ "$code" = 200 ] && { ok=1; break; }
	sleep 0.1
done
[ $ok = 1 ] || fail "no 200 within 10 s of Redis coming back (last status $code)"
t_log "recovered after Redis restart in ~$((i * 100)) ms"
printf '%s' "$TOKEN.thumb" | cmp -s - "$T_DIR/body" || fail "body after recovery differs"
for ((i = 0; i < 50; i++)); do
	[ "$(t_agent_metric spoacme_agent_redis_connected)" = 2 ] && break
	sleep 0.1
done
assert_eq "both workers reconnected" 2 "$(t_agent_metric spoacme_agent_redis_connected)"
assert_eq "agent /healthz with Redis back" ok "$(curl -sS "http://127.0.0.1:$METRICS_PORT/healthz")"

# --- Redis frozen with requests in flight
timeouts_before=$(t_agent_metric 'spoacme_agent_requests_total{result="timeout"}')
rcli DEBUG SLEEP 2 >/dev/null &
sleeper=$!
wait_asleep
pids=()
for i in 1 2 3 4 5 6; do
	(status >"$T_DIR/frozen.$i") &
	pids+=($!)
done
(agent_error >"$T_DIR/frozen.err") &
pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done
for i in 1 2 3 4 5 6; do
	read -r code t <"$T_DIR/frozen.$i"
	assert_eq "Redis frozen, request $i" 503 "$code"
	t_log "Redis frozen: 503 in $(ms "$t") ms"
done
assert_eq "the agent's answer with Redis frozen" "503 timeout" "$(cat "$T_DIR/frozen.err")"
wait "$sleeper" || true
timeouts_after=$(t_agent_metric 'spoacme_agent_requests_total{result="timeout"}')
[ $((timeouts_after - timeouts_before)) -ge 7 ] ||
	fail "expected >= 7 agent timeouts, got $((timeouts_after - timeouts_before))"
kill -0 "$AGENT_PID" || fail "agent died while Redis was frozen"
# the late replies were dropped safely and the connection is still usable
read -r code t <<<"$(status)"
assert_eq "after the freeze" 200 "$code"
printf '%s' "$TOKEN.thumb" | cmp -s - "$T_DIR/body" || fail "body after the freeze differs"

# --- SIGTERM with a lookup in flight: answered, then exit 0
notify_before=$(t_agent_metric 'spoacme_agent_frames_received_total{type="notify"}')
rcli DEBUG SLEEP 1 >/dev/null &
sleeper=$!
wait_asleep
(agent_error >"$T_DIR/draining") &
req=$!
for ((i = 0; i < 100; i++)); do # the NOTIFY reached the agent: its lookup is in flight
	[ "$(t_agent_metric 'spoacme_agent_frames_received_total{type="notify"}')" -gt "$notify_before" ] && break
	sleep 0.01
done
kill -TERM "$AGENT_PID"
rc=0
wait "$AGENT_PID" || rc=$?
assert_eq "agent exit status after SIGTERM" 0 "$rc"
wait "$req"
assert_eq "request in flight during SIGTERM (the agent's answer)" "503 timeout" "$(cat "$T_DIR/draining")"
wait "$sleeper" || true
grep -q 'exited cleanly' "$T_DIR/agent.log" || fail "agent did not log a clean exit"

t_log "PASS 11_agent_redis_outage"
