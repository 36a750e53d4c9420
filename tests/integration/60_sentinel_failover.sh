#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Sentinel failover under issuance: a Redis primary, one replica (the edge's Redis: the agent
# reads challenge tokens from it) and three sentinels; `cert-pusher run --role issuer` finds the
# primary with --sentinel and WAITs each token to the replica. Names are added while Pebble is
# paused, the primary is killed (SIGKILL, by PID) with their orders pending, Sentinel promotes
# the replica, and then: the issuer says it followed, every name ends valid with both
# certificate blobs (verified against Pebble's root) on the new primary, WAIT timing out on a
# primary without replicas only logs, and the metric counts the change. Also: --check refuses
# bad Sentinel options naming them.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/api.sh"

# --check validates the Sentinel options (exit 2, the option named).
check_bad() {
	local want=$1 out rc=0
	shift
	out=$("$PUSHER" "$@" --check ls 2>&1) || rc=$?
	assert_eq "exit status of --check $*" 2 "$rc"
	grep -q -- "$want" <<<"$out" || fail "--check $*: expected '$want' in: $out"
}
check_bad "--sentinel: '127.0.0.1'" --sentinel 127.0.0.1
check_bad "--sentinel: '': empty" --sentinel ""
check_bad "--sentinel-master: 'a;b'" --sentinel 127.0.0.1:1 --sentinel-master 'a;b'
check_bad "--sentinel: not with --primary" --sentinel 127.0.0.1:1 --primary 127.0.0.1:2
check_bad "--sentinel-master: needs --sentinel" --sentinel-master x

t_start_redis
P_PORT=$REDIS_PORT
P_PID=$REDIS_PID
t_start_redis "" --replicaof 127.0.0.1 "$P_PORT"
R_PORT=$REDIS_PORT
for _ in $(seq 1 100); do
	redis-cli -p "$R_PORT" INFO replication | grep -q '^master_link_status:up' && break
	sleep 0.1
done
redis-cli -p "$R_PORT" INFO replication | grep -q '^master_link_status:up' ||
	fail "the replica did not connect to the primary"

SENTINELS=""
S_PORTS=()
for i in 1 2 3; do
	port=$(t_free_port)
	mkdir -p "$T_DIR/sentinel$i"
	cat >"$T_DIR/sentinel$i/sentinel.conf" <<EOF
port $port
bind 127.0.0.1
dir $T_DIR/sentinel$i
sentinel monitor spoacme 127.0.0.1 $P_PORT 2
sentinel down-after-milliseconds spoacme 1000
sentinel failover-timeout spoacme 10000
sentinel parallel-syncs spoacme 1
EOF
	t_bg "sentinel$i" redis-server "$T_DIR/sentinel$i/sentinel.conf" --sentinel
	t_wait_tcp 127.0.0.1 "$port" 10 || fail "sentinel $i did not start"
	S_PORTS+=("$port")
	SENTINELS="$SENTINELS${SENTINELS:+,}127.0.0.1:$port"
done
# A failover needs every sentinel to know the replica and the two other sentinels.
for port in "${S_PORTS[@]}"; do
	for _ in $(seq 1 150); do
		r=$(redis-cli -p "$port" SENTINEL replicas spoacme | grep -c "^$R_PORT\$" || true)
		s=$(redis-cli -p "$port" SENTINEL sentinels spoacme | grep -c '^name$' || true)
		[ "$r" -ge 1 ] && [ "$s" -ge 2 ] && break
		sleep 0.1
	done
	[ "$r" -ge 1 ] && [ "$s" -ge 2 ] ||
		fail "sentinel on $port knows $r replicas and $s other sentinels"
done
t_log "primary :$P_PORT, replica :$R_PORT, sentinels $SENTINELS"

REDIS_PORT=$R_PORT # the edge reads the replica
t_start_agent
t_start_haproxy
t_wait_agent_up 10 || fail "HAProxy never marked spoa-agent UP"
PEBBLE_WFE_NONCEREJECT=0 t_ca
api_token
start_daemon issuer --role issuer --sentinel "127.0.0.1:$(t_free_port),$SENTINELS" \
	--wait-replicas 1 --wait-timeout 300ms --backoff-min 1s --backoff-max 2s --lock-ttl 5s \
	--max-concurrent-orders 4
