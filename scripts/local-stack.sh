#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The local stack (`make run`): redis-server, HAProxy with the shipped haproxy-cfg and
# spoa-agent, each on a free port of 127.0.0.1 in a temporary directory. Stores a demo
# challenge, prints the curl commands that show it answered, then runs until Ctrl-C and stops
# everything it started. (First version: the CA and cert-pusher join later.)
# Needs `make all` first (make run does it).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export ROOT
# shellcheck source=../tests/lib/common.sh
. "$ROOT/tests/lib/common.sh"
trap 'exit 0' INT TERM

[ -x "$BIN/spoa-agent" ] || fail "$BIN/spoa-agent is missing: run 'make all' first"

t_start_redis
t_start_agent -v
t_start_haproxy
t_wait_agent_up 10 || fail "HAProxy did not mark spoa-agent UP; see $T_DIR/*.log"

TOKEN=LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0
KEYAUTH=$TOKEN.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI
rcli SET "spoacme:chal:$TOKEN" "$KEYAUTH" EX 3600 >/dev/null
got=$(curl -sS --max-time 5 -H 'Host: demo.example' \
	"http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/$TOKEN")
[ "$got" = "$KEYAUTH" ] || fail "the demo challenge was not answered (got '$got')"

cat <<EOT

spoacme local stack is up (logs and sockets in $T_DIR):
  redis-server      127.0.0.1:$REDIS_PORT
  spoa-agent        127.0.0.1:$AGENT_PORT   metrics http://127.0.0.1:$METRICS_PORT/metrics
  haproxy http      127.0.0.1:$HTTP_PORT    https 127.0.0.1:$HTTPS_PORT (fallback certificate)
  haproxy runtime   $HAPROXY_SOCK

A challenge stored in Redis, answered by HAProxy through spoa-agent:
  redis-cli -p $REDIS_PORT GET spoacme:chal:$TOKEN
  curl -H 'Host: demo.example' http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/$TOKEN
  -> $got

Try your own:   redis-cli -p $REDIS_PORT SET spoacme:chal:MYTOKEN MYTOKEN.thumbprint EX 3600
Unknown token:  curl -i http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/nope   (404)
Agent metrics:  curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep ^spoacme_agent_requests

Ctrl-C stops everything.
EOT

while :; do
	for pid in "$REDIS_PID" "$AGENT_PID" "$HAPROXY_PID"; do
		kill -0 "$pid" 2>/dev/null || fail "a service (pid $pid) exited; see $T_DIR/*.log"
	done
	sleep 1
done
