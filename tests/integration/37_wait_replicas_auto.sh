#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# --wait-replicas auto, the default: each challenge token is WAITed to every replica connected
# to the primary at that moment (ROLE), so a fleet needs no replica count. With one replica up
# the issuer waits for exactly one and issues through it (the agent reads the replica); with a
# second replica connected and frozen (SIGSTOP: still listed by ROLE, acknowledging nothing)
# it waits for two and says that one was missing.
# `--wait-replicas 0` still turns the wait off, and a bad value is refused naming the option.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"

PUSHER=${PUSHER:-$BIN/cert-pusher}
wait_link() { # PORT: until that replica's link is up
	for ((i = 0; i < 100; i++)); do
		redis-cli -p "$1" INFO replication | grep -q 'master_link_status:up' && return 0
		sleep 0.1
	done
	fail "the replica on $1 never synced"
}
# online: replicas the primary lists as online, what ROLE (and so auto) counts. A replica whose
# link is up is online for the primary only after its first REPLCONF ACK (diskless sync), up
# to a second later: freezing it before then would leave it out of ROLE.
online() { redis-cli -p "$PRIMARY_PORT" INFO replication | grep -c '^slave[0-9]*:.*state=online' || true; }
wait_online() { # N
	for ((i = 0; i < 100; i++)); do
		[ "$(online)" = "$1" ] && return 0
		sleep 0.1
	done
	fail "the primary lists $(online) replicas online, not $1"
}

t_start_redis
PRIMARY_PORT=$REDIS_PORT
t_start_redis "" --replicaof 127.0.0.1 "$PRIMARY_PORT"
REPLICA_PORT=$REDIS_PORT
wait_link "$REPLICA_PORT"
wait_online 1
t_start_agent # reads the replica
REDIS_PORT=$PRIMARY_PORT
t_start_haproxy
t_wait_agent_up 10 || fail "HAProxy never marked spoa-agent UP"
t_ca

rc=0
"$PUSHER" --redis "127.0.0.1:$PRIMARY_PORT" --keyring "$KEYRING" --check issue --wait-replicas some \
	--directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA" a.example.com >"$T_DIR/out" 2>&1 || rc=$?
assert_eq "exit for --wait-replicas some" 2 "$rc"
grep -q -- "--wait-replicas: 'some' is not 'auto' or a number" "$T_DIR/out" || fail "$(cat "$T_DIR/out")"

# One replica connected: the default waits for it (-v logs how many), then issues through it.
t_pusher_issue -v --key-type ecdsa r1.example.com || fail "issue: $(tail -5 "$T_DIR/pusher.log")"
grep -q "waiting for the 1 connected replicas" "$T_DIR/pusher.log" ||
	fail "the default did not wait for the connected replica: $(grep -i replica "$T_DIR/pusher.log")"
grep -q "replicas within" "$T_DIR/pusher.log" && fail "WAIT for the one replica timed out"
t_check_stored_cert r1.example.com ecdsa "$T_DIR/root.pem" >/dev/null

# A second replica, connected then frozen: auto asks for 2 and reports that only 1 answered.
t_start_redis "" --replicaof 127.0.0.1 "$PRIMARY_PORT"
FROZEN_PID=$REDIS_PID
wait_link "$REDIS_PORT"
wait_online 2
kill -STOP "$FROZEN_PID"
: >"$T_DIR/pusher.log"
REDIS_PORT=$PRIMARY_PORT
t_pusher_issue -v --key-type ecdsa --wait-timeout 300ms r2.example.com ||
	fail "issue with a frozen replica: $(tail -5 "$T_DIR/pusher.log")"
kill -CONT "$FROZEN_PID"
grep -q "waiting for the 2 connected replicas" "$T_DIR/pusher.log" || fail "auto did not count 2 replicas"
grep -q "reached 1 of 2 replicas within 300 ms; answering the challenge anyway" "$T_DIR/pusher.log" ||
	fail "the missing replica was not reported: $(grep -i replica "$T_DIR/pusher.log")"
assert_eq "state of r2" valid "$(rcli HGET spoacme:host:r2.example.com state)"

# --wait-replicas 0: no wait at all, whatever is connected.
: >"$T_DIR/pusher.log"
t_pusher_issue -v --key-type ecdsa --wait-replicas 0 r3.example.com || fail "issue with 0"
grep -q "connected replicas" "$T_DIR/pusher.log" && fail "--wait-replicas 0 still waited"
assert_eq "state of r3" valid "$(rcli HGET spoacme:host:r3.example.com state)"
t_log "auto: waited for 1, then 2 (one frozen, reported); 0: no wait"
