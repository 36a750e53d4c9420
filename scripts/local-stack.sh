#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The local stack (`make run`): the whole system on 127.0.0.1 with embedded defaults, each
# service on a free port in a temporary directory: redis-server, pebble-challtestsrv + Pebble as
# the CA, Knot as the authoritative DNS (zones preview.test, example.com, example.org;
# TSIG-signed RFC 2136 updates for DNS-01) behind Unbound as the resolver that Pebble and the
# issuer ask (it follows a customer's delegation CNAME from one zone into another), HAProxy with the shipped haproxy-cfg in master-worker mode with a master socket (as
# production runs it), spoa-agent, and cert-pusher (issuer + loader + API, its certificate
# directory on /dev/shm). Adds a demo hostname through the API, waits until its certificates
# are issued and served, prints the curl commands that show it, then runs until Ctrl-C and
# stops everything it started. Needs `make all` first (make run does it).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export ROOT
# Keep the logs after Ctrl-C (t_cleanup says where); the RAM directory with keys still goes.
T_KEEP=${T_KEEP:-1}
# shellcheck source=../tests/lib/common.sh
. "$ROOT/tests/lib/common.sh"
# shellcheck source=../tests/lib/pebble.sh
. "$ROOT/tests/lib/pebble.sh"
# shellcheck source=../tests/lib/api.sh
. "$ROOT/tests/lib/api.sh"
# shellcheck source=../tests/lib/knot.sh
. "$ROOT/tests/lib/knot.sh"
# shellcheck source=../tests/lib/unbound.sh
. "$ROOT/tests/lib/unbound.sh"
trap 'exit 0' INT TERM

DEMO=${SPOACME_DEMO_HOST:-demo.example.com}
[ -x "$BIN/spoa-agent" ] && [ -x "$BIN/cert-pusher" ] ||
	fail "$BIN/spoa-agent or $BIN/cert-pusher is missing: run 'make all' first"

# The loader's certificate directory, which HAProxy's crt-list is in, as /run/spoacme is in
# production: under /dev/shm (keys in RAM only), mode 0700, with an empty crt-list, removed
# at exit.
t_cert_dir
# haproxy.cfg's worker drops to the haproxy user, which only root can become: started by
# anyone else, HAProxy stays who started it (and only root can chroot).
if [ "$(id -u)" != 0 ]; then
	SPOACME_USER=$(id -un) SPOACME_GROUP=$(id -gn) SPOACME_CHROOT=/
	export SPOACME_USER SPOACME_GROUP SPOACME_CHROOT
fi

# On-demand certificates for every name under .on-demand.example: HAProxy's TLS pre-frontend
# asks the agent about names it holds no certificate for (haproxy-cfg, SPOACME_ON_DEMAND).
export SPOACME_ON_DEMAND=1
export SPOACME_TLS_INNER="abns@spoacme-run-$$"
export SPOACME_SPOE_ONDEMAND_CONF=$ROOT/haproxy-cfg/spoe-ondemand.conf
ON_DEMAND=.on-demand.example

t_start_redis
t_start_agent --on-demand --edge-id local
t_start_haproxy
t_wait_agent_up 10 || fail "HAProxy did not mark spoa-agent UP; see $T_DIR/*.log"
PREVIEW=preview.test
t_start_knot "$PREVIEW" example.com example.org
t_start_unbound "$PREVIEW" example.com example.org
PEBBLE_DNS=$UNBOUND_ADDR t_start_pebble
t_keyring
t_pebble_roots "$T_DIR/pebble-root.pem"
api_token
start_daemon cert-pusher --edge-id local --on-demand-allow "$ON_DEMAND" \
	--preview-domain "$PREVIEW" --dns-update "$KNOT_ADDR" \
	--dns-tsig-key-file "$TSIG_FILE" --edge-address 127.0.0.1 --dns-resolver "$UNBOUND_ADDR"

t_log "obtaining the preview wildcard *.$PREVIEW through DNS-01 (Knot)"
for _ in $(seq 1 600); do
	[ "$(rcli HGET "spoacme:host:*.$PREVIEW" state)" = valid ] && break
	sleep 0.2
done
[ "$(rcli HGET "spoacme:host:*.$PREVIEW" state)" = valid ] ||
	fail "*.$PREVIEW was not issued: $(rcli HGET "spoacme:host:*.$PREVIEW" last_error)"
wait_served "probe.$PREVIEW" ecdsa "$(rcli HGET "spoacme:host:*.$PREVIEW" serial_ecdsa)" 20
wait_served "probe.$PREVIEW" rsa "$(rcli HGET "spoacme:host:*.$PREVIEW" serial_rsa)" 20

