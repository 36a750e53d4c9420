#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Redis Sentinel kills every normal client of a replica it re-points (CLIENT KILL TYPE normal)
# during a failover. The agent must ride through it: lookups in flight on the killed
# connection and lookups arriving before the reconnect are queued and sent again, so HAProxy
# serves every challenge with 200 and the exact key authorization, never a 503. The kills are
# spaced by more than 1 s so that each one hits a connection that has been up for 1 s (the
# agent then reconnects at once); the connects counter proves the kills happened.
set -eu
. "$(dirname "$0")/../lib/common.sh"

command -v wrk >/dev/null || { echo "wrk not installed"; exit 77; }
t_challenge_path --threads 2

TOKEN=evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA
KEYAUTH=$TOKEN.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI
rcli SET "spoacme:chal:$TOKEN" "$KEYAUTH" >/dev/null
printf '%s' "$KEYAUTH" >"$T_DIR/expected"
URL="http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/$TOKEN"

code=$(curl -sS --max-time 5 -o "$T_DIR/body" -w '%{http_code}' "$URL")
assert_eq "hit status before the kills" 200 "$code"
connects0=$(t_agent_metric spoacme_agent_redis_connects_total)
assert_eq "redis connected workers" 2 "$(t_agent_metric spoacme_agent_redis_connected)"

# Load: wrk on 8 connections (lookups in flight when a kill lands: the requeue path) and a
# curl loop (a second, independent client). wrk is only a load generator here; its Lua checks
# each response (status and exact body) and prints the counts when done.
cat >"$T_DIR/check.lua" <<LUA
local want = "$KEYAUTH"
local threads = {}
ok, bad = 0, 0
setup = function(thread) threads[#threads + 1] = thread end
response = function(status, headers, body)
	if status == 200 and body == want then ok = ok + 1 else bad = bad + 1 end
end
done = function()
	local o, b = 0, 0
	for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
	io.write(string.format("wrk-check ok=%d bad=%d\\n", o, b))
end
LUA

# curl until $T_DIR/stop exists; one line per response in $T_DIR/curl.res: "ok" for 200 with
# the exact body, else the status and the start of the body.
requester() {
	local code
	while [ ! -e "$T_DIR/stop" ]; do
		code=$(curl -s --max-time 5 -o "$T_DIR/body" -w '%{http_code}' -H 'Host: any.example' \
			"$URL" || true)
		if [ "$code" = 200 ] && cmp -s "$T_DIR/expected" "$T_DIR/body"; then
			echo ok
		else
			echo "bad $code $(head -c 80 "$T_DIR/body" 2>/dev/null | tr -d '\n')"
		fi
	done >"$T_DIR/curl.res"
}

KILLS=5
sleep 1.2 # the agent's connections have been up for more than 1 s
requester &
curl_pid=$!
wrk -t1 -c8 -d"$((KILLS * 12 / 10 + 1))s" -H 'Host: any.example' -s "$T_DIR/check.lua" "$URL" \
	>"$T_DIR/wrk.out" 2>&1 &
wrk_pid=$!
for ((i = 0; i < KILLS; i++)); do
	sleep 1.2
	rcli CLIENT KILL TYPE normal >/dev/null || fail "CLIENT KILL failed"
done
wait "$wrk_pid" || fail "wrk failed: $(cat "$T_DIR/wrk.out")"
touch "$T_DIR/stop"
wait "$curl_pid"

read -r wrk_ok wrk_bad < <(sed -n 's/^wrk-check ok=\([0-9]*\) bad=\([0-9]*\)$/\1 \2/p' "$T_DIR/wrk.out")
[ -n "${wrk_ok:-}" ] || fail "no wrk-check line: $(cat "$T_DIR/wrk.out")"
curl_total=$(wc -l <"$T_DIR/curl.res")
curl_bad=$(grep -vc '^ok$' "$T_DIR/curl.res" || true)
t_log "wrk: $wrk_ok good, $wrk_bad bad; curl: $curl_total requests, $curl_bad bad"
[ "$wrk_ok" -ge 200 ] || fail "only $wrk_ok good wrk responses"
[ "$curl_total" -ge 20 ] || fail "only $curl_total curl requests were made"
if [ "$curl_bad" != 0 ]; then
	grep -v '^ok$' "$T_DIR/curl.res" | sort | uniq -c | head -5 >&2
	fail "curl: $curl_bad of $curl_total responses were not 200 with the key authorization"
fi
assert_eq "wrk responses that were not 200 with the key authorization" 0 "$wrk_bad"

# every kill reconnected both workers' connections
connects=$(t_agent_metric spoacme_agent_redis_connects_total)
[ "$connects" -ge $((connects0 + 2 * KILLS)) ] ||
	fail "expected at least $((connects0 + 2 * KILLS)) Redis connects, got $connects"
assert_eq "redis connected workers after the kills" 2 \
	"$(t_agent_metric spoacme_agent_redis_connected)"

t_log "PASS 14_agent_client_kill"
