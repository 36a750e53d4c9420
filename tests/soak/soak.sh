#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Chaos soak (make soak; not part of make test). The fleet of tests/lib/fleet.sh (a Redis primary,
# three Sentinels, edges A and B each with a replica, spoa-agent, HAProxy and loader) and an
# issuer finding the primary through Sentinel. SOAK_NAMES names (default 500) are imported with
# certificates of a test CA (ECDSA and RSA); SOAK_PEBBLE names (default 6) are issued by Pebble
# with short certificates (PEBBLE_VALIDITY, default 120 s) so orders and renewals run during the
# faults; Pebble rejects 30% of nonces. TLS handshakes (tests/tools/tls_probe) and challenge
# requests run on both edges all along, and for SOAK_SECONDS (default 600) a random fault is
# injected every 2..6 s: Redis primary killed (Sentinel failover), a replica restarted empty, an
# agent killed, a loader killed, HAProxy reloaded (master CLI or SIGUSR2) or restarted, the
# issuer killed mid-order, Pebble paused.
# Then, once every process is back: every name valid, both edges serve each name's current serial
# for both key types, no lock:/chal:/chals:/orphan keys in Redis, Pebble issued no more
# certificates than the issuers' orders (plus the ones a kill can waste), no challenge request
# for the probe token answered 404, agent and loader RSS. Prints a table; exits 1 when anything
# was lost.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/api.sh"
. "$(dirname "$0")/../lib/fleet.sh"

SOAK_SECONDS=${SOAK_SECONDS:-600}
SOAK_NAMES=${SOAK_NAMES:-500}
SOAK_PEBBLE=${SOAK_PEBBLE:-6}
export PEBBLE_WFE_NONCEREJECT=${PEBBLE_WFE_NONCEREJECT:-30}
export PEBBLE_VALIDITY=${PEBBLE_VALIDITY:-120}
TLS_PROBE=$BIN/tools/tls_probe
[ -x "$TLS_PROBE" ] && [ -x "$PUSHER" ] || fail "build first (make all)"
command -v jq >/dev/null || fail "jq not installed"
fleet_addr_ok || fail "cannot bind 127.0.0.2/127.0.0.3"
trap 't_log "soak.sh: line $LINENO: status $?"' ERR

LOADER_ARGS=(--reconcile-interval 5s --sentinel)
declare -A FAULTS=() LOST=()
lost() {
	LOST[$1]=$((${LOST[$1]:-0} + 1))
	t_log "LOST: $*"
	echo "$(date +%T) $*" >>"$T_DIR/lost.txt"
}

# ---- the fleet ----------------------------------------------------------------------------
fleet_start_redis
fleet_start_sentinels
t_keyring
api_token
# Redis instances by id: p (started as the primary on 127.0.0.1), a, b (the edges' replicas)
declare -A R_ADDR=([p]=127.0.0.1 [a]=$EDGE_A_ADDR [b]=$EDGE_B_ADDR)
declare -A R_PORT=([p]=$PRIMARY_PORT [a]=$FLEET_REDIS_PORT [b]=$FLEET_REDIS_PORT)
declare -A R_PID=([p]=$PRIMARY_PID [a]=$EDGE_A_REPLICA_PID [b]=$EDGE_B_REPLICA_PID)
declare -A AGENT_PID HAPROXY_PID LOADER_PID
for x in a b; do
	fleet_start_edge "$x" "${LOADER_ARGS[@]}" "$SENTINELS" --edge-id "edge-$x"
	# fleet_start_edge starts the agent, HAProxy's master, then the loader
	AGENT_PID[$x]=${T_PIDS[-3]} HAPROXY_PID[$x]=${T_PIDS[-2]} LOADER_PID[$x]=${T_PIDS[-1]}
done
HTTP_PORT=$FLEET_HTTP_PORT t_start_pebble
t_pebble_roots "$T_DIR/root.pem"
ISSUER_ARGS=(--sentinel "$SENTINELS" --wait-replicas 1 --wait-timeout 1s --backoff-min 2s
	--lock-ttl 10s)
fleet_start_issuer "${ISSUER_ARGS[@]}"
ISSUER_PID=$DAEMON_PID
ISSUER_N=1

