#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The API never holds the loader's event loop (issue 13, defect 6). An edge's loader runs with
# its API; the primary it reports to and that the API reads is a tarpit (connections accepted,
# nothing ever answered), so every API request waits for the store's 5 s timeout. While three
# such requests are queued on the API, a renewal imported into the local Redis is pushed and
# served, and an HAProxy reload is followed: both before the API has answered them all.
set -eu
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/lib/loader.sh"
source "$ROOT/tests/lib/api.sh"
[ -x "$BIN/cert-pusher" ] || { echo "build first"; exit 77; }

loader_stack
api_token
for t in ecdsa rsa; do
	mk_leaf a.example "$t" "$T_DIR/a1.$t"
	import a.example "$T_DIR/a1.$t"
done
A1=$(serial_of "$T_DIR/a1.ecdsa.crt")

# The tarpit: accepts every connection and hands it to a `cat >/dev/null` that swallows what it
# is sent and never answers (it ends when the client closes),
# so connects succeed and every command waits for its timeout.
TARPIT_PORT=$(t_free_port)
t_bg tarpit socat "TCP-LISTEN:$TARPIT_PORT,bind=127.0.0.1,reuseaddr,fork" SYSTEM:"cat >/dev/null"
t_wait_tcp 127.0.0.1 "$TARPIT_PORT" 10 || fail "the tarpit did not start"

port=$(t_free_port)
API=http://127.0.0.1:$port
start_loader --reconcile-interval 1h --edge-id edge-a --primary "127.0.0.1:$TARPIT_PORT" \
	--api "127.0.0.1:$port" --api-token-file "$T_DIR/token"
t_wait_tcp 127.0.0.1 "$port" 10 || fail "the loader's API did not start"
wait_served a.example ecdsa "$A1" 10

curls=()
for i in 1 2 3; do
	curl -s -o "$T_DIR/stalled.$i" -w '%{http_code}\n' -H "Authorization: Bearer $TOKEN" \
		"$API/v1/hostnames" >"$T_DIR/stalled.$i.code" 2>&1 &
	curls+=($!)
done
running() {
	local p n=0
	for p in "${curls[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done
	echo "$n"
}

t_log "three API requests stalled on the tarpit; a renewal arrives in the local Redis"
for t in ecdsa rsa; do
	mk_leaf a.example "$t" "$T_DIR/a2.$t"
	import a.example "$T_DIR/a2.$t"
done
A2=$(serial_of "$T_DIR/a2.ecdsa.crt")
wait_served a.example ecdsa "$A2" 10
left=$(running)
t_log "renewal served with $left API request(s) still waiting"
[ "$left" -gt 0 ] || fail "the renewal was pushed only once the API had answered: it holds the loader's loop"

t_haproxy_reload
worker=$(t_haproxy_worker)
for ((i = 0; i < 100; i++)); do
	grep -q -- "-> $worker," "$T_DIR/loader.log" && break
	sleep 0.1
done
wait_served a.example ecdsa "$A2" 10
left=$(running)
t_log "reload to worker $worker followed with $left API request(s) still waiting"
grep -q -- "-> $worker," "$T_DIR/loader.log" || fail "the loader never saw worker $worker"
[ "$left" -gt 0 ] || fail "the reload was followed only once the API had answered"

for p in "${curls[@]}"; do wait "$p" || true; done
for i in 1 2 3; do
	assert_eq "stalled request $i answered" 503 "$(cat "$T_DIR/stalled.$i.code")"
done
t_log "PASS: the API's stalls never held the loader (renewal and reload followed)"
