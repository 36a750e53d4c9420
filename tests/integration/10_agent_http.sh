#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The challenge path end to end with the shipped haproxy-cfg, a real redis-server and
# spoa-agent: hit -> 200 with exactly the stored bytes (HTTP/1.1 on the http frontend, HTTP/2
# on the https one), miss -> 404, malformed tokens -> 404 without reaching the agent (its
# request counters do not move), and the agent's counters agree with what was served.
set -eu
. "$(dirname "$0")/../lib/common.sh"

t_challenge_path --threads 2

url() { echo "http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/$1"; }

# get URL [curl args...]: prints the status code, body in $T_DIR/body
get() {
	local u=$1
	shift
	curl -sS --max-time 5 -o "$T_DIR/body" -w '%{http_code}' "$@" "$u"
}

# A realistic token (43 chars of base64url) and key authorization.
TOKEN=evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA
KEYAUTH=$TOKEN.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI
rcli SET "spoacme:chal:$TOKEN" "$KEYAUTH" >/dev/null

# hit, HTTP/1.1, any Host
code=$(get "$(url "$TOKEN")" -H 'Host: www.example.com')
assert_eq "hit status" 200 "$code"
printf '%s' "$KEYAUTH" | cmp -s - "$T_DIR/body" || fail "hit body differs: $(cat "$T_DIR/body")"
ctype=$(curl -sS --max-time 5 -o /dev/null -w '%{content_type}' "$(url "$TOKEN")")
assert_eq "content type" "text/plain" "$ctype"

# hit, HTTP/2 over TLS (fallback certificate)
out=$(curl -sS --max-time 5 -k --http2 -o "$T_DIR/body" -w '%{http_code} %{http_version}' \
	"https://127.0.0.1:$HTTPS_PORT/.well-known/acme-challenge/$TOKEN")
assert_eq "h2 hit status and version" "200 2" "$out"
printf '%s' "$KEYAUTH" | cmp -s - "$T_DIR/body" || fail "h2 body differs"

# the longest token we accept (256 chars), and a stored value with bytes a template could
# mangle ('%', quotes, spaces, a backslash)
LONG=$(head -c 256 /dev/zero | tr '\0' 'A')
ODD='a%b "c" d\e %[x] '"'"'f'"'"
rcli SET "spoacme:chal:$LONG" "$ODD" >/dev/null
code=$(get "$(url "$LONG")")
assert_eq "256-char token status" 200 "$code"
printf '%s' "$ODD" | cmp -s - "$T_DIR/body" || fail "odd body differs: $(cat "$T_DIR/body")"

# miss
code=$(get "$(url nosuchtoken_-123)")
assert_eq "miss status" 404 "$code"

# a key of another type is an error, not a hit
rcli SADD "spoacme:chal:wrongtype" x >/dev/null
code=$(get "$(url wrongtype)")
assert_eq "WRONGTYPE status" 503 "$code"

before=$(t_agent_requests)
notify_before=$(t_agent_metric 'spoacme_agent_frames_received_total{type="notify"}')
# malformed tokens never reach the agent: 404 from HAProxy's own rules
for bad in 'abc.def' 'abc%2Fdef' "$LONG"A 'a=b' '' 'x/y'; do
	code=$(get "$(url "$bad")")
	assert_eq "invalid token '$bad' status" 404 "$code"
done
code=$(get "http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/$TOKEN/x")
assert_eq "token with a suffix status" 404 "$code"
after=$(t_agent_requests)
notify_after=$(t_agent_metric 'spoacme_agent_frames_received_total{type="notify"}')
assert_eq "agent requests after invalid paths" "$before" "$after"
assert_eq "NOTIFY frames after invalid paths" "$notify_before" "$notify_after"

# other routes are untouched by the challenge rules
code=$(get "http://127.0.0.1:$HTTP_PORT/spoacme-haproxy-health")
assert_eq "monitor-uri" 200 "$code"

# the agent counted exactly what was served
assert_eq "hits" 4 "$(t_agent_metric 'spoacme_agent_requests_total{result="hit"}')"
assert_eq "misses" 1 "$(t_agent_metric 'spoacme_agent_requests_total{result="miss"}')"
assert_eq "errors" 1 "$(t_agent_metric 'spoacme_agent_requests_total{result="error"}')"
assert_eq "protocol errors" 0 "$(curl -sS "http://127.0.0.1:$METRICS_PORT/metrics" |
	awk '/^spoacme_agent_protocol_errors_total/ { n += $2 } END { print n + 0 }')"
assert_eq "redis connected workers" 2 "$(t_agent_metric spoacme_agent_redis_connected)"
assert_eq "healthz" ok "$(curl -sS "http://127.0.0.1:$METRICS_PORT/healthz")"

t_log "PASS 10_agent_http"
