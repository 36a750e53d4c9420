#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The hostname API and CLI against a real redis-server: `cert-pusher run --role issuer --api`
# answers /healthz, refuses missing and wrong tokens, creates a host (201, JSON:API shape with a
# preview name), answers 409/422 with JSON errors, gives exactly one 201 to 20 parallel POSTs
# of one name, lists, renews, deletes (204; nothing left in Redis; "del <name>" published).
# The ACME directory is a closed loopback port, so the issuer's orders fail: the host ends
# "failed" with the reason and a next attempt. The CLI (add, ls, show, renew, rm) does the same
# through Redis. SIGTERM stops the daemon cleanly.
set -eu
. "$(dirname "$0")/../lib/common.sh"

t_need_pusher
command -v jq >/dev/null || { t_log "SKIP: jq not installed"; exit 77; }

t_start_redis
KEYRING=$T_DIR/keyring
(umask 077 && printf 'k1 %s\n' "$(openssl rand -base64 32)" >"$KEYRING")
TOKEN=$(openssl rand -hex 24)
(umask 077 && echo "$TOKEN" >"$T_DIR/token")
API_PORT=$(t_free_port)
DEAD_PORT=$(t_free_port) # nothing listens: every ACME order fails fast, on loopback
API=http://127.0.0.1:$API_PORT

cli() { "$PUSHER" --redis "127.0.0.1:$REDIS_PORT" --preview-domain preview.test "$@"; }

t_bg pusher "$PUSHER" --redis "127.0.0.1:$REDIS_PORT" --keyring "$KEYRING" \
	--directory "https://127.0.0.1:$DEAD_PORT/dir" --backoff-min 30s \
	run --role issuer --api "127.0.0.1:$API_PORT" --api-token-file "$T_DIR/token" \
	--preview-domain preview.test
PUSHER_PID=$T_LAST_PID
t_wait_tcp 127.0.0.1 "$API_PORT" 10 || fail "the API did not start"

