#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Several issuers on one Redis: two `cert-pusher run` daemons (one issuer + loader, one issuer
# only) and 20 hostnames POSTed to both APIs. Every name ends valid and Pebble's log shows
# exactly one issuance per name and key type (40): the per-host locks work. Then kill -9 of the
# issuer in the middle of an order (Pebble paused with SIGSTOP so the order is surely running):
# the order-in-progress marker and the lock are left behind; a restarted issuer takes the host
# once the lock expires, and the name ends valid and served.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/api.sh"

PEBBLE_WFE_NONCEREJECT=0 api_stack
start_daemon pusher1 --lock-ttl 5s --max-concurrent-orders 3
API1=$API
P1=$DAEMON_PID
start_daemon pusher2 --lock-ttl 5s --max-concurrent-orders 3 --role issuer
API2=$API
P2=$DAEMON_PID

NAMES=()
for i in $(seq -w 1 20); do NAMES+=("n$i.example.com"); done
for i in "${!NAMES[@]}"; do
	if ((i % 2)); then API=$API2; else API=$API1; fi
	api_add "${NAMES[i]}"
done
API=$API1
for n in "${NAMES[@]}"; do wait_state "$n" valid 180; done
issued=$(grep -c "Issued certificate serial" "$T_DIR/pebble.log" || true)
assert_eq "certificates issued by Pebble for 20 names x 2 key types" 40 "$issued"
grep -q "order start" "$T_DIR/pusher1.log" || fail "pusher1 ordered nothing"
grep -q "order start" "$T_DIR/pusher2.log" || fail "pusher2 ordered nothing"
t_log "pusher1 ordered $(grep -c 'order ok' "$T_DIR/pusher1.log"), pusher2 $(grep -c 'order ok' "$T_DIR/pusher2.log")"
for n in "${NAMES[0]}" "${NAMES[19]}"; do
	wait_served "$n" ecdsa "$(host_attr "$n" serials.ecdsa)" 20
done

# kill -9 mid-order
t_stop_pid "$P2"
K=kill.example.com
kill -STOP "$PEBBLE_PID"
api_add "$K"
for _ in $(seq 1 100); do
	[ -n "$(rcli HGET "spoacme:host:$K" order)" ] && break
	sleep 0.1
done
[ -n "$(rcli HGET "spoacme:host:$K" order)" ] || { kill -CONT "$PEBBLE_PID"; fail "no order started"; }
assert_eq "lock holder" "$(rcli HGET "spoacme:host:$K" order | cut -d' ' -f1)" \
	"$(rcli GET "spoacme:lock:$K")"
kill -KILL "$P1"
wait "$P1" 2>/dev/null || true
kill -CONT "$PEBBLE_PID"
assert_eq "state left by the dead issuer" issuing "$(rcli HGET "spoacme:host:$K" state)"
start_daemon pusher3 --lock-ttl 5s
wait_state "$K" valid 120
grep -q "host=$K an earlier order did not finish" "$T_DIR/pusher3.log" ||
	fail "the restarted issuer did not notice the interrupted order"
wait_served "$K" ecdsa "$(host_attr "$K" serials.ecdsa)" 20
assert_eq "HTTPS for $K" 200 "$(https_ok "$K" "$T_DIR/root.pem")"
t_log "PASS: 40 issuances for 20 names with two issuers; kill -9 mid-order recovered"
