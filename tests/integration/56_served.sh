#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proof of deployment (served:<edge>, issue 6). Part 1, the daemon end to end (Redis, HAProxy,
# agent, Pebble, issuer + loader + API): once a name is valid, served:<edge> holds the serial a
# TLS client actually gets from HAProxy, the API shows the edge live with that serial and
# deployed=true, the CLI's show says the same; a renewal moves the served serial in Redis and in
# the API; other edges (planted by hand) count only while live; metrics show the edge; DELETE
# removes the fields. Part 2, a loader whose --primary is down: loading from the local Redis
# goes on, and once the primary is back (again) reconcile rewrites the whole served hash.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/api.sh"
. "$(dirname "$0")/../lib/loader.sh"


# served_field EDGE NAME TYPE [PORT]: the JSON value the loader reported.
served_field() { redis-cli -h 127.0.0.1 -p "${4:-$REDIS_PORT}" HGET "spoacme:served:$1" "$2:$3"; }
served_field_serial() { served_field "$@" | jq -r '.serial // empty' 2>/dev/null; }

# wait_field_serial EDGE NAME TYPE SERIAL [PORT]: until served:EDGE reports SERIAL.
wait_field_serial() {
	local i got=
	for ((i = 0; i < 200; i++)); do
		got=$(served_field_serial "$1" "$2" "$3" "${5:-$REDIS_PORT}")
		[ "$got" = "$4" ] && return 0
		sleep 0.1
	done
	fail "served:$1 $2:$3: expected serial '$4', Redis holds '$got'"
}

# edge_attr NAME EDGE PATH: one attribute of an edge in GET /v1/hostnames/NAME.
edge_attr() {
	api GET "/v1/hostnames/$1" | tail -n +2 |
		jq -r --arg e "$2" ".data.attributes.edges[] | select(.edge == \$e) | $3"
}

metric() { api GET /metrics | tail -n +2 | awk -v k="$1" '$1 == k { print $2 }'; }

# ---- part 1: the daemon ----
api_stack
start_daemon pusher --edge-id edge-a --reconcile-interval 2s --edge-live-window 30s

N=proof.example.com
api_add "$N"
wait_state "$N" valid 90
ecdsa=$(host_attr "$N" serials.ecdsa)
rsa=$(host_attr "$N" serials.rsa)
wait_served "$N" ecdsa "$ecdsa" 20
wait_served "$N" rsa "$rsa" 20
seen_ecdsa=$(served_serial "$N")
seen_rsa=$(served_serial "$N" rsa)
wait_field_serial edge-a "$N" ecdsa "$seen_ecdsa"
wait_field_serial edge-a "$N" rsa "$seen_rsa"
v=$(served_field edge-a "$N" ecdsa)
jq -e '(.not_after | type) == "number" and .not_after > now and .at <= now and .at > now - 300
	and .not_before < .not_after' <<<"$v" >/dev/null || fail "served value: $v"
[ -n "$(rcli ZSCORE spoacme:edges edge-a)" ] || fail "no heartbeat for edge-a in spoacme:edges"
t_log "served:edge-a holds what a TLS client sees: ecdsa $seen_ecdsa rsa $seen_rsa"

assert_eq "API: deployed" true "$(host_attr "$N" deployed)"
assert_eq "API: edge-a live" true "$(edge_attr "$N" edge-a .live)"
assert_eq "API: edge-a ecdsa serial" "$seen_ecdsa" "$(edge_attr "$N" edge-a .ecdsa.serial)"
assert_eq "API: edge-a rsa serial" "$seen_rsa" "$(edge_attr "$N" edge-a .rsa.serial)"
assert_eq "API: edge-a ecdsa status" current "$(edge_attr "$N" edge-a .ecdsa.status)"
assert_eq "API: edge-a current" true "$(edge_attr "$N" edge-a .current)"
assert_eq "API list: deployed" true "$(api GET /v1/hostnames | tail -n +2 |
	jq -r --arg n "$N" '.data[] | select(.id == $n) | .attributes.deployed')"
