#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Issuance end to end: redis-server, the shipped HAProxy config, spoa-agent, pebble-challtestsrv
# and Pebble on free loopback ports. `cert-pusher issue` obtains ECDSA and RSA certificates for
# two names through HTTP-01 served by HAProxy -> agent -> Redis; every stored blob opens with the
# key ring, its chain verifies against Pebble's root, SAN = the name, the key matches the leaf,
# host:<name> says valid with the serials, the loaders' event went out, no challenge token is
# left, and nothing in Redis holds a private key in clear. A second run reuses the account.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"

t_need_pusher
[ -x "$BIN/tools/blob_open" ] || fail "$BIN/tools/blob_open not built"

t_challenge_path
t_ca

# listen for the loaders' events while issuing
subs0=$(rcli PUBSUB NUMSUB spoacme:events | tail -1)
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" SUBSCRIBE spoacme:events >"$T_DIR/events" 2>&1 &
SUB_PID=$!
T_PIDS+=("$SUB_PID")
for _ in $(seq 1 100); do # subscribed, not merely started
	[ "$(rcli PUBSUB NUMSUB spoacme:events | tail -1)" -gt "$subs0" ] && break
	sleep 0.05
done
[ "$(rcli PUBSUB NUMSUB spoacme:events | tail -1)" -gt "$subs0" ] || fail "the events listener never subscribed"

NAMES="a.example.com b.example.com"
# shellcheck disable=SC2086
t_pusher_issue --contact admin@example.com $NAMES || fail "issue failed: $(tail -5 "$T_DIR/pusher.log")"
grep -q "account created" "$T_DIR/pusher.log" || fail "no account was created"

for n in $NAMES; do
	grep -q "^issued $n ecdsa=[0-9A-F]* rsa=[0-9A-F]* not_after=[0-9]*$" "$T_DIR/issue.out" ||
		fail "no 'issued' line for $n: $(cat "$T_DIR/issue.out")"
	assert_eq "state of $n" valid "$(rcli HGET "spoacme:host:$n" state)"
	assert_eq "last_error of $n" "" "$(rcli HGET "spoacme:host:$n" last_error)"
	assert_eq "attempts of $n" 1 "$(rcli HGET "spoacme:host:$n" attempts)"
	[ "$(rcli HGET "spoacme:host:$n" not_after)" -gt "$(date +%s)" ] || fail "not_after of $n"
	assert_eq "$n in hosts" 1 "$(rcli SISMEMBER spoacme:hosts "$n")"
	for t in ecdsa rsa; do
		s=$(t_check_stored_cert "$n" "$t" "$T_DIR/root.pem")
		t_log "$n/$t: serial $s verifies against Pebble's root"
		eval "FIRST_${t}_${n//./_}=$s"
	done
	grep -q "^cert $n$" "$T_DIR/events" || fail "no 'cert $n' event published"
done
assert_eq "challenge tokens left" "" "$(rcli --scan --pattern 'spoacme:chal:*')"
assert_eq "account blobs" 1 "$(rcli --scan --pattern 'spoacme:account:*' | wc -l)"
t_assert_no_plaintext_keys

# a second run reuses the sealed account and replaces the certificates
: >"$T_DIR/pusher.log"
t_pusher_issue --contact admin@example.com --key-type ecdsa a.example.com ||
	fail "second issue failed: $(tail -5 "$T_DIR/pusher.log")"
grep -q "account created" "$T_DIR/pusher.log" && fail "the stored account was not reused"
s=$(t_check_stored_cert a.example.com ecdsa "$T_DIR/root.pem")
[ "$s" != "$FIRST_ecdsa_a_example_com" ] || fail "the ECDSA certificate was not replaced"
assert_eq "attempts after the second run" 2 "$(rcli HGET spoacme:host:a.example.com attempts)"
t_log "PASS: issued, sealed, verified, account reused"
