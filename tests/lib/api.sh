# SPDX-License-Identifier: MIT
# Helpers for the daemon scenarios (tests/integration/5x_*.sh): the API token, cert-pusher `run`
# against the test Redis, Pebble and HAProxy, API requests, waiting for a host's state, and what
# HAProxy serves for a name. Source tests/lib/common.sh (and pebble.sh for issuance) first.
#
# shellcheck shell=bash

PUSHER=${PUSHER:-$BIN/cert-pusher}
# Every daemon scenario needs these: sourcing this file checks them.
[ -x "$PUSHER" ] || fail "$PUSHER not built"
command -v jq >/dev/null || { t_log "SKIP: jq not installed"; exit 77; }

# api_token: a fresh bearer token in $T_DIR/token (mode 0600); sets TOKEN.
api_token() {
	TOKEN=$(openssl rand -hex 24)
	(umask 077 && echo "$TOKEN" >"$T_DIR/token")
}

# api_stack [agent args...]: what the daemon scenarios run against: Redis, spoa-agent, HAProxy
# (agent UP), Pebble, a key ring, Pebble's root in $T_DIR/root.pem and an API token.
api_stack() {
	t_challenge_path "$@"
	t_ca
	api_token
}

# start_daemon NAME [args...]: `cert-pusher run` (issuer and loader, API on a free port) against
# REDIS_PORT, Pebble, HAProxy's socket and crt-list; log in $T_DIR/NAME.log. Sets API (the base
# URL of the last daemon started) and DAEMON_PID.
start_daemon() {
	local name=$1 port
	shift
	port=$(t_free_port)
	t_bg "$name" "$PUSHER" --redis "127.0.0.1:$REDIS_PORT" --keyring "$KEYRING" \
		--directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA" --contact admin@example.com \
		--haproxy-socket "$HAPROXY_SOCK" --cert-dir "$CERT_DIR" \
		--api "127.0.0.1:$port" --api-token-file "$T_DIR/token" --due-poll 200ms "$@" run
	DAEMON_PID=$T_LAST_PID
	API=http://127.0.0.1:$port
	t_wait_tcp 127.0.0.1 "$port" 10 || fail "$name: the API did not start"
}

# api METHOD PATH [BODY]: prints the HTTP status, then the body on the next line.
api() {
	local args=(-H "Authorization: Bearer $TOKEN")
	[ -n "${3:-}" ] && args+=(-H "Content-Type: application/vnd.api+json" --data-binary "$3")
	curl -s -o "$T_DIR/api.body" -w '%{http_code}\n' -X "$1" "${args[@]}" "$API$2"
	cat "$T_DIR/api.body"
	echo
}

# api_add NAME: POST the hostname; fails the test unless 201.
api_add() {
	local out
	out=$(api POST /v1/hostnames "{\"data\":{\"attributes\":{\"hostname\":\"$1\"}}}")
	[ "$(head -1 <<<"$out")" = 201 ] || fail "POST $1: $out"
}

# host_attr NAME ATTR: one attribute of GET /v1/hostnames/NAME (jq path under attributes).
host_attr() {
	api GET "/v1/hostnames/$1" | tail -n +2 | jq -r ".data.attributes.$2"
}

# wait_state NAME STATE [SECONDS]: until the API shows STATE for NAME with no order running.
wait_state() {
	local i s
	for ((i = 0; i < ${3:-60} * 5; i++)); do
		s=$(api GET "/v1/hostnames/$1" | tail -n +2 |
			jq -r '.data.attributes | "\(.state) \(.order_running)"')
		[ "$s" = "$2 false" ] && return 0
		sleep 0.2
	done
	fail "$1: expected state $2, API shows '$s' (last_error: $(host_attr "$1" last_error))"
}

# https_ok NAME ROOT: curl over TLS to HAProxy for NAME, verified against ROOT (Pebble's root).
https_ok() {
	curl -sS -o /dev/null -w '%{http_code}' --resolve "$1:$HTTPS_PORT:127.0.0.1" \
		--cacert "$2" "https://$1:$HTTPS_PORT/spoacme-haproxy-health"
}
