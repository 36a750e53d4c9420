# SPDX-License-Identifier: MIT
# A fleet on one machine, for the fleet scenarios (tests/integration/7x_*.sh) and the propagation
# benchmark: a Redis primary on 127.0.0.1, three Sentinels, and two edges, A on 127.0.0.2 and B
# on 127.0.0.3, each with its own Redis replica, spoa-agent, HAProxy (the shipped config) and
# loader, all on the same ports (as real edges would be). Pebble reaches an edge through the
# address pebble-challtestsrv gives a name (fleet_route). Only 127.0.0.0/8 is used.
# Source tests/lib/common.sh, pebble.sh and api.sh first.
#
# Sets: FLEET_HTTP_PORT, FLEET_HTTPS_PORT, FLEET_REDIS_PORT (replicas), PRIMARY_PORT,
# SENTINEL_PORTS (array), and per edge X in a b: EDGE_X_ADDR, EDGE_X_SOCK, EDGE_X_REPLICA_PID,
# EDGE_X_LOADER_PID, EDGE_X_METRICS.
#
# shellcheck shell=bash

EDGE_A_ADDR=127.0.0.2
EDGE_B_ADDR=127.0.0.3
FLEET_MASTER=spoacme

# fleet_addr_ok: the kernel must accept binds on 127.0.0.2/3 (Linux routes all of 127/8 to lo).
# A connection to a closed port is refused when the address is routed, and fails otherwise.
fleet_addr_ok() {
	local a out
	for a in "$EDGE_A_ADDR" "$EDGE_B_ADDR"; do
		out=$( (exec 3<>"/dev/tcp/$a/1") 2>&1) && continue
		case "$out" in *refused*) ;; *) return 1 ;; esac
	done
}

# fleet_edge_var X NAME: the value of EDGE_<X>_<NAME> (X is a or b).
fleet_edge_var() {
	local v="EDGE_${1^^}_$2"
	echo "${!v}"
}

# fleet_start_redis: the primary on 127.0.0.1 and one replica per edge, on the edge's address and
# the same port for both; waits until both replicas are in sync.
fleet_start_redis() {
	t_start_redis
	PRIMARY_PORT=$REDIS_PORT
	PRIMARY_PID=$REDIS_PID
	FLEET_REDIS_PORT=$(t_free_port)
	local x
	for x in a b; do
		fleet_start_replica "$x"
	done
	for x in a b; do
		fleet_wait_replica_synced "$x" 20 || fail "edge $x: the replica never synced"
	done
	REDIS_PORT=$PRIMARY_PORT
}

# fleet_start_replica X: (re)start edge X's replica of the primary (its data directory is kept).
fleet_start_replica() {
	local x=$1 addr
	addr=$(fleet_edge_var "$x" ADDR)
	mkdir -p "$T_DIR/replica-$x"
	t_bg "replica-$x" redis-server --port "$FLEET_REDIS_PORT" --bind "$addr" --save '' \
		--appendonly no --dir "$T_DIR/replica-$x" --protected-mode no \
		--replicaof 127.0.0.1 "$PRIMARY_PORT" --replica-announce-ip "$addr"
	printf -v "EDGE_${x^^}_REPLICA_PID" '%s' "$T_LAST_PID"
	t_wait_tcp "$addr" "$FLEET_REDIS_PORT" 10 || fail "edge $x: the replica did not start"
}

# fleet_wait_replica_synced X SECONDS: until edge X's replica reports its master link up.
fleet_wait_replica_synced() {
	local addr i
	addr=$(fleet_edge_var "$1" ADDR)
	for ((i = 0; i < $2 * 10; i++)); do
		redis-cli -h "$addr" -p "$FLEET_REDIS_PORT" INFO replication 2>/dev/null |
			grep -q 'master_link_status:up' && return 0
		sleep 0.1
	done
	return 1
}

