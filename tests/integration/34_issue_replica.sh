#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The fleet layout in small: the issuer writes to the Redis primary, the edge's spoa-agent reads
# a replica. With --wait-replicas 1 the token is WAITed to the replica before Pebble validates,
# and issuance succeeds through the replica; asking for more replicas than exist times out,
# is logged, and the order still proceeds.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"

t_need_pusher

t_start_redis
PRIMARY_PORT=$REDIS_PORT
t_start_redis "" --replicaof 127.0.0.1 "$PRIMARY_PORT"
REPLICA_PORT=$REDIS_PORT
for ((i = 0; i < 100; i++)); do
	redis-cli -p "$REPLICA_PORT" INFO replication | grep -q 'master_link_status:up' && break
	sleep 0.1
done
redis-cli -p "$REPLICA_PORT" INFO replication | grep -q 'master_link_status:up' ||
	fail "the replica never synced"
t_start_agent # reads the replica
REDIS_PORT=$PRIMARY_PORT
t_start_haproxy
t_wait_agent_up 10 || fail "HAProxy never marked spoa-agent UP"
t_ca

t_pusher_issue --wait-replicas 1 --wait-timeout 2s r1.example.com ||
	fail "issue through the replica failed: $(tail -5 "$T_DIR/pusher.log")"
grep -q "replicas within" "$T_DIR/pusher.log" && fail "WAIT 1 timed out with one replica"
for t in ecdsa rsa; do t_check_stored_cert r1.example.com "$t" "$T_DIR/root.pem" >/dev/null; done

# two replicas asked, one exists: WAIT times out, the issuer says so and goes on
t_pusher_issue --wait-replicas 2 --wait-timeout 200ms --key-type ecdsa r2.example.com ||
	fail "issue with a WAIT timeout failed: $(tail -5 "$T_DIR/pusher.log")"
grep -q "reached 1 of 2 replicas within 200 ms; answering the challenge anyway" \
	"$T_DIR/pusher.log" || fail "the WAIT timeout was not logged"
assert_eq "state of r2" valid "$(rcli HGET spoacme:host:r2.example.com state)"
rcli WAIT 1 2000 >/dev/null # the DELs have reached the replica
assert_eq "tokens left on the replica" "" \
	"$(redis-cli -p "$REPLICA_PORT" --scan --pattern 'spoacme:chal:*')"
t_log "PASS: tokens WAITed to the replica, served from it"
