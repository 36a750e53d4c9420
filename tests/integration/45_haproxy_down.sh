#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What an edge reports is what a TLS client gets (issue 10). An edge (HAProxy in master-worker
# mode, its loader with its own API: /metrics, /healthz) serves two imported names. HAProxy is
# killed (SIGKILL, master and worker): within 5 s the API (the edge's haproxy state, deployed),
# the CLI's show, /metrics and /healthz of that edge say so. HAProxy comes back: its first
# handshake serves the names (from the RAM-backed directory), and within 5 s everything says
# deployed again.
set -eu
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/lib/loader.sh"
source "$ROOT/tests/lib/api.sh"
[ -x "$BIN/cert-pusher" ] || { echo "build first"; exit 77; }

loader_stack
api_token
mk_import a.example b.example
A=$(serial_of "$T_DIR/a.example.ecdsa.crt")
port=$(t_free_port)
API=http://127.0.0.1:$port
start_loader --reconcile-interval 1h --edge-id edge-a --api "127.0.0.1:$port" \
	--api-token-file "$T_DIR/token"
t_wait_tcp 127.0.0.1 "$port" 10 || fail "the loader's API did not start"
wait_served a.example ecdsa "$A" 10

edge_attr() { # NAME PATH
	api GET "/v1/hostnames/$1" | tail -n +2 |
		jq -r ".data.attributes.edges[] | select(.edge == \"edge-a\") | $2"
}
metric() { api GET /metrics | tail -n +2 | awk -v k="$1" '$1 == k { print $2 }'; }
show() { "$BIN/cert-pusher" --redis "127.0.0.1:$REDIS_PORT" show a.example; }
health() { curl -s -o "$T_DIR/health.json" -w '%{http_code}' "$API/healthz"; }
# until SECONDS CMD...: CMD succeeds within SECONDS, else the test fails naming CMD.
until_ok() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	fail "not within ${secs}s: $*"
}
deployed_is() { [ "$(host_attr a.example deployed)" = "$1" ]; }
haproxy_is() { [ "$(edge_attr a.example .haproxy)" = "$1" ]; }

until_ok 5 deployed_is true
until_ok 5 haproxy_is up
assert_eq "metric: edge HAProxy up" 1 "$(metric 'spoacme_edge_haproxy_up{edge="edge-a"}')"
assert_eq "metric: loader sees HAProxy" 1 "$(metric spoacme_loader_haproxy_up)"
assert_eq "metric: certificates held" 4 "$(metric 'spoacme_loader_certificates{state="held"}')"
assert_eq "metric: certificates managed" 4 \
	"$(metric 'spoacme_loader_certificates{state="managed"}')"
[ "$(metric spoacme_loader_last_reconcile_timestamp_seconds)" -gt $(($(date +%s) - 60)) ] ||
	fail "no recent reconcile in the metrics"
assert_eq "healthz while up" 200 "$(health)"
assert_eq "healthz: haproxy ok" true "$(jq -r .checks.haproxy.ok "$T_DIR/health.json")"
show | grep -qx "deployed: yes" || fail "show: $(show)"

t_log "HAProxy killed (master and worker)"
worker=$(t_haproxy_worker)
kill -KILL "$HAPROXY_PID" "$worker"
t0=${EPOCHREALTIME/./}
until_ok 5 haproxy_is down
until_ok 5 deployed_is false
t_log "API says down after $(((${EPOCHREALTIME/./} - t0) / 1000)) ms"
show | grep -qx "deployed: no" || fail "show: $(show)"
show | grep -q "^edge edge-a: live, .*haproxy: down" || fail "show: $(show)"
assert_eq "metric: edge HAProxy up" 0 "$(metric 'spoacme_edge_haproxy_up{edge="edge-a"}')"
assert_eq "metric: loader sees HAProxy" 0 "$(metric spoacme_loader_haproxy_up)"
assert_eq "metric: undeployed hosts" 2 "$(metric spoacme_hosts_undeployed)"
assert_eq "healthz while down" 503 "$(health)"
assert_eq "healthz: haproxy not ok" false "$(jq -r .checks.haproxy.ok "$T_DIR/health.json")"

t_log "HAProxy back: served from its first handshake, reported within 5 s"
t_start_haproxy
assert_eq "first handshake after the restart" "$A" "$(served_serial a.example)"
assert_eq "first RSA handshake after the restart" "$(serial_of "$T_DIR/b.example.rsa.crt")" \
	"$(served_serial b.example rsa)"
t0=${EPOCHREALTIME/./}
until_ok 5 haproxy_is up
until_ok 5 deployed_is true
t_log "API says deployed after $(((${EPOCHREALTIME/./} - t0) / 1000)) ms"
show | grep -qx "deployed: yes" || fail "show: $(show)"
assert_eq "metric: edge HAProxy up" 1 "$(metric 'spoacme_edge_haproxy_up{edge="edge-a"}')"
assert_eq "metric: restarts seen" 1 "$(metric spoacme_loader_haproxy_restarts_total)"
assert_eq "healthz after" 200 "$(health)"
t_log "PASS"