# mcli ARGS: redis-cli on the primary Sentinel names now
primary() { redis-cli -p "${SENTINEL_PORTS[0]}" SENTINEL get-master-addr-by-name "$FLEET_MASTER" | paste -sd' '; }
mcli() {
	local a p
	read -r a p <<<"$(primary)"
	redis-cli -h "$a" -p "$p" "$@"
}

# ---- names ---------------------------------------------------------------------------------
t_log "making $SOAK_NAMES x 2 certificates"
mk_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj /CN=spoacme-soak-ca -keyout "$T_DIR/ca.key" -out "$T_DIR/ca.crt" 2>/dev/null ||
		fail "openssl: CA"
}
mk_ca
mkdir -p "$T_DIR/certs"
(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_DIR/k.ecdsa" 2>/dev/null &&
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T_DIR/k.rsa" 2>/dev/null) ||
	fail "openssl: keys"
# one key per type shared by every name: the soak is about the fleet, not key generation
mk_one() {
	local n=$1 t
	for t in ecdsa rsa; do
		openssl req -x509 -key "$T_DIR/k.$t" -subj "/CN=$n" -addext "subjectAltName=DNS:$n" \
			-CA "$T_DIR/ca.crt" -CAkey "$T_DIR/ca.key" -days 30 \
			-set_serial "0x$(openssl rand -hex 16)" -out "$T_DIR/certs/$n.$t.crt" 2>/dev/null ||
			fail "openssl: $n $t"
		cat "$T_DIR/ca.crt" >>"$T_DIR/certs/$n.$t.crt"
		"$PUSHER" --redis "127.0.0.1:$PRIMARY_PORT" --keyring "$KEYRING" \
			--cert-file "$T_DIR/certs/$n.$t.crt" --key-file "$T_DIR/k.$t" import "$n" \
			>>"$T_DIR/import.log" 2>&1 || fail "import $n $t: $(tail -2 "$T_DIR/import.log")"
	done
}
NAMES=()
for ((i = 1; i <= SOAK_NAMES; i++)); do NAMES+=("h$i.soak.example"); done
PNAMES=()
for ((i = 1; i <= SOAK_PEBBLE; i++)); do PNAMES+=("p$i.soak.example"); done
(for ((i = 0; i < SOAK_NAMES; i += 2)); do mk_one "${NAMES[i]}"; done) &
g=$!
for ((i = 1; i < SOAK_NAMES; i += 2)); do mk_one "${NAMES[i]}"; done
wait "$g" || fail "imports failed"
# expected serials of the imported names (they never change: renewal is 20 days away)
for n in "${NAMES[@]}"; do
	for t in ecdsa rsa; do
		echo "$n $t $(openssl x509 -in "$T_DIR/certs/$n.$t.crt" -noout -serial | cut -d= -f2)"
	done
done >"$T_DIR/expected.txt"
FALLBACK_SERIAL=$(openssl x509 -in "$T_DIR/fallback.crt" -noout -serial | cut -d= -f2)
i=0
for n in "${PNAMES[@]}"; do
	if ((i++ % 2)); then fleet_route "$n" b; else fleet_route "$n" a; fi
	api_add "$n"
done
t_log "imported $SOAK_NAMES names; ${#PNAMES[@]} ordered from Pebble"

# served_check X: every name's current serials (on the primary) served by edge X, both types;
# prints the mismatches ("NAME TYPE want got")
served_check() {
	local x=$1 addr t
	addr=$(fleet_edge_var "$x" ADDR)
	for t in ecdsa rsa; do
		{
			for n in "${NAMES[@]}" "${PNAMES[@]}"; do echo "HGET spoacme:host:$n serial_$t"; done |
				mcli 2>/dev/null | paste -d' ' <(printf '%s\n' "${NAMES[@]}" "${PNAMES[@]}") -
		} >"$T_DIR/want.$x.$t"
		if [ "$t" = rsa ]; then
			"$TLS_PROBE" "$addr" "$FLEET_HTTPS_PORT" --rsa "${NAMES[@]}" "${PNAMES[@]}"
		else
			"$TLS_PROBE" "$addr" "$FLEET_HTTPS_PORT" "${NAMES[@]}" "${PNAMES[@]}"
		fi >"$T_DIR/got.$x.$t"
		paste -d' ' "$T_DIR/want.$x.$t" "$T_DIR/got.$x.$t" |
			awk -v t="$t" '$2 != $5 || $2 == "" { print $1, t, $2, $5 }'
	done
}
# wait_served SECONDS: until both edges serve every current serial; prints what is left
wait_all_served() {
	local i left
	for ((i = 0; i < $1; i += 2)); do
		left=$( (served_check a; served_check b) | wc -l)
		[ "$left" = 0 ] && return 0
		sleep 2
	done
	(
		served_check a | sed 's/^/edge a: /'
		served_check b | sed 's/^/edge b: /'
	) | head -20 >&2
	return 1
}
# all_valid: every name is valid with no order running (prints the others)
not_valid() {
	for n in "${NAMES[@]}" "${PNAMES[@]}"; do echo "HMGET spoacme:host:$n state order"; done |
		mcli 2>/dev/null | paste -d' ' - - | paste -d' ' <(printf '%s\n' "${NAMES[@]}" "${PNAMES[@]}") - |
		awk '$2 != "valid" || $3 != "" { print }'
}
wait_all_valid() {
	local i
	for ((i = 0; i < $1; i += 2)); do
		[ -z "$(not_valid)" ] && return 0
		sleep 2
	done
	not_valid | head -10 >&2
	return 1
}

wait_all_valid 180 || fail "the names did not all become valid before the soak"
wait_all_served 180 || fail "the edges did not serve every name before the soak"
t_log "baseline: $((SOAK_NAMES + SOAK_PEBBLE)) names valid and served by both edges"

# ---- traffic -------------------------------------------------------------------------------
# set_phase WORD: what the traffic loops label their requests with (renamed in: never half-read)
set_phase() {
	echo "$1" >"$T_DIR/phase.new"
	mv -f "$T_DIR/phase.new" "$T_DIR/phase"
}
set_phase idle
TRAFFIC=()
for x in a b; do
	addr=$(fleet_edge_var "$x" ADDR)
	nice "$TLS_PROBE" "$addr" "$FLEET_HTTPS_PORT" --loop "$T_DIR/phase" --pause-ms 5 \
		"${NAMES[@]}" "${PNAMES[@]}" 2>>"$T_DIR/probe.err" |
		awk -v fb="$FALLBACK_SERIAL" -v expf="$T_DIR/expected.txt" -v out="$T_DIR/tls.$x" '
		BEGIN { while ((getline l < expf) > 0) { split(l, f, " "); want[f[1] " " f[2]] = f[3] } }
		{
			s = $4
			if (s == fb) c = "fallback"
			else if (s == "REFUSED" || s == "CUT") c = "cut"
			else if (s == "TIMEOUT") c = "timeout"
			else if (s == "FAIL") c = "failed"
			else if (($2 " " $3) in want) c = (want[$2 " " $3] == s) ? "ok" : "wrong"
			else if (s ~ /^[0-9A-F]+$/) c = "ok"
			else c = "failed"
			n[$1 " " c]++
			if (c != "ok" && c != "cut") print > (out ".bad")
		}
		END { for (k in n) print k, n[k] > out }' &
	T_PIDS+=($!)
	TRAFFIC+=($!)
done
TOKEN_CHAL=soakprobe$(openssl rand -hex 8)
mcli SET "spoacme:chal:$TOKEN_CHAL" "$TOKEN_CHAL.soak" >/dev/null
mcli WAIT 2 2000 >/dev/null
for x in a b; do
	addr=$(fleet_edge_var "$x" ADDR)
	(
		declare -A c=()
		while [ -f "$T_DIR/phase" ]; do
			ph=$(cat "$T_DIR/phase" 2>/dev/null || echo -)
			r=$(curl -s --max-time 3 -w ' %{http_code}' \
				"http://$addr:$FLEET_HTTP_PORT/.well-known/acme-challenge/$TOKEN_CHAL" || true)
			case "$r" in
			"$TOKEN_CHAL.soak 200") k=ok ;;
			*" 503") k=503 ;;
			*" 404") k=404 ;;
			*) k=other ;;
			esac
			c["$ph $k"]=$((${c["$ph $k"]:-0} + 1))
			# when, to set against the faults' times in the log
			[ "$k" = ok ] || echo "$(date +%T.%3N) $ph $k" >>"$T_DIR/chal.$x.bad"
			sleep 0.05
		done
		for k in "${!c[@]}"; do echo "$k ${c[$k]}"; done >"$T_DIR/chal.$x"
	) &
	T_PIDS+=($!)
	TRAFFIC+=($!)
