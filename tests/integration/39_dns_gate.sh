#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The DNS gate: with --edge-address, a POSTed name starts awaiting-dns and is ordered only once
# it CNAMEs to its preview hostname (or resolves only to edge addresses), checked through
# --dns-resolver (Knot here) with backoff. A name CNAMEd elsewhere and a name with a foreign A
# record stay awaiting-dns with what was found, in the API and in `show`, and Pebble sees no
# order for them; once the test points the CNAME at the preview hostname (RFC 2136 update), the
# name is issued and served.
# Customer wildcards by delegation: customer.test (another zone, which the issuer may not
# update) gets *.customer.test once its owner CNAMEs _acme-challenge.customer.test into the
# operator's zone; before that the API refuses it with a 422 naming the record. Pebble and the
# gate resolve through Unbound in front of Knot, as a CA's validation does: Knot alone does not
# follow a CNAME from one of its zones into another.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/knot.sh"
. "$(dirname "$0")/../lib/unbound.sh"
. "$(dirname "$0")/../lib/api.sh"

t_challenge_path
t_start_knot preview.test customer.test
t_start_unbound preview.test customer.test
# The customers' names live in preview.test too, so that Knot, which chases a CNAME only within
# its zone, answers Pebble's HTTP-01 lookups; explicit records override the zone's "*" A.
t_knot_update preview.test "update add away.cust.preview.test. 60 CNAME x.other.example." \
	"update add ip.cust.preview.test. 60 A 127.0.0.2"
PEBBLE_DNS=$UNBOUND_ADDR PEBBLE_AUTHZREUSE=0 t_ca
api_token
start_daemon daemon --preview-domain preview.test --dns-update "$KNOT_ADDR" \
	--dns-tsig-key-file "$TSIG_FILE" --edge-address 127.0.0.1 --dns-resolver "$UNBOUND_ADDR"

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
t_log "skip_dns_check: ordered at once, dns_status says so"

# --- a customer wildcard by delegation. Without the CNAME: 422 naming the exact record.
TARGET=s7nviivpt5ocetkq.acme-delegation.preview.test # base32(SHA-256("customer.test"))[:16]
for _ in $(seq 1 100); do # the skipped name's two orders (it then waits a minute to retry)
	[ "$(api GET /v1/hostnames/skip.cust.preview.test | tail -n +2 |
		jq -r '.data.attributes | "\(.order_running) \(.last_error != null and .last_error != "")"')" = "false true" ] && break
	sleep 0.1
done
orders=$(grep -c 'Added order' "$T_DIR/pebble.log")
out=$(api POST /v1/hostnames '{"data":{"attributes":{"hostname":"*.customer.test"}}}')
assert_eq "POST *.customer.test without the delegation" 422 "$(head -1 <<<"$out")"
detail=$(tail -n +2 <<<"$out" | jq -r '.errors[0].detail')
case "$detail" in *"create '_acme-challenge.customer.test. CNAME $TARGET.' in the DNS of customer.test (found: no CNAME)"*) ;;
*) fail "422 detail: $detail" ;; esac
t_log "without the CNAME: 422 $detail"
t_knot_update customer.test "update add _acme-challenge.customer.test. 60 CNAME x.other.example."
for _ in $(seq 1 50); do # see below for the retries
	out=$(api POST /v1/hostnames '{"data":{"attributes":{"hostname":"*.customer.test"}}}')
	case "$out" in *"(found: CNAME to x.other.example)"*) break ;; esac
	sleep 0.1
done
assert_eq "POST *.customer.test with a CNAME elsewhere" 422 "$(head -1 <<<"$out")"
case "$(tail -n +2 <<<"$out" | jq -r '.errors[0].detail')" in *"(found: CNAME to x.other.example)"*) ;;
*) fail "422 detail with a CNAME elsewhere: $out" ;; esac
[ "$(rcli EXISTS 'spoacme:host:*.customer.test')" = 0 ] || fail "a refused wildcard was stored"
t_knot_update customer.test "update delete _acme-challenge.customer.test. CNAME" \
	"update add _acme-challenge.customer.test. 60 CNAME $TARGET."