t_log "adding $DEMO through the API and waiting for its certificates"
api_add "$DEMO"
wait_state "$DEMO" valid 120
DEMO_PREVIEW=$(host_attr "$DEMO" preview_hostname)
code=$(https_ok "$DEMO_PREVIEW" "$T_DIR/pebble-root.pem")
[ "$code" = 200 ] || fail "HTTPS for $DEMO_PREVIEW did not verify against Pebble's root (got $code)"
ecdsa=$(host_attr "$DEMO" serials.ecdsa)
rsa=$(host_attr "$DEMO" serials.rsa)
wait_served "$DEMO" ecdsa "$ecdsa" 20
wait_served "$DEMO" rsa "$rsa" 20
code=$(https_ok "$DEMO" "$T_DIR/pebble-root.pem")
[ "$code" = 200 ] || fail "HTTPS for $DEMO did not verify against Pebble's root (got $code)"

cat <<EOT

spoacme local stack is up (logs, sockets and the key ring in $T_DIR):
  redis-server      127.0.0.1:$REDIS_PORT
  Pebble (CA)       $PEBBLE_DIR_URL   (its root: $T_DIR/pebble-root.pem)
  Knot (DNS)        $KNOT_ADDR  zones $PREVIEW example.com example.org  TSIG key $TSIG_FILE
  Unbound           $UNBOUND_ADDR  (the resolver of Pebble and of the DNS checks)
  preview domain    $PREVIEW  (*.$PREVIEW issued through DNS-01 and served)
  haproxy           http 127.0.0.1:$HTTP_PORT  https 127.0.0.1:$HTTPS_PORT  runtime $HAPROXY_SOCK
  master socket $HAPROXY_MASTER_SOCK
  spoa-agent        127.0.0.1:$AGENT_PORT  metrics http://127.0.0.1:$METRICS_PORT/metrics
  cert-pusher API   $API  (token in $T_DIR/token)
  status page       $API/#token=$TOKEN

$DEMO was added through the API, issued by Pebble (ECDSA serial $ecdsa, RSA serial $rsa)
and hot-loaded into HAProxy. HTTPS served with the issued certificate:
  curl -v --cacert $T_DIR/pebble-root.pem --resolve $DEMO:$HTTPS_PORT:127.0.0.1 \\
       https://$DEMO:$HTTPS_PORT/spoacme-haproxy-health

Its preview hostname $DEMO_PREVIEW, served with the *.$PREVIEW wildcard:
  curl -v --cacert $T_DIR/pebble-root.pem --resolve $DEMO_PREVIEW:$HTTPS_PORT:127.0.0.1 \\
       https://$DEMO_PREVIEW:$HTTPS_PORT/spoacme-haproxy-health
On-demand certificates are on for names under $ON_DEMAND: the first HTTPS request for a
new one waits while it is issued and loaded, then succeeds:
  curl --cacert $T_DIR/pebble-root.pem --resolve anything$ON_DEMAND:$HTTPS_PORT:127.0.0.1 \
       https://anything$ON_DEMAND:$HTTPS_PORT/spoacme-haproxy-health

Add another name:
  curl -H "Authorization: Bearer \$(cat $T_DIR/token)" -H 'Content-Type: application/vnd.api+json' \\
       --data-binary \\
       '{"data":{"attributes":{"hostname":"www.example.org"}}}' $API/v1/hostnames
  $BIN/cert-pusher --redis 127.0.0.1:$REDIS_PORT ls
A customer wildcard by delegation: the API refuses *.example.org (422, naming the record)
until the customer CNAMEs _acme-challenge.example.org into $PREVIEW, as they would in their DNS:
  printf 'server 127.0.0.1 $KNOT_PORT\nzone example.org\nupdate add _acme-challenge.example.org. 60 CNAME %s.acme-delegation.$PREVIEW.\nsend\n' \\
       "\$(printf %s example.org | openssl dgst -sha256 -binary | head -c 10 | base32 | tr A-Z a-z)" |
       knsupdate -y "\$(tail -1 $TSIG_FILE)"
  then POST {"data":{"attributes":{"hostname":"*.example.org"}}} as above: issued through DNS-01.
What HAProxy holds:
  echo "show ssl cert" | socat - UNIX-CONNECT:$HAPROXY_SOCK
Reload HAProxy as systemctl reload does (the new worker starts with every certificate, from
$CERT_DIR):
  echo reload | socat - UNIX-CONNECT:$HAPROXY_MASTER_SOCK

Ctrl-C stops everything; the logs stay in $T_DIR.
EOT

while :; do
	for pid in "$REDIS_PID" "$AGENT_PID" "$HAPROXY_PID" "$PEBBLE_PID" "$KNOT_PID" "$UNBOUND_PID" \
		"$DAEMON_PID"; do
		kill -0 "$pid" 2>/dev/null || fail "a service (pid $pid) exited; see $T_DIR/*.log"
	done
	sleep 1
done