show=$("$PUSHER" --redis "127.0.0.1:$REDIS_PORT" show "$N")
grep -qx 'deployed: yes' <<<"$show" || fail "show: $show"
grep -q "^edge edge-a: live" <<<"$show" || fail "show: $show"
grep -q "^  ecdsa: $seen_ecdsa current" <<<"$show" || fail "show: $show"
assert_eq "metric edges live" 1 "$(metric 'spoacme_edges{state="live"}')"
assert_eq "metric edge-a current" 2 "$(metric 'spoacme_edge_certificates{edge="edge-a",status="current"}')"
assert_eq "metric edge-a stale" 0 "$(metric 'spoacme_edge_certificates{edge="edge-a",status="stale"}')"
assert_eq "metric undeployed" 0 "$(metric spoacme_hosts_undeployed)"

# Other edges, planted: a dead one serving an old serial does not count; a live one does.
now=$(date +%s)
old='{"serial":"0BAD","not_before":1,"not_after":2,"at":1}'
rcli ZADD spoacme:edges $((now - 3600)) edge-dead >/dev/null
rcli HSET spoacme:served:edge-dead "$N:ecdsa" "$old" >/dev/null
assert_eq "a dead edge: live" false "$(edge_attr "$N" edge-dead .live)"
assert_eq "a dead edge serving an old serial: deployed" true "$(host_attr "$N" deployed)"
rcli ZADD spoacme:edges "$now" edge-late >/dev/null
rcli HSET spoacme:served:edge-late "$N:ecdsa" "$old" >/dev/null
assert_eq "a live edge serving an old serial: deployed" false "$(host_attr "$N" deployed)"
assert_eq "its status" stale "$(edge_attr "$N" edge-late .ecdsa.status)"
assert_eq "its rsa" null "$(edge_attr "$N" edge-late .rsa)"
assert_eq "its ecdsa expiring" true "$(edge_attr "$N" edge-late .ecdsa.expiring)"
assert_eq "metric edges stale" 1 "$(metric 'spoacme_edges{state="stale"}')"
assert_eq "metric edge-late stale" 1 "$(metric 'spoacme_edge_certificates{edge="edge-late",status="stale"}')"
assert_eq "metric edge-late missing" 1 "$(metric 'spoacme_edge_certificates{edge="edge-late",status="missing"}')"
assert_eq "metric edge-late expiring" 1 "$(metric 'spoacme_edge_certificates_expiring{edge="edge-late"}')"
assert_eq "metric undeployed" 1 "$(metric spoacme_hosts_undeployed)"
"$PUSHER" --redis "127.0.0.1:$REDIS_PORT" show "$N" | grep -qx 'deployed: no' ||
	fail "show: deployed should be no with edge-late stale"
rcli ZREM spoacme:edges edge-late edge-dead >/dev/null
rcli DEL spoacme:served:edge-late spoacme:served:edge-dead >/dev/null
assert_eq "deployed again" true "$(host_attr "$N" deployed)"

# Renewal: the new serial reaches HAProxy, then Redis and the API.
out=$(api POST "/v1/hostnames/$N/renew")
assert_eq "renew" 202 "$(head -1 <<<"$out")"
for _ in $(seq 1 600); do
	now_ecdsa=$(served_serial "$N")
	[ -n "$now_ecdsa" ] && [ "$now_ecdsa" != "$seen_ecdsa" ] && break
	sleep 0.1
done
[ "$now_ecdsa" != "$seen_ecdsa" ] || fail "the certificate was not renewed within 60 s"
wait_state "$N" valid 60
new_rsa=$(host_attr "$N" serials.rsa)
wait_served "$N" rsa "$new_rsa" 20
wait_field_serial edge-a "$N" ecdsa "$now_ecdsa"
wait_field_serial edge-a "$N" rsa "$new_rsa"
assert_eq "API after renewal: ecdsa serial" "$(host_attr "$N" serials.ecdsa)" "$now_ecdsa"
assert_eq "API after renewal: edge-a ecdsa" "$now_ecdsa" "$(edge_attr "$N" edge-a .ecdsa.serial)"
assert_eq "API after renewal: deployed" true "$(host_attr "$N" deployed)"
t_log "renewal: served ecdsa $seen_ecdsa -> $now_ecdsa in HAProxy, Redis and the API"

