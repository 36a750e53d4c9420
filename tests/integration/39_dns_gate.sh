#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The DNS gate: with --edge-address, a POSTed name starts awaiting-dns and is ordered only once
# it CNAMEs to its preview hostname (or resolves only to edge addresses), checked through
# --dns-resolver (Knot here) with backoff. A name CNAMEd elsewhere and a name with a foreign A
# record stay awaiting-dns with what was found, in the API and in `show`, and Pebble sees no
# order for them; once the test points the CNAME at the preview hostname (RFC 2136 update), the
# name is issued and served.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/knot.sh"
. "$(dirname "$0")/../lib/api.sh"

[ -x "$PUSHER" ] || fail "$PUSHER not built"
t_start_redis
t_start_agent
t_start_haproxy
t_wait_agent_up 10 || fail "HAProxy never marked spoa-agent UP"
t_start_knot preview.test
# The customers' names live in preview.test too, so that Knot, which chases a CNAME only within
# its zone, answers Pebble's HTTP-01 lookups; explicit records override the zone's "*" A.
t_knot_update preview.test "update add away.cust.preview.test. 60 CNAME x.other.example." \
	"update add ip.cust.preview.test. 60 A 127.0.0.2"
PEBBLE_DNS=$KNOT_ADDR PEBBLE_AUTHZREUSE=0 t_start_pebble
t_keyring
t_pebble_roots "$T_DIR/root.pem"
api_token
start_daemon daemon --preview-domain preview.test --dns-update "$KNOT_ADDR" \
	--dns-tsig-key-file "$TSIG_FILE" --edge-address 127.0.0.1 --dns-resolver "$KNOT_ADDR"

out=$(api POST /v1/hostnames '{"data":{"attributes":{"hostname":"away.cust.preview.test"}}}')
assert_eq "POST status" 201 "$(head -1 <<<"$out")"
assert_eq "state in the 201" awaiting-dns "$(tail -n +2 <<<"$out" | jq -r .data.attributes.state)"
P=$(tail -n +2 <<<"$out" | jq -r .data.attributes.preview_hostname)
api_add ip.cust.preview.test
want="CNAME points at x.other.example; want $P"
for _ in $(seq 1 100); do
	st=$(host_attr away.cust.preview.test dns_status)
	case "$st" in "$want"*) break ;; esac
	sleep 0.1
done
case "$st" in "$want"*) ;; *) fail "dns_status of away.cust.preview.test: '$st'" ;; esac
assert_eq "state of away.cust.preview.test" awaiting-dns "$(host_attr away.cust.preview.test state)"
t_log "away.cust.preview.test: $st"
for _ in $(seq 1 100); do
	st=$(host_attr ip.cust.preview.test dns_status)
	case "$st" in "resolves to 127.0.0.2, not only edge addresses (127.0.0.1)"*) break ;; esac
	sleep 0.1
done
case "$st" in "resolves to 127.0.0.2, not only edge addresses (127.0.0.1)"*) ;;
*) fail "dns_status of ip.cust.preview.test: '$st'" ;; esac
t_log "ip.cust.preview.test: $st"
"$PUSHER" --redis "127.0.0.1:$REDIS_PORT" show away.cust.preview.test >"$T_DIR/show.out"
grep -qxF "dns: $(host_attr away.cust.preview.test dns_status)" "$T_DIR/show.out" ||
	fail "show does not say what DNS was found: $(cat "$T_DIR/show.out")"
grep -qxF "state: awaiting-dns" "$T_DIR/show.out" || fail "show: $(cat "$T_DIR/show.out")"
# Pebble's orders so far: the preview wildcard's two (ECDSA, RSA), none for the names
for _ in $(seq 1 300); do
	[ "$(rcli HGET 'spoacme:host:*.preview.test' state)" = valid ] && break
	sleep 0.1
done
assert_eq "orders at Pebble while the names await DNS" 2 "$(grep -c 'Added order' "$T_DIR/pebble.log")"

# the customer points the name at its preview hostname: issued within the backoff
t_knot_update preview.test "update delete away.cust.preview.test. CNAME" \
	"update add away.cust.preview.test. 60 CNAME $P."
wait_state away.cust.preview.test valid 90
assert_eq "dns_status once issued" "ok: CNAME to $P" "$(host_attr away.cust.preview.test dns_status)"
assert_eq "https://away.cust.preview.test/ verified" 200 \
	"$(https_ok away.cust.preview.test "$T_DIR/root.pem")"
assert_eq "state of ip.cust.preview.test" awaiting-dns "$(host_attr ip.cust.preview.test state)"
assert_eq "orders at Pebble: the wildcard's and away's" 4 "$(grep -c 'Added order' "$T_DIR/pebble.log")"

# the operator skips the check for one name: it is ordered at once although its DNS points
# elsewhere (Pebble then fails to reach 127.0.0.3, which is not what this checks)
t_knot_update preview.test "update add skip.cust.preview.test. 60 A 127.0.0.3"
out=$(api POST /v1/hostnames \
	'{"data":{"attributes":{"hostname":"skip.cust.preview.test","skip_dns_check":true}}}')
assert_eq "POST with skip_dns_check" 201 "$(head -1 <<<"$out")"
assert_eq "state in the 201 with skip_dns_check" pending "$(tail -n +2 <<<"$out" | jq -r .data.attributes.state)"
for _ in $(seq 1 100); do
	[ "$(grep -c 'Added order' "$T_DIR/pebble.log")" -gt 4 ] && break
	sleep 0.1
done
[ "$(grep -c 'Added order' "$T_DIR/pebble.log")" -gt 4 ] || fail "the skipped name was not ordered"
[ "$(host_attr skip.cust.preview.test state)" != awaiting-dns ] || fail "the skipped name awaits DNS"
assert_eq "dns_status of the skipped name" "not checked: skipped by the operator" \
	"$(host_attr skip.cust.preview.test dns_status)"
out=$(api POST /v1/hostnames '{"data":{"attributes":{"hostname":"x.cust.preview.test","skip_dns_check":"yes"}}}')
assert_eq "skip_dns_check not a boolean" 422 "$(head -1 <<<"$out")"
assert_eq "spoacme_hosts{state=\"awaiting-dns\"}" 1 \
	"$(api GET /metrics | awk '$1 == "spoacme_hosts{state=\"awaiting-dns\"}" { print $2 }')"
t_log "PASS: names wait for their DNS, say what they found, and are issued once it points at us"