# Unbound may answer the old CNAME for the rest of the second it fetched it (TTL 0 still counts
# that second): retry as a customer would
for _ in $(seq 1 50); do
	out=$(api POST /v1/hostnames '{"data":{"attributes":{"hostname":"*.customer.test"}}}')
	[ "$(head -1 <<<"$out")" = 201 ] && break
	sleep 0.1
done
assert_eq "POST *.customer.test with the delegation ($out)" 201 "$(head -1 <<<"$out")"
wait_state '*.customer.test' valid 60
grep -q "dns01: host=customer.test record=$TARGET (delegated) visible on 1 authoritative" \
	"$T_DIR/daemon.log" || fail "the TXT was not written at the delegation target"
assert_eq "TXT left at $TARGET" "" "$(t_knot_txt "$TARGET")"
assert_eq "orders at Pebble: the wildcard's ECDSA and RSA, none while it was refused" \
	$((orders + 2)) "$(grep -c 'Added order' "$T_DIR/pebble.log")"
ECDSA_SERIAL=$(rcli HGET 'spoacme:host:*.customer.test' serial_ecdsa)
RSA_SERIAL=$(rcli HGET 'spoacme:host:*.customer.test' serial_rsa)
X=c$RANDOM$RANDOM.customer.test
t_wait_serves "$X" "$ECDSA_SERIAL" "$RSA_SERIAL"
assert_eq "https://$X/ (ECDSA) verified" 200 "$(https_ok "$X" "$T_DIR/root.pem")"
assert_eq "https://$X/ (RSA) verified" 200 "$(curl -sS -o /dev/null -w '%{http_code}' \
	--resolve "$X:$HTTPS_PORT:127.0.0.1" --cacert "$T_DIR/root.pem" --tls-max 1.2 \
	--ciphers ECDHE-RSA-AES128-GCM-SHA256 "https://$X:$HTTPS_PORT/spoacme-haproxy-health")"
t_log "*.customer.test issued through the delegation; $X served (ECDSA $ECDSA_SERIAL, RSA $RSA_SERIAL)"

# proof of deployment names the wildcard as a host, not as its file form
for _ in $(seq 1 100); do
	[ "$(host_attr '*.customer.test' deployed)" = true ] && break
	sleep 0.1
done
assert_eq "API: *.customer.test deployed" true "$(host_attr '*.customer.test' deployed)"
fields=$(rcli --raw KEYS 'spoacme:served:*' | while read -r k; do rcli --raw HKEYS "$k"; done)
grep -qx '\*\.customer\.test:ecdsa' <<<"$fields" || fail "served: fields: $fields"
grep -q '^_\.' <<<"$fields" && fail "a served: field holds the file form: $fields"

# the certificate files never carry a raw '*': '_' stands for it (see haproxy_rt.h)
ls "$CERT_DIR" | grep -F '*' && fail "a file name in the cert dir holds a raw '*'"
[ -e "$CERT_DIR/_.customer.test.ecdsa.pem" ] || fail "no _.customer.test.ecdsa.pem in $(ls "$CERT_DIR")"

# the CLI's --skip-dns-check marks the name the same way
"$PUSHER" --redis "127.0.0.1:$REDIS_PORT" --preview-domain preview.test add --skip-dns-check \
	cli.cust.preview.test >/dev/null || fail "add --skip-dns-check failed"
assert_eq "dns_skip of a name added with --skip-dns-check" 1 \
	"$(rcli HGET spoacme:host:cli.cust.preview.test dns_skip)"
assert_eq "dns_status of a name added with --skip-dns-check" \
	"not checked: skipped by the operator" "$(host_attr cli.cust.preview.test dns_status)"

# metrics: the gate's checks by outcome, the DNS-01 propagation time
m=$(api GET /metrics | tail -n +2)
for o in ok not_yet; do
	v=$(awk -v k="spoacme_dns_checks_total{outcome=\"$o\"}" '$1 == k { print $2 }' <<<"$m")
	[ "${v:-0}" -ge 1 ] || fail "spoacme_dns_checks_total{outcome=\"$o\"} is '$v'"
done
v=$(awk '$1 == "spoacme_dns01_propagation_seconds_count" { print $2 }' <<<"$m")
[ "${v:-0}" -ge 4 ] || fail "spoacme_dns01_propagation_seconds_count is '$v' (2 wildcards x 2 types)"
t_log "PASS: names wait for their DNS, say what they found, and are issued once it points at us"
