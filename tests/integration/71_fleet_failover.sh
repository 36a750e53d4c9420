#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Losing the Redis primary of a fleet. Two edges (127.0.0.2, 127.0.0.3) on their replicas,
# three Sentinels, the issuer finding the primary through them. Names are issued, then more
# are added and the primary is stopped while they are pending. Asserted: Sentinel promotes a
# replica, the issuer follows it (its log, and the new names' state and blobs on the new
# primary), every name ends valid and served by both edges, the edges' served: reports reach
# the new primary, and no HTTPS request to an already served name failed on either edge during
# the failover.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/api.sh"
. "$(dirname "$0")/../lib/fleet.sh"

fleet_addr_ok || { t_log "SKIP: cannot bind 127.0.0.2/127.0.0.3"; exit 77; }

fleet_start_redis
fleet_start_sentinels
fleet_two_edges --sentinel "$SENTINELS"
fleet_start_issuer --sentinel "$SENTINELS" --wait-replicas 1 --wait-timeout 1s --backoff-min 2s

for n in a1 b1; do fleet_route "$n.example.com" "${n:0:1}"; done
for n in a1 b1; do api_add "$n.example.com"; done
for n in a1 b1; do wait_state "$n.example.com" valid 90; done
for n in a1 b1; do
	for x in a b; do
		fleet_wait_serial "$x" "$n.example.com" ecdsa \
			"$(rcli HGET "spoacme:host:$n.example.com" serial_ecdsa)" 20
	done
done

# HTTPS to the served names on both edges, all through the failover
(
	ok=0 bad=0
	while [ ! -f "$T_DIR/probe.stop" ]; do
		for x in a b; do
			for n in a1 b1; do
				if [ "$(fleet_https "$x" "$n.example.com" "$T_DIR/root.pem")" = 200 ]; then
					ok=$((ok + 1))
				else
					bad=$((bad + 1))
					echo "$(date +%T.%N) edge $x $n" >>"$T_DIR/probe.failures"
				fi
			done
		done
		echo "$ok $bad" >"$T_DIR/probe.count"
	done
) &
PROBE=$!
T_PIDS+=("$PROBE")

NEW="a2 a3 b2 b3"
for n in $NEW; do fleet_route "$n.example.com" "${n:0:1}"; done
for n in $NEW; do api_add "$n.example.com"; done
rcli WAIT 2 2000 >/dev/null # the added names are on both replicas before the primary goes
old_port=$PRIMARY_PORT
t_stop_pid "$PRIMARY_PID"
t_log "primary on port $old_port stopped"
for ((i = 0; i < 300; i++)); do
	new_port=$(fleet_primary_port)
	[ -n "$new_port" ] && [ "$new_port" != "$old_port" ] && break
	sleep 0.1
done
[ "$new_port" != "$old_port" ] || fail "Sentinel did not promote a replica within 30 s"
t_log "Sentinel promoted the replica on port $new_port"
new_addr=$(redis-cli -p "${SENTINEL_PORTS[0]}" SENTINEL get-master-addr-by-name "$FLEET_MASTER" | head -1)
REDIS_PORT=$new_port
rcli() { redis-cli -h "$new_addr" -p "$new_port" "$@"; }

for n in a1 b1 $NEW; do wait_state "$n.example.com" valid 120; done
for n in $NEW; do
	for t in ecdsa rsa; do
		want=$(rcli HGET "spoacme:host:$n.example.com" "serial_$t")
		[ -n "$want" ] || fail "$n: no serial_$t on the new primary"
		[ -n "$(rcli EXISTS "spoacme:cert:$n.example.com:$t" | grep 1)" ] ||
			fail "$n: no $t blob on the new primary"
		for x in a b; do fleet_wait_serial "$x" "$n.example.com" "$t" "$want" 30; done
	done
done
grep -q "primary of '$FLEET_MASTER' changed from 127.0.0.1:$old_port to $new_addr:$new_port" \
	"$T_DIR/issuer.log" || fail "the issuer did not log that it followed the primary to $new_addr:$new_port"

# the edges' proof of deployment reached the new primary
for x in a b; do
	for ((i = 0; i < 100; i++)); do
		got=$(rcli HGET "spoacme:served:edge-$x" a3.example.com:ecdsa | jq -r .serial 2>/dev/null || true)
		[ "$got" = "$(rcli HGET spoacme:host:a3.example.com serial_ecdsa)" ] && break
		sleep 0.1
	done
	[ "$got" = "$(rcli HGET spoacme:host:a3.example.com serial_ecdsa)" ] ||
		fail "edge $x's served: report for a3 did not reach the new primary (got '$got')"
done
assert_eq "deployed on every live edge (API)" true "$(host_attr a3.example.com deployed)"

touch "$T_DIR/probe.stop"
wait "$PROBE" 2>/dev/null || true
read -r ok bad <"$T_DIR/probe.count"
[ "$ok" -gt 0 ] || fail "the HTTPS probe never ran"
[ "$bad" = 0 ] || fail "$bad of $((ok + bad)) HTTPS requests failed during the failover: $(head -3 "$T_DIR/probe.failures")"
t_log "PASS: failover to port $new_port; 6 names valid and served by both edges; $ok HTTPS requests, none failed"