# req METHOD PATH [BODY] [TOKEN]: prints the status on the first line, then the body.
req() {
	local tok=${4-$TOKEN} args=()
	[ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
	[ -n "${3:-}" ] && args+=(-H "Content-Type: application/vnd.api+json" --data-binary "$3")
	curl -s -o "$T_DIR/body" -w '%{http_code}\n' -X "$1" "${args[@]}" "$API$2"
	cat "$T_DIR/body"
}
body_for() { printf '{"data":{"attributes":{"hostname":"%s"}}}' "$1"; }

out=$(req GET /healthz "" "")
assert_eq "healthz" 200 "$(head -1 <<<"$out")"
assert_eq "healthz body" ok "$(tail -n +2 <<<"$out" | jq -r .status)"

out=$(req GET /v1/hostnames "" "")
assert_eq "no token" 401 "$(head -1 <<<"$out")"
assert_eq "no token error" 401 "$(tail -n +2 <<<"$out" | jq -r '.errors[0].status')"
out=$(req GET /v1/hostnames "" "not-the-token-at-all")
assert_eq "wrong token" 401 "$(head -1 <<<"$out")"

out=$(req POST /v1/hostnames "$(body_for example.com)")
assert_eq "create" 201 "$(head -1 <<<"$out")"
json=$(tail -n +2 <<<"$out")
assert_eq "id" example.com "$(jq -r .data.id <<<"$json")"
assert_eq "type" hostnames "$(jq -r .data.type <<<"$json")"
assert_eq "hostname" example.com "$(jq -r .data.attributes.hostname <<<"$json")"
assert_eq "state" pending "$(jq -r .data.attributes.state <<<"$json")"
jq -r .data.attributes.preview_hostname <<<"$json" | grep -Eq '^[a-z2-7]{16}\.preview\.test$' ||
	fail "preview_hostname: $(jq -r .data.attributes.preview_hostname <<<"$json")"
assert_eq "in Redis" 1 "$(rcli SISMEMBER spoacme:hosts example.com)"

out=$(req POST /v1/hostnames "$(body_for example.com)")
assert_eq "duplicate" 409 "$(head -1 <<<"$out")"
out=$(req POST /v1/hostnames "$(body_for '*.example.com')")
assert_eq "wildcard" 422 "$(head -1 <<<"$out")"
tail -n +2 <<<"$out" | jq -r '.errors[0].detail' | grep -q "wildcard" || fail "422 detail: $out"
out=$(req POST /v1/hostnames '{"data":')
assert_eq "malformed" 400 "$(head -1 <<<"$out")"

# 20 parallel POSTs of one name: exactly one 201
CURLS=()
for i in $(seq 1 20); do
	curl -s -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: Bearer $TOKEN" \
		-H "Content-Type: application/json" --data-binary "$(body_for race.example.com)" \
		"$API/v1/hostnames" >"$T_DIR/race.$i" &
	CURLS+=("$!")
done
for p in "${CURLS[@]}"; do wait "$p" || true; done
assert_eq "201s" 1 "$(cat "$T_DIR"/race.* | grep -c '^201$')"
assert_eq "409s" 19 "$(cat "$T_DIR"/race.* | grep -c '^409$')"

# the issuer tries, the CA is unreachable: failed, with a reason and a next attempt
for _ in $(seq 1 100); do
	[ "$(rcli HGET spoacme:host:example.com state)" = failed ] && break
	sleep 0.1
done
out=$(req GET /v1/hostnames/example.com)
assert_eq "get" 200 "$(head -1 <<<"$out")"
json=$(tail -n +2 <<<"$out")
assert_eq "state after a failed order" failed "$(jq -r .data.attributes.state <<<"$json")"
[ "$(jq -r .data.attributes.attempts <<<"$json")" -ge 1 ] || fail "attempts: $json"
[ "$(jq -r .data.attributes.last_error <<<"$json")" != null ] || fail "no last_error: $json"
[ "$(jq -r .data.attributes.next_attempt_at <<<"$json")" != null ] || fail "no next attempt"
[ "$(rcli ZSCORE spoacme:due example.com)" -gt "$(date +%s)" ] || fail "not backed off"

out=$(req GET /v1/hostnames)
assert_eq "list" 2 "$(tail -n +2 <<<"$out" | jq -r '.data | length')"
out=$(req POST /v1/hostnames/example.com/renew "")
assert_eq "renew" 202 "$(head -1 <<<"$out")"

# DELETE: 204, "del" published, nothing left in Redis for the name
subs0=$(rcli PUBSUB NUMSUB spoacme:events | tail -1)
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" SUBSCRIBE spoacme:events >"$T_DIR/events" 2>&1 &
T_PIDS+=("$!")
for _ in $(seq 1 100); do # subscribed, not merely started
	[ "$(rcli PUBSUB NUMSUB spoacme:events | tail -1)" -gt "$subs0" ] && break
	sleep 0.05
done
[ "$(rcli PUBSUB NUMSUB spoacme:events | tail -1)" -gt "$subs0" ] || fail "the events listener never subscribed"
for _ in $(seq 1 50); do # an order may be running on it: then 202, and the issuer finishes
	out=$(req DELETE /v1/hostnames/race.example.com)
	[ "$(head -1 <<<"$out")" = 204 ] && break
	[ "$(head -1 <<<"$out")" = 404 ] && break
	sleep 0.1
done
for _ in $(seq 1 50); do
	[ -z "$(rcli --scan --pattern 'spoacme:*race.example.com*')" ] && break
	sleep 0.1
done
assert_eq "keys left for race.example.com" "" "$(rcli --scan --pattern 'spoacme:*race.example.com*')"
assert_eq "due entry" "" "$(rcli ZSCORE spoacme:due race.example.com)"
grep -q "^del race.example.com$" "$T_DIR/events" || fail "no 'del race.example.com' event"
out=$(req GET /v1/hostnames/race.example.com)
assert_eq "gone" 404 "$(head -1 <<<"$out")"

out=$(req GET /metrics)
assert_eq "metrics" 200 "$(head -1 <<<"$out")"
grep -q '^spoacme_hosts{state="failed"} ' <<<"$out" || fail "metrics: no hosts by state"
grep -q '^spoacme_orders_total{outcome="failure"} [1-9]' <<<"$out" || fail "metrics: no failures"

# the CLI, through Redis directly
cli add cli.example.com >"$T_DIR/add.out" || fail "add failed"
grep -Eq '^cli\.example\.com: pending, preview [a-z2-7]{16}\.preview\.test$' "$T_DIR/add.out" ||
	fail "add output: $(cat "$T_DIR/add.out")"
cli add cli.example.com 2>"$T_DIR/add.err" && fail "adding twice succeeded"
grep -q "already managed" "$T_DIR/add.err" || fail "add twice: $(cat "$T_DIR/add.err")"
cli add 'Bad_Name' 2>"$T_DIR/add.err" && fail "adding a bad name succeeded"
grep -q "lowercase" "$T_DIR/add.err" || fail "add bad: $(cat "$T_DIR/add.err")"
cli ls >"$T_DIR/ls.out"
head -1 "$T_DIR/ls.out" | grep -q '^HOSTNAME *STATE *DAYS_LEFT *DEPLOYED *NOT_AFTER *RENEW_AT *LAST_ERROR' ||
	fail "ls header: $(head -1 "$T_DIR/ls.out")"
grep -q '^cli\.example\.com ' "$T_DIR/ls.out" || fail "ls: $(cat "$T_DIR/ls.out")"
grep -q '^example\.com  *failed ' "$T_DIR/ls.out" || fail "ls: $(cat "$T_DIR/ls.out")"
cli show example.com >"$T_DIR/show.out"
grep -q '^state: failed$' "$T_DIR/show.out" || fail "show: $(cat "$T_DIR/show.out")"
grep -q '^last_error: ' "$T_DIR/show.out" || fail "show: $(cat "$T_DIR/show.out")"
cli show nothere.example.com 2>/dev/null && fail "show of an unknown name succeeded"
cli renew cli.example.com | grep -q 'due now' || fail "renew"
cli rm cli.example.com example.com >"$T_DIR/rm.out" || fail "rm: $(cat "$T_DIR/rm.out")"
for _ in $(seq 1 50); do
	[ -z "$(rcli --scan --pattern 'spoacme:host:*')" ] && break
	sleep 0.1
done
assert_eq "hosts left" 0 "$(rcli SCARD spoacme:hosts)"
assert_eq "host hashes left" "" "$(rcli --scan --pattern 'spoacme:host:*')"
assert_eq "due entries left" 0 "$(rcli ZCARD spoacme:due)"

# SIGTERM: a clean exit
kill -TERM "$PUSHER_PID"
for _ in $(seq 1 100); do kill -0 "$PUSHER_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PUSHER_PID" 2>/dev/null && fail "cert-pusher did not stop on SIGTERM"
wait "$PUSHER_PID" && rc=0 || rc=$?
assert_eq "exit status after SIGTERM" 0 "$rc"
t_log "PASS: API, CLI, failed orders backing off, delete, SIGTERM"