done

# RSS of the agents and loaders every 5 s: "TIME COMPONENT PID KB"
(
	while [ -f "$T_DIR/phase" ]; do
		for f in "$T_DIR"/pid.*; do
			[ -f "$f" ] || continue
			p=$(cat "$f")
			kb=$(awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
			[ -n "$kb" ] && echo "$(date +%s) ${f##*/pid.} $p $kb"
		done
		sleep 5
	done >>"$T_DIR/rss.txt"
) &
T_PIDS+=($!)
note_pids() {
	for x in a b; do
		echo "${AGENT_PID[$x]}" >"$T_DIR/pid.agent-$x"
		echo "${LOADER_PID[$x]}" >"$T_DIR/pid.loader-$x"
	done
}
note_pids

# ---- faults --------------------------------------------------------------------------------
# redis_id ADDR PORT: the id (p, a, b) of the instance there
redis_id() {
	local k
	for k in p a b; do
		[ "${R_ADDR[$k]} ${R_PORT[$k]}" = "$1 $2" ] && echo "$k" && return 0
	done
	return 1
}
# redis_start ID: (re)start instance ID, empty, as a replica of the current primary
redis_start() {
	local k=$1 m mp
	read -r m mp <<<"$(primary)"
	rm -rf "$T_DIR/redis-soak-$k"
	mkdir -p "$T_DIR/redis-soak-$k"
	t_bg "redis-soak-$k" redis-server --port "${R_PORT[$k]}" --bind "${R_ADDR[$k]}" --save '' \
		--appendonly no --dir "$T_DIR/redis-soak-$k" --protected-mode no \
		--replicaof "$m" "$mp" --replica-announce-ip "${R_ADDR[$k]}" --repl-diskless-sync-delay 0
	R_PID[$k]=$T_LAST_PID
	t_wait_tcp "${R_ADDR[$k]}" "${R_PORT[$k]}" 10 || fail "redis $k did not restart"
}
# redis_healthy: the primary Sentinel names has both others as replicas with their link up
redis_healthy() {
	local m mp k n=0
	read -r m mp <<<"$(primary)"
	[ -n "$mp" ] || return 1
	for k in p a b; do
		[ "${R_ADDR[$k]} ${R_PORT[$k]}" = "$m $mp" ] && continue
		redis-cli -h "${R_ADDR[$k]}" -p "${R_PORT[$k]}" INFO replication 2>/dev/null | tr -d '\r' |
			awk -v m="$m" -v p="$mp" -F: '$1 == "master_host" && $2 == m { h = 1 }
				$1 == "master_port" && $2 == p { q = 1 } $0 == "master_link_status:up" { u = 1 }
				END { exit !(h && q && u) }' && n=$((n + 1))
	done
	[ "$n" = 2 ]
}
wait_redis_healthy() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		redis_healthy && return 0
		sleep 0.1
	done
	return 1
}
start_agent() {
	local x=$1 addr
	addr=$(fleet_edge_var "$x" ADDR)
	t_bg "agent-$x" "$BIN/spoa-agent" --listen "$addr:$FLEET_AGENT_PORT" \
		--redis "$addr:$FLEET_REDIS_PORT" --metrics "$addr:$FLEET_METRICS_PORT"
	AGENT_PID[$x]=$T_LAST_PID
	t_wait_tcp "$addr" "$FLEET_AGENT_PORT" 10 || fail "edge $x: spoa-agent did not restart"
}
start_haproxy() {
	local x=$1 addr d
	addr=$(fleet_edge_var "$x" ADDR)
	d=$T_DIR/edge-$x
	SPOACME_HTTP_BIND=$addr:$FLEET_HTTP_PORT SPOACME_HTTPS_BIND=$addr:$FLEET_HTTPS_PORT \
		SPOACME_AGENT_ADDR=$addr:$FLEET_AGENT_PORT \
		SPOACME_SPOE_CONF=$ROOT/haproxy-cfg/spoe-acme.conf \
		SPOACME_FALLBACK_PEM=$T_DIR/fallback.pem \
		SPOACME_CRT_LIST=$(fleet_edge_var "$x" CERT_DIR)/crt-list \
		SPOACME_STATS_SOCKET=$d/haproxy.sock SPOACME_APP_ADDR=$addr:$FLEET_APP_PORT \
		t_bg "haproxy-$x" "$HAPROXY_BIN" -W -S "$d/haproxy-master.sock" -db \
		-f "$ROOT/haproxy-cfg/haproxy.cfg"
	HAPROXY_PID[$x]=$T_LAST_PID
	# it loads every certificate of the crt-list before it binds: seconds for a thousand
	t_wait_tcp "$addr" "$FLEET_HTTPS_PORT" 120 || fail "edge $x: haproxy did not restart"
}
start_loader() {
	fleet_start_loader "$1" "${LOADER_ARGS[@]}" "$SENTINELS" --edge-id "edge-$1"
	LOADER_PID[$1]=$T_LAST_PID
}
restart_issuer() {
	ISSUER_N=$((ISSUER_N + 1))
	fleet_start_issuer "${ISSUER_ARGS[@]}"
	ISSUER_PID=$DAEMON_PID
}
kill9() { kill -KILL "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
other_edge() { [ "$1" = a ] && echo b || echo a; }

fault() {
	local kind=$1 x=${2:-} m mp k i
	set_phase "$kind"
	FAULTS[$kind]=$((${FAULTS[$kind]:-0} + 1))
	t_log "fault: $kind $x"
	case "$kind" in
	primary-kill)
		read -r m mp <<<"$(primary)"
		k=$(redis_id "$m" "$mp") || fail "unknown primary $m:$mp"
		kill9 "${R_PID[$k]}"
		for ((i = 0; i < 300; i++)); do
			[ "$(primary)" != "$m $mp" ] && [ -n "$(primary)" ] && break
			sleep 0.1
		done
		[ "$(primary)" != "$m $mp" ] || lost failover "Sentinel did not fail over from $m:$mp in 30 s"
		redis_start "$k"
		wait_redis_healthy 60 || lost redis "the fleet's Redis did not heal after the failover"
		;;
	replica-restart)
		read -r m mp <<<"$(primary)"
		for k in $(printf '%s\n' p a b | shuf); do
			[ "${R_ADDR[$k]} ${R_PORT[$k]}" != "$m $mp" ] && break
		done
		kill9 "${R_PID[$k]}"
		redis_start "$k"
		wait_redis_healthy 60 || lost redis "replica $k did not resync"
		;;
	agent-kill)
		kill9 "${AGENT_PID[$x]}"
		start_agent "$x"
		;;
	loader-kill)
		kill9 "${LOADER_PID[$x]}"
		start_loader "$x"
		;;
	haproxy-reload)
		if ((RANDOM % 2)); then
			echo reload | socat -t 10 - "UNIX-CONNECT:$T_DIR/edge-$x/haproxy-master.sock" >/dev/null || true
		else
			kill -USR2 "${HAPROXY_PID[$x]}"
		fi
		;;
	haproxy-restart)
		t_stop_pid "${HAPROXY_PID[$x]}"
		# A worker can outlive its master for seconds (one still loading the configuration
		# of a reload just before): start_haproxy's port check must not take it for the
		# new one, nor its exit land in the next fault's counts.
		m=$(fleet_edge_var "$x" ADDR)
		for ((i = 0; i < 300; i++)); do
			[ -z "$(ss -Hltn src "$m:$FLEET_HTTPS_PORT"; ss -Hltn src "$m:$FLEET_HTTP_PORT")" ] && break
			sleep 0.1
		done
		[ $i -lt 300 ] || lost haproxy "edge $x: HAProxy still listening 30 s after its master exited"
		start_haproxy "$x"
		;;
	issuer-kill)
		# mid-order: wait (a little) for one of the Pebble names to have an order running
		for ((i = 0; i < 50; i++)); do
			for n in "${PNAMES[@]}"; do
				[ -n "$(mcli HGET "spoacme:host:$n" order 2>/dev/null)" ] && break 2
			done
			sleep 0.1
		done
		[ $i -lt 50 ] && FAULTS[issuer-kill-mid-order]=$((${FAULTS[issuer-kill-mid-order]:-0} + 1))
		kill9 "$ISSUER_PID"
		restart_issuer
		;;
	pebble-pause)
		kill -STOP "$PEBBLE_PID"
		sleep $((2 + RANDOM % 5))
		kill -CONT "$PEBBLE_PID"
		;;
	esac
	note_pids
	set_phase idle
}