out=$(api DELETE "/v1/hostnames/$N")
assert_eq "DELETE" 204 "$(head -1 <<<"$out")"
for _ in $(seq 1 200); do
	[ "$(rcli HLEN spoacme:served:edge-a)" = 1 ] && break
	sleep 0.1
done
# Only the edge's own HAProxy state is left.
assert_eq "served:edge-a fields after DELETE" "haproxy" "$(rcli HKEYS spoacme:served:edge-a)"
assert_eq "served:edge-a haproxy state" up "$(rcli HGET spoacme:served:edge-a haproxy | jq -r .state)"
t_stop_pid "$DAEMON_PID"

# ---- part 2: --primary down, then back ----
P2=$(t_free_port)
mk_ca
mk_leaf a.example ecdsa "$T_DIR/a1"
mk_leaf a.example ecdsa "$T_DIR/a2"
mk_leaf b.example ecdsa "$T_DIR/b1"
a1=$(serial_of "$T_DIR/a1.crt")
a2=$(serial_of "$T_DIR/a2.crt")
b1=$(serial_of "$T_DIR/b1.crt")
import a.example "$T_DIR/a1"
import b.example "$T_DIR/b1"
start_loader --primary "127.0.0.1:$P2" --edge-id edge-b --reconcile-interval 1s
wait_served a.example ecdsa "$a1" 20
wait_served b.example ecdsa "$b1" 20
grep -q "edge=edge-b: cannot report to the primary" "$T_DIR/loader.log" ||
	fail "the loader did not say that the primary is away"
t_log "primary down at start: loaded from the local Redis"

# The primary comes up (persistent, so that it can come back with old data later).
LOCAL_PORT=$REDIS_PORT
t_start_redis "$P2" --appendonly yes
P2_PID=$REDIS_PID
REDIS_PORT=$LOCAL_PORT
wait_field_serial edge-b a.example ecdsa "$a1" "$P2"
wait_field_serial edge-b b.example ecdsa "$b1" "$P2"
[ -n "$(redis-cli -p "$P2" ZSCORE spoacme:edges edge-b)" ] || fail "no heartbeat on the primary"
assert_eq "nothing written to the local Redis" "" "$(rcli HKEYS spoacme:served:edge-b)"

# Down again: a renewal and a removal happen meanwhile, loading goes on.
t_stop_pid "$P2_PID"
import a.example "$T_DIR/a2"
rcli SREM spoacme:hosts b.example >/dev/null
rcli DEL spoacme:cert:b.example:ecdsa >/dev/null
rcli PUBLISH spoacme:events "del b.example" >/dev/null
wait_served a.example ecdsa "$a2" 20
fallback=$(serial_of "$T_DIR/fallback.crt")
wait_served b.example ecdsa "$fallback" 20
t_log "primary down: a.example renewed and b.example removed from HAProxy"

# Back with its old data (a1, b1): reconcile rewrites the whole hash.
t_start_redis "$P2" --appendonly yes
REDIS_PORT=$LOCAL_PORT
wait_field_serial edge-b a.example ecdsa "$a2" "$P2"
for _ in $(seq 1 100); do
	[ -z "$(redis-cli -p "$P2" HGET spoacme:served:edge-b b.example:ecdsa)" ] && break
	sleep 0.1
done
assert_eq "fields on the primary after its return" "a.example:ecdsa haproxy" \
	"$(redis-cli -p "$P2" HKEYS spoacme:served:edge-b | sort | xargs)"
grep -q "edge=edge-b: served hash rewritten" "$T_DIR/loader.log" || fail "no rewrite logged"
t_log "PASS: served:<edge> proves what HAProxy serves; API, CLI and metrics show it; a primary outage is caught up"