# fleet_start_sentinels: three Sentinels watching the primary as "spoacme" (quorum 2), with short
# timeouts so that a failover takes a few seconds.
fleet_start_sentinels() {
	local i port d
	SENTINEL_PORTS=()
	for i in 1 2 3; do
		port=$(t_free_port)
		d=$T_DIR/sentinel-$i
		mkdir -p "$d"
		cat >"$d/sentinel.conf" <<EOF
port $port
bind 127.0.0.1
dir $d
protected-mode no
sentinel monitor $FLEET_MASTER 127.0.0.1 $PRIMARY_PORT 2
sentinel down-after-milliseconds $FLEET_MASTER 1000
sentinel failover-timeout $FLEET_MASTER 5000
sentinel parallel-syncs $FLEET_MASTER 2
EOF
		t_bg "sentinel-$i" redis-server "$d/sentinel.conf" --sentinel
		t_wait_tcp 127.0.0.1 "$port" 10 || fail "sentinel $i did not start"
		SENTINEL_PORTS+=("$port")
	done
	SENTINELS=$(printf '127.0.0.1:%s,' "${SENTINEL_PORTS[@]}")
	SENTINELS=${SENTINELS%,}
	# wait until every Sentinel knows both replicas and the other Sentinels
	for ((i = 0; i < 200; i++)); do
		local ok=1
		for port in "${SENTINEL_PORTS[@]}"; do
			redis-cli -p "$port" SENTINEL master "$FLEET_MASTER" 2>/dev/null |
				awk 'p == "num-slaves" && $0 == 2 { r = 1 } p == "num-other-sentinels" && $0 == 2 { s = 1 } { p = $0 } END { exit !(r && s) }' ||
				ok=0
		done
		[ "$ok" = 1 ] && return 0
		sleep 0.1
	done
	fail "the Sentinels never saw both replicas and each other"
}

# fleet_primary_port: the port of the primary the Sentinels currently name.
fleet_primary_port() {
	redis-cli -p "${SENTINEL_PORTS[0]}" SENTINEL get-master-addr-by-name "$FLEET_MASTER" |
		sed -n 2p
}

# fleet_start_edge X [loader args...]: edge X's spoa-agent and HAProxy on its address, and its
# loader (cert-pusher run --role loader) reading its replica, reporting to the primary.
fleet_start_edge() {
	local x=$1 addr d
	shift
	addr=$(fleet_edge_var "$x" ADDR)
	d=$T_DIR/edge-$x
	mkdir -p "$d"
	t_fallback_cert
	# Each edge has its own RAM-backed certificate directory (and crt-list in it).
	t_ramdir "EDGE_${x^^}_CERT_DIR"
	: >"$(fleet_edge_var "$x" CERT_DIR)/crt-list"
	FLEET_HTTP_PORT=${FLEET_HTTP_PORT:-$(t_free_port)}
	FLEET_HTTPS_PORT=${FLEET_HTTPS_PORT:-$(t_free_port)}
	FLEET_AGENT_PORT=${FLEET_AGENT_PORT:-$(t_free_port)}
	FLEET_METRICS_PORT=${FLEET_METRICS_PORT:-$(t_free_port)}
	FLEET_APP_PORT=${FLEET_APP_PORT:-$(t_free_port)}
	t_bg "agent-$x" "$BIN/spoa-agent" --listen "$addr:$FLEET_AGENT_PORT" \
		--redis "$addr:$FLEET_REDIS_PORT" --metrics "$addr:$FLEET_METRICS_PORT"
	t_wait_tcp "$addr" "$FLEET_AGENT_PORT" 10 || fail "edge $x: spoa-agent did not start"
	printf -v "EDGE_${x^^}_METRICS" '%s' "http://$addr:$FLEET_METRICS_PORT/metrics"
	printf -v "EDGE_${x^^}_SOCK" '%s' "$d/haproxy.sock"
	SPOACME_HTTP_BIND=$addr:$FLEET_HTTP_PORT SPOACME_HTTPS_BIND=$addr:$FLEET_HTTPS_PORT \
		SPOACME_AGENT_ADDR=$addr:$FLEET_AGENT_PORT \
		SPOACME_SPOE_CONF=$ROOT/haproxy-cfg/spoe-acme.conf \
		SPOACME_FALLBACK_PEM=$T_DIR/fallback.pem \
		SPOACME_CRT_LIST=$(fleet_edge_var "$x" CERT_DIR)/crt-list \
		SPOACME_STATS_SOCKET=$d/haproxy.sock SPOACME_APP_ADDR=$addr:$FLEET_APP_PORT \
		t_bg "haproxy-$x" "$HAPROXY_BIN" -W -S "$d/haproxy-master.sock" -db \
		-f "$ROOT/haproxy-cfg/haproxy.cfg"
	t_wait_tcp "$addr" "$FLEET_HTTP_PORT" 10 || fail "edge $x: haproxy did not start"
	fleet_start_loader "$x" "$@"
}