KINDS=(primary-kill replica-restart agent-kill loader-kill haproxy-reload haproxy-restart
	issuer-kill pebble-pause)
t_log "soak: $SOAK_SECONDS s of faults"
end=$(($(date +%s) + SOAK_SECONDS))
while [ "$(date +%s)" -lt "$end" ]; do
	kind=${KINDS[RANDOM % ${#KINDS[@]}]}
	case "$kind" in
	primary-kill | replica-restart)
		# never two Redis faults on top of each other: a replica still syncing can't take over
		wait_redis_healthy 60 || lost redis "not healthy before $kind"
		;;
	esac
	x=$( ((RANDOM % 2)) && echo a || echo b)
	fault "$kind" "$x"
	sleep $((2 + RANDOM % 5))
	# continuous checks: the imported names keep their serial everywhere they are served
done
set_phase settle
t_log "soak: faults over; settling"

# ---- the end -------------------------------------------------------------------------------
wait_redis_healthy 60 || lost redis "not healthy at the end"
wait_all_valid 300 || lost names "$(not_valid | wc -l) names not valid: $(not_valid | head -3 | paste -sd';')"
wait_all_served 120 || lost served "an edge does not serve a current serial"
rm -f "$T_DIR/phase"
for p in "${TRAFFIC[@]}"; do wait "$p" || true; done # they see the phase file gone, write counts

# leaked keys, once the locks of killed issuers have expired (lock TTL 10 s)
leaks() {
	mcli --scan --pattern 'spoacme:lock:*'
	mcli --scan --pattern 'spoacme:chal:*' | { grep -v "chal:$TOKEN_CHAL\$" || true; }
	# an order's token note: the order (or the next order of the name) deletes it
	mcli --scan --pattern 'spoacme:chals:*'
	mcli SMEMBERS spoacme:hosts | sort >"$T_DIR/hosts.txt"
	{
		mcli --scan --pattern 'spoacme:host:*' | sed 's/^spoacme:host://'
		mcli --scan --pattern 'spoacme:cert:*' | sed 's/^spoacme:cert://; s/:[a-z]*$//'
		mcli ZRANGE spoacme:due 0 -1
	} | sort -u | comm -23 - "$T_DIR/hosts.txt" | sed 's/^/orphan: /'
	mcli ZRANGE spoacme:due 0 -1 | sort | comm -13 - "$T_DIR/hosts.txt" | sed 's/^/not due: /'
}
for ((i = 0; i < 60; i++)); do
	[ -z "$(leaks)" ] && break
	sleep 1
done
leaks >"$T_DIR/leaks.txt"
[ -s "$T_DIR/leaks.txt" ] && lost keys "$(wc -l <"$T_DIR/leaks.txt") leaked keys: $(head -5 "$T_DIR/leaks.txt" | paste -sd' ')"
mcli DEL "spoacme:chal:$TOKEN_CHAL" >/dev/null

# duplicate orders: Pebble's certificates against the orders the issuers completed (each
# completed order is 2 certificates; a kill after finalize wastes at most 2 per issuer kill)
issued=$(grep -c "Issued certificate serial" "$T_DIR/pebble.log" || true)
ok_orders=$(grep -c " order ok " "$T_DIR/issuer.log" || true)
failed_orders=$(grep -c " order failed " "$T_DIR/issuer.log" || true)
# an order that failed storing what it got (Redis failing over) wasted its certificates
wasted=$(grep " order failed " "$T_DIR/issuer.log" | grep -c 'SET spoacme:cert:' || true)
extra=$((issued - 2 * (ok_orders + failed_orders) - 2 * ${FAULTS[issuer-kill]:-0}))
[ "$extra" -gt 0 ] && lost orders "Pebble issued $issued certificates, more than $ok_orders completed and $failed_orders failed orders and the issuer kills explain"

for x in a b; do
	awk '$1 == "settle" && $2 == "ok" { n += $3 } END { exit !(n > 0) }' "$T_DIR/tls.$x" ||
		lost probe "edge $x: no good handshake while settling (the TLS probe stalled?)"
	n=$(awk '$2 == "fallback" || $2 == "wrong" || $2 == "failed" { n += $3 } END { print n + 0 }' "$T_DIR/tls.$x")
	[ "$n" = 0 ] || lost handshakes "edge $x: $n handshakes got the fallback, a wrong serial or failed"
	# The probe token exists from the start to the end: "no such challenge" is a wrong answer
	# (a 503 says "unavailable", which is true while the edge's Redis is down or loading)
	n=$(awk '$2 == "404" { n += $3 } END { print n + 0 }' "$T_DIR/chal.$x")
	[ "$n" = 0 ] || lost challenges "edge $x: $n challenge requests for a published token answered 404 ($(awk '$3 == "404" { print $2 }' "$T_DIR/chal.$x.bad" | sort | uniq -c | awk '{ printf "%s%s %d", s, $2, $1; s = ", " }'))"
done

# ---- report --------------------------------------------------------------------------------
{
	echo
	echo "soak: ${SOAK_SECONDS}s, $((SOAK_NAMES + SOAK_PEBBLE)) names ($SOAK_PEBBLE from Pebble," \
		"validity ${PEBBLE_VALIDITY}s, badNonce ${PEBBLE_WFE_NONCEREJECT}%), HAProxy $("$HAPROXY_BIN" -v | head -1 | awk '{print $3}')"
	printf '%-24s %8s\n' "fault" "count"
	for k in "${KINDS[@]}" issuer-kill-mid-order; do printf '%-24s %8s\n' "$k" "${FAULTS[$k]:-0}"; done
	echo
	printf '%-6s %-16s %9s %7s %7s %8s %9s %7s\n' edge phase handshakes ok cut timeout fallback failed
	for x in a b; do
		awk -v x="$x" '{ t[$1] += $3; c[$1 " " $2] += $3; T += $3; C[$2] += $3 }
			END { for (p in t) printf "%-6s %-16s %9d %7d %7d %8d %9d %7d\n", x, p, t[p], c[p " ok"], c[p " cut"], c[p " timeout"], c[p " fallback"], c[p " failed"] + c[p " wrong"]
			      printf "%-6s %-16s %9d %7d %7d %8d %9d %7d\n", x, "TOTAL", T, C["ok"], C["cut"], C["timeout"], C["fallback"], C["failed"] + C["wrong"] }' "$T_DIR/tls.$x" | sort -k2,2
	done
	echo
	printf '%-6s %-16s %7s %7s %7s %7s\n' edge phase "200" "503" "404" other
	for x in a b; do
		awk -v x="$x" '{ c[$1 " " $2] += $3; p[$1] = 1; C[$2] += $3 }
			END { for (q in p) printf "%-6s %-16s %7d %7d %7d %7d\n", x, q, c[q " ok"], c[q " 503"], c[q " 404"], c[q " other"]
			      printf "%-6s %-16s %7d %7d %7d %7d\n", x, "TOTAL", C["ok"], C["503"], C["404"], C["other"] }' "$T_DIR/chal.$x" | sort -k2,2
	done
	echo
	echo "Pebble: $issued certificates issued; issuer orders: $ok_orders completed, $failed_orders failed" \
		"($wasted of them after issuance, storing the certificate); ${FAULTS[issuer-kill]:-0} issuer kills"
	echo "RSS (KB) of each agent/loader process that lived 120 s or more: first sample after 60 s, last"
	awk '{ if (!($3 in t0)) { t0[$3] = $1; c[$3] = $2 } if ($1 - t0[$3] >= 60 && !($3 in f)) f[$3] = $4; l[$3] = $4; tl[$3] = $1 }
		END { for (p in f) if (tl[p] - t0[p] >= 120) printf "  %-10s pid %-8s %7d -> %7d over %ds\n", c[p], p, f[p], l[p], tl[p] - t0[p] }' \
		"$T_DIR/rss.txt" | sort
	echo
	if [ ${#LOST[@]} = 0 ]; then
		echo "lost: nothing"
	else
		for k in "${!LOST[@]}"; do echo "lost: $k ${LOST[$k]}"; done
		cat "$T_DIR/lost.txt"
	fi
	n=$(cat "$T_DIR"/tls.?.bad 2>/dev/null | wc -l)
	[ "$n" = 0 ] || echo "handshakes not ok (first 5 of $n):" && head -5 -q "$T_DIR"/tls.?.bad 2>/dev/null
} | tee "$T_DIR/report.txt"
cp "$T_DIR/report.txt" "${SOAK_REPORT:-$ROOT/build/soak-report.txt}" 2>/dev/null || true
[ ${#LOST[@]} = 0 ]
