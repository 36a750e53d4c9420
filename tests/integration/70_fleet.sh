#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Two edges on Redis replication. Edge A (127.0.0.2) and edge B (127.0.0.3) each run HAProxy,
# spoa-agent and a loader on their own replica of the primary; the issuer writes to the primary
# and WAITs for both replicas. Pebble resolves half the names to A and half to B, so each edge
# answers the challenges of its names. Asserted: every name is issued, each edge's agent answered
# its own names' challenges, and both edges serve every certificate (same serial, verified
# against Pebble's root). Then a replica link cut: edge B's replica is stopped, names added
# meanwhile are issued and served by A; the replica restarts empty and still cut off, and B keeps
# serving everything it had; once its link is up, B catches up and serves the new names.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/api.sh"
. "$(dirname "$0")/../lib/fleet.sh"

fleet_addr_ok || { t_log "SKIP: cannot bind 127.0.0.2/127.0.0.3"; exit 77; }

fleet_start_redis
fleet_two_edges --primary "127.0.0.1:$PRIMARY_PORT"
fleet_start_issuer --redis "127.0.0.1:$PRIMARY_PORT" --wait-replicas 2 --wait-timeout 2s

A_NAMES="a1.example.com a2.example.com a3.example.com"
B_NAMES="b1.example.com b2.example.com b3.example.com"
for n in $A_NAMES; do fleet_route "$n" a; done
for n in $B_NAMES; do fleet_route "$n" b; done
for n in $A_NAMES $B_NAMES; do api_add "$n"; done
for n in $A_NAMES $B_NAMES; do wait_state "$n" valid 90; done

# each edge answered the CA for its own names: 2 orders (ecdsa, rsa) x 3 names
hits_a=$(fleet_agent_hits a)
hits_b=$(fleet_agent_hits b)
[ "$hits_a" -ge 3 ] || fail "edge A's agent answered $hits_a challenges, expected its names'"
[ "$hits_b" -ge 3 ] || fail "edge B's agent answered $hits_b challenges, expected its names'"
t_log "challenges answered: edge A $hits_a, edge B $hits_b"
grep -q "replicas within" "$T_DIR/issuer.log" &&
	fail "WAIT for 2 replicas timed out with both replicas up"

for n in $A_NAMES $B_NAMES; do
	for t in ecdsa rsa; do
		want=$(rcli HGET "spoacme:host:$n" "serial_$t")
		[ -n "$want" ] || fail "$n: no serial_$t"
		for x in a b; do fleet_wait_serial "$x" "$n" "$t" "$want" 20; done
	done
	for x in a b; do
		assert_eq "edge $x: verified HTTPS for $n" 200 "$(fleet_https "$x" "$n" "$T_DIR/root.pem")"
	done
done
t_log "both edges serve all 6 names (ECDSA and RSA)"

# loader_runs EDGE: the reconcile runs EDGE's loader finished or failed so far (log lines).
loader_runs() { grep -c -e 'loader: reconciled' -e '<3>loader:' "$T_DIR/loader-$1.log" || true; }
# wait_loader_runs EDGE N: until EDGE's loader ran N more times than now (120 s at most).
wait_loader_runs() {
	local want=$(($(loader_runs "$1") + $2)) i
	for ((i = 0; i < 1200; i++)); do
		[ "$(loader_runs "$1")" -ge "$want" ] && return 0
		sleep 0.1
	done
	fail "edge $1's loader did not run $2 more times"
}

# replica link cut: edge B's replica goes away; issuance goes on through A
t_stop_pid "$EDGE_B_REPLICA_PID"
C_NAMES="c1.example.com c2.example.com"
for n in $C_NAMES; do
	fleet_route "$n" a
	api_add "$n"
done
for n in $C_NAMES; do wait_state "$n" valid 90; done
grep -q "reached 1 of 2 replicas within" "$T_DIR/issuer.log" ||
	fail "the issuer did not log the WAIT timeout with one replica down"
# B's loader had its chances to load c* (a loader reading anything but its replica would have)
wait_loader_runs b 2
for n in $C_NAMES; do
	want=$(rcli HGET "spoacme:host:$n" serial_ecdsa)
	fleet_wait_serial a "$n" ecdsa "$want" 20
	got=$(fleet_serial b "$n")
	[ "$got" = "$want" ] && fail "edge B serves $n although its replica is down"
done
# edge B keeps serving what it had
want=$(rcli HGET spoacme:host:a1.example.com serial_ecdsa)
assert_eq "edge B still serves a1 with its replica down" "$want" "$(fleet_serial b a1.example.com)"

# B's replica comes back empty and cannot reach the primary yet (as after a reboot during a
# network cut): B's loader must not take its certificates out of HAProxy meanwhile
real_primary=$PRIMARY_PORT
PRIMARY_PORT=$(t_free_port)
fleet_start_replica b
PRIMARY_PORT=$real_primary
assert_eq "keys on B's restarted replica" 0 "$(redis-cli -h "$EDGE_B_ADDR" -p "$FLEET_REDIS_PORT" DBSIZE)"
for ((i = 0; i < 600; i++)); do
	grep -q "removing nothing from HAProxy until it is current" "$T_DIR/loader-b.log" && break
	sleep 0.1
done
grep -q "removing nothing from HAProxy until it is current" "$T_DIR/loader-b.log" ||
	fail "B's loader did not notice its replica is not current"
wait_loader_runs b 2 # two whole runs on the empty replica: any removal would have happened
assert_eq "edge B still serves a1 from an empty replica" "$want" "$(fleet_serial b a1.example.com)"
grep -q "removed name=" "$T_DIR/loader-b.log" && fail "B's loader removed certificates"

redis-cli -h "$EDGE_B_ADDR" -p "$FLEET_REDIS_PORT" REPLICAOF 127.0.0.1 "$PRIMARY_PORT" >/dev/null
fleet_wait_replica_synced b 20 || fail "edge B's replica did not resync"
for n in $C_NAMES; do
	for t in ecdsa rsa; do
		fleet_wait_serial b "$n" "$t" "$(rcli HGET "spoacme:host:$n" "serial_$t")" 30
	done
done
t_log "PASS: two edges, each validated its names, both serve all; B caught up after a link cut"