# fleet_start_loader X [args...]: (re)start edge X's loader.
fleet_start_loader() {
	local x=$1 addr d
	shift
	addr=$(fleet_edge_var "$x" ADDR)
	d=$T_DIR/edge-$x
	t_bg "loader-$x" "$PUSHER" --redis "$addr:$FLEET_REDIS_PORT" --keyring "$KEYRING" \
		--haproxy-socket "$d/haproxy.sock" --cert-dir "$(fleet_edge_var "$x" CERT_DIR)" "$@" \
		run --role loader
	printf -v "EDGE_${x^^}_LOADER_PID" '%s' "$T_LAST_PID"
}

# fleet_start_issuer [args...]: cert-pusher run --role issuer with the API on 127.0.0.1, on the
# primary (pass --sentinel/--redis). Sets API, DAEMON_PID.
fleet_start_issuer() {
	local port
	port=$(t_free_port)
	t_bg issuer "$PUSHER" --keyring "$KEYRING" \
		--directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA" --contact admin@example.com \
		--api "127.0.0.1:$port" --api-token-file "$T_DIR/token" --due-poll 200ms "$@" \
		run --role issuer
	DAEMON_PID=$T_LAST_PID
	API=http://127.0.0.1:$port
	t_wait_tcp 127.0.0.1 "$port" 10 || fail "issuer: the API did not start"
}

# fleet_route NAME X: the CA resolves NAME to edge X, so edge X answers its challenge.
fleet_route() {
	t_cts_add_a "$1" "$(fleet_edge_var "$2" ADDR)"
}

# fleet_serial X NAME [rsa]: the serial edge X's HAProxy serves for NAME ("" on failure).
fleet_serial() {
	local extra=() addr
	addr=$(fleet_edge_var "$1" ADDR)
	[ "${3:-}" = rsa ] && extra=(-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256)
	openssl s_client -connect "$addr:$FLEET_HTTPS_PORT" -servername "$2" "${extra[@]}" \
		</dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'
}

# fleet_https X NAME ROOT: HTTP status of a verified HTTPS request to edge X for NAME.
fleet_https() {
	local addr
	addr=$(fleet_edge_var "$1" ADDR)
	curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
		--resolve "$2:$FLEET_HTTPS_PORT:$addr" --cacert "$3" \
		"https://$2:$FLEET_HTTPS_PORT/spoacme-haproxy-health" 2>/dev/null
}

# fleet_wait_serial X NAME TYPE SERIAL [SECONDS]: until edge X serves SERIAL for NAME.
fleet_wait_serial() {
	local i got
	for ((i = 0; i < ${5:-20} * 10; i++)); do
		got=$(fleet_serial "$1" "$2" "$3")
		[ "$got" = "$4" ] && return 0
		sleep 0.1
	done
	fail "edge $1: $2 ($3): expected serial '$4', HAProxy serves '$got'"
}

# fleet_agent_hits X: challenge lookups edge X's spoa-agent found in Redis.
fleet_agent_hits() {
	curl -sS --max-time 5 "$(fleet_edge_var "$1" METRICS)" |
		awk '/^spoacme_agent_requests_total\{.*result="hit"/ { n += $2 } END { print n + 0 }'
}

# fleet_two_edges [edge args...]: after fleet_start_redis (and sentinels), a key ring, an API
# token, edges a and b (ids edge-a, edge-b, a reconcile every 2 s, plus <edge args>), and
# Pebble validating through the fleet's HTTP port, its root in $T_DIR/root.pem.
fleet_two_edges() {
	t_keyring
	api_token
	fleet_start_edge a --reconcile-interval 2s --edge-id edge-a "$@"
	fleet_start_edge b --reconcile-interval 2s --edge-id edge-b "$@"
	HTTP_PORT=$FLEET_HTTP_PORT t_start_pebble
	t_pebble_roots "$T_DIR/root.pem"
}