ISSUER_PID=$DAEMON_PID
grep -q "primary of 'spoacme' is 127.0.0.1:$P_PORT" "$T_DIR/issuer.log" ||
	fail "the issuer did not log the primary it found"

# One name issued before the failover (WAIT reaches the replica).
api_add before.example.com
wait_state before.example.com valid 60

# Names pending when the primary dies: Pebble paused, so their orders are surely in flight.
NAMES=()
for i in 1 2 3 4 5 6; do NAMES+=("f$i.example.com"); done
kill -STOP "$PEBBLE_PID"
for n in "${NAMES[@]}"; do api_add "$n"; done
for _ in $(seq 1 100); do
	[ "$(redis-cli -p "$P_PORT" KEYS 'spoacme:lock:f*' | grep -c .)" -ge 1 ] &&
		[ "$(redis-cli -p "$R_PORT" SCARD spoacme:hosts)" = 7 ] && break
	sleep 0.1
done
[ "$(redis-cli -p "$R_PORT" SCARD spoacme:hosts)" = 7 ] ||
	{ kill -CONT "$PEBBLE_PID"; fail "the hosts did not reach the replica"; }
pending=$(for n in "${NAMES[@]}"; do redis-cli -p "$P_PORT" HGET "spoacme:host:$n" state; done |
	grep -vc '^valid$' || true)
assert_eq "names not valid when the primary dies" 6 "$pending"

t_log "killing the primary (pid $P_PID)"
kill -KILL "$P_PID"
wait "$P_PID" 2>/dev/null || true
t0=$(date +%s)
for _ in $(seq 1 300); do
	addr=$(redis-cli -p "${S_PORTS[0]}" SENTINEL get-master-addr-by-name spoacme | tr '\n' ' ')
	[ "$addr" = "127.0.0.1 $R_PORT " ] && break
	sleep 0.1
done
assert_eq "primary named by Sentinel" "127.0.0.1 $R_PORT " "$addr"
for _ in $(seq 1 100); do
	redis-cli -p "$R_PORT" ROLE | head -1 | grep -q '^master$' && break
	sleep 0.1
done
assert_eq "role of the old replica" master "$(redis-cli -p "$R_PORT" ROLE | head -1)"
t_log "Sentinel promoted :$R_PORT after $(($(date +%s) - t0)) s"
kill -CONT "$PEBBLE_PID"

for n in "${NAMES[@]}"; do wait_state "$n" valid 90; done
kill -0 "$ISSUER_PID" 2>/dev/null || fail "the issuer died"
grep -q "primary of 'spoacme' changed from 127.0.0.1:$P_PORT to 127.0.0.1:$R_PORT" \
	"$T_DIR/issuer.log" || fail "the issuer did not log the primary change"
grep -q "reached 0 of 1 replicas within 300 ms; answering the challenge anyway" \
	"$T_DIR/issuer.log" || fail "WAIT without replicas did not log and proceed"
changes=$(curl -sS -H "Authorization: Bearer $TOKEN" "$API/metrics" |
	awk '$1 == "spoacme_redis_primary_changes_total" { print $2 }')
[ "${changes:-0}" -ge 1 ] || fail "spoacme_redis_primary_changes_total is '${changes:-}'"

# Everything is on the new primary (rcli uses REDIS_PORT = the promoted replica).
for n in before.example.com "${NAMES[@]}"; do
	assert_eq "state of $n on the new primary" valid "$(rcli HGET "spoacme:host:$n" state)"
	for type in ecdsa rsa; do
		t_check_stored_cert "$n" "$type" "$T_DIR/root.pem" >/dev/null
	done
done
# Pebble validated the pending names through the edge (agent reading the promoted replica).
t_log "PASS: failover to :$R_PORT followed; 7 names valid with both certificates"
