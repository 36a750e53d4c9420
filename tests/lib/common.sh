# SPDX-License-Identifier: MIT
# Shared shell helpers for integration tests, benchmarks and the local stack. Source it; it
# sets T_DIR (a fresh temporary directory) and stops every process it started (by PID) on exit.
# Every service binds 127.0.0.1 on a free port; nothing talks to any other address.
#
# shellcheck shell=bash

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN=${BIN:-$ROOT/build}
T_DIR=${T_DIR:-$(mktemp -d /tmp/spoacme-test.XXXXXX)}
T_PIDS=()
T_PORTS=" "
T_KEEP=${T_KEEP:-0}
T_RAMDIRS=()
# The HAProxy every helper starts: Debian's on PATH unless told (tests/run.sh runs the HAProxy
# scenarios again with build/peers/haproxy-3.4.0/haproxy).
HAPROXY_BIN=${HAPROXY_BIN:-haproxy}

t_log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() {
	t_log "FAIL: $*"
	exit 1
}

t_cleanup() {
	local rc=$? pid
	# A second Ctrl-C or a TERM while stopping must not cut this short: the keys would stay.
	trap '' INT TERM
	# Nor may set -e: a service that exits between t_stop_pid's kill -0 and its kill -TERM (as
	# after a Ctrl-C, which every process of the group gets) made that kill fail, and the whole
	# cleanup stop there with status 1, saying nothing.
	set +e
	# Certificate directories hold private keys: they go first, whatever the outcome.
	for d in "${T_RAMDIRS[@]}"; do rm -rf "$d"; done
	for ((i = ${#T_PIDS[@]} - 1; i >= 0; i--)); do
		pid=${T_PIDS[i]}
		[ -n "$pid" ] && t_stop_pid "$pid"
	done
	for d in "${T_RAMDIRS[@]}"; do rm -rf "$d"; done
	if [ "$rc" != 0 ] || [ "$T_KEEP" = 1 ]; then
		t_log "logs kept in $T_DIR"
		for f in "$T_DIR"/*.log; do
			[ -f "$f" ] || continue
			echo "----- $f (last 25 lines)" >&2
			tail -n 25 "$f" >&2
		done
	else
		rm -rf "$T_DIR"
	fi
	exit "$rc"
}
trap t_cleanup EXIT
trap 'exit 130' INT TERM

# t_stop_pid PID: SIGTERM, up to 5 s grace, then SIGKILL.
t_stop_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true # it may have exited since
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return 0
}

# t_haproxy_major: the major version of $HAPROXY_BIN (default haproxy), "2" for 2.6.12.
t_haproxy_major() {
	"${HAPROXY_BIN:-haproxy}" -v 2>/dev/null | awk '/version/ { split($3, v, "."); print v[1]; exit }'
}

# t_free_port: a TCP port of 127.0.0.1 nobody listens on (and not handed out before here), in
# this scenario's share of 20000-59999: tests/run.sh runs scenarios side by side, each in slot
# T_PORT_SLOT of T_PORT_SLOTS, so that two of them never pick the same port before binding it.
t_free_port() {
	local p size=$((40000 / ${T_PORT_SLOTS:-1})) slot=${T_PORT_SLOT:-0}
	while :; do
		p=$((20000 + slot * size + (RANDOM * 32768 + RANDOM) % size))
		case "$T_PORTS" in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null &&
			[ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ]; then
			T_PORTS="$T_PORTS$p "
			echo "$p"
			return
		fi
	done
}

# t_wait_tcp HOST PORT [SECONDS]: until something accepts connections there.
t_wait_tcp() {
	local host=$1 port=$2 secs=${3:-10} i
	for ((i = 0; i < secs * 20; i++)); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# t_bg NAME CMD...: start CMD in the background, output to $T_DIR/NAME.log; sets T_LAST_PID.
t_bg() {
	local name=$1
	shift
	"$@" >>"$T_DIR/$name.log" 2>&1 &
	T_LAST_PID=$!
	T_PIDS+=("$T_LAST_PID")
}

# t_start_redis [PORT] [extra redis-server args...]: sets REDIS_PORT, REDIS_PID.
t_start_redis() {
	REDIS_PORT=${1:-$(t_free_port)}
	shift || true
	mkdir -p "$T_DIR/redis-$REDIS_PORT"
	t_bg "redis-$REDIS_PORT" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
		--appendonly no --dir "$T_DIR/redis-$REDIS_PORT" --protected-mode no \
		--repl-diskless-sync-delay 0 "$@"
	REDIS_PID=$T_LAST_PID
	t_wait_tcp 127.0.0.1 "$REDIS_PORT" 10 || fail "redis-server did not start on $REDIS_PORT"
}

rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# t_ramdir VAR: a fresh directory on tmpfs (/dev/shm), mode 0700, removed at exit, into VAR.
t_ramdir() {
	local d
	d=$(mktemp -d /dev/shm/spoacme-test.XXXXXX) || fail "mktemp on /dev/shm"
	chmod 700 "$d"
	T_RAMDIRS+=("$d")
	printf -v "$1" '%s' "$d"
}

# t_fallback_cert: self-signed default certificate in $T_DIR, and the loader's certificate
# directory CERT_DIR (RAM-backed) with an empty crt-list CRT_LIST in it, as the shipped setup
# has them (tmpfiles.d creates both at boot).
t_fallback_cert() {
	[ -f "$T_DIR/fallback.pem" ] && return 0
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
		-subj /CN=spoacme-fallback -keyout "$T_DIR/fallback.key" -out "$T_DIR/fallback.crt" \
		2>/dev/null || fail "openssl could not make the fallback certificate"
	cat "$T_DIR/fallback.crt" "$T_DIR/fallback.key" >"$T_DIR/fallback.pem"
	rm -f "$T_DIR/fallback.key"
	[ -n "${CERT_DIR:-}" ] || t_cert_dir
}

# t_cert_dir: a new, empty CERT_DIR with an empty crt-list CRT_LIST and names map NAMES_MAP (what
# HAProxy needs to start).
t_cert_dir() {
	t_ramdir CERT_DIR
	CRT_LIST=$CERT_DIR/crt-list
	NAMES_MAP=$CERT_DIR/names.map
	: >"$CRT_LIST"
	: >"$NAMES_MAP"
}

# t_start_haproxy [extra -f files...]: the shipped haproxy-cfg with test ports, in master-worker
# mode as production runs it (-W, master CLI on HAPROXY_MASTER_SOCK). Needs AGENT_PORT (set by
# t_start_agent, or pick one first). Sets HTTP_PORT, HTTPS_PORT, HAPROXY_SOCK,
# HAPROXY_MASTER_SOCK, HAPROXY_PID (the master).
t_start_haproxy() {
	t_fallback_cert
	HTTP_PORT=${HTTP_PORT:-$(t_free_port)}
	HTTPS_PORT=${HTTPS_PORT:-$(t_free_port)}
	APP_PORT=${APP_PORT:-$(t_free_port)}
	AGENT_PORT=${AGENT_PORT:-$(t_free_port)}
	HAPROXY_SOCK=$T_DIR/haproxy.sock
	HAPROXY_MASTER_SOCK=$T_DIR/haproxy-master.sock
	local extra=()
	for f in "$@"; do extra+=(-f "$f"); done
	SPOACME_HTTP_BIND=127.0.0.1:$HTTP_PORT SPOACME_HTTPS_BIND=127.0.0.1:$HTTPS_PORT \
		SPOACME_AGENT_ADDR=127.0.0.1:$AGENT_PORT \
		SPOACME_SPOE_CONF=$ROOT/haproxy-cfg/spoe-acme.conf \
		SPOACME_FALLBACK_PEM=$T_DIR/fallback.pem SPOACME_CRT_LIST=$CRT_LIST \
		SPOACME_NAMES_MAP=${NAMES_MAP:-$CERT_DIR/names.map} SPOACME_STATS_SOCKET=$HAPROXY_SOCK SPOACME_APP_ADDR=127.0.0.1:$APP_PORT \
		t_bg haproxy "$HAPROXY_BIN" -W -S "$HAPROXY_MASTER_SOCK" -db -f "$ROOT/haproxy-cfg/haproxy.cfg" \
		"${extra[@]}"
	HAPROXY_PID=$T_LAST_PID
	t_wait_tcp 127.0.0.1 "$HTTP_PORT" 10 || fail "haproxy did not start"
}

# t_haproxy_worker: the pid of HAProxy's current worker (the master CLI's `show proc`).
t_haproxy_worker() {
	echo "show proc" | socat -t 5 - "UNIX-CONNECT:$HAPROXY_MASTER_SOCK" 2>/dev/null |
		awk '$2 == "worker" && $3 == "0" { print $1; exit }'
}

# t_haproxy_reload [usr2]: a master-worker reload (the master CLI's `reload`, what systemctl
# reload does; usr2: SIGUSR2 to the master), then until a new worker answers the stats socket.
t_haproxy_reload() {
	local old new i
	old=$(t_haproxy_worker)
	if [ "${1:-}" = usr2 ]; then
		kill -USR2 "$HAPROXY_PID"
	else
		echo reload | socat -t 10 - "UNIX-CONNECT:$HAPROXY_MASTER_SOCK" >/dev/null
	fi
	for ((i = 0; i < 200; i++)); do
		new=$(t_haproxy_worker)
		if [ -n "$new" ] && [ "$new" != "$old" ] &&
			echo "show info" | socat -t 2 - "UNIX-CONNECT:$HAPROXY_SOCK" 2>/dev/null |
			grep -qx "Pid: $new"; then
			return 0
		fi
		sleep 0.05
	done
	fail "HAProxy reload: no new worker after 10 s (old $old)"
}

# t_start_agent [extra args...]: spoa-agent (AGENT_BIN, default $BIN's) on AGENT_PORT against
# REDIS_PORT; sets AGENT_PID, METRICS_PORT.
t_start_agent() {
	AGENT_PORT=${AGENT_PORT:-$(t_free_port)}
	METRICS_PORT=${METRICS_PORT:-$(t_free_port)}
	t_bg agent "${AGENT_BIN:-$BIN/spoa-agent}" --listen "127.0.0.1:$AGENT_PORT" \
		--redis "127.0.0.1:$REDIS_PORT" --metrics "127.0.0.1:$METRICS_PORT" "$@"
	AGENT_PID=$T_LAST_PID
	t_wait_tcp 127.0.0.1 "$AGENT_PORT" 10 || fail "spoa-agent did not start"
}

# t_wait_agent_up [SECONDS]: until HAProxy's health check marks the agent UP.
t_wait_agent_up() {
	local secs=${1:-10} i
	for ((i = 0; i < secs * 10; i++)); do
		if echo "show servers state spoacme-agents" | socat - "UNIX-CONNECT:$HAPROXY_SOCK" 2>/dev/null |
			awk '$4 == "agent1" && $6 == 2 { ok = 1 } END { exit !ok }'; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# served_serial NAME [rsa]: serial HAProxy serves for NAME (SNI); rsa: a TLS 1.2 RSA-only client.
served_serial() {
	local extra=()
	[ "${2:-}" = rsa ] && extra=(-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256)
	openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -servername "$1" "${extra[@]}" \
		</dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'
}

# wait_served NAME TYPE SERIAL [SECONDS]: until HAProxy serves SERIAL for NAME.
wait_served() {
	local i got
	for ((i = 0; i < ${4:-20} * 10; i++)); do
		got=$(served_serial "$1" "$2")
		[ "$got" = "$3" ] && return 0
		sleep 0.1
	done
	fail "$1 ($2): expected serial '$3', HAProxy serves '$got'"
}

# assert_eq WHAT EXPECTED ACTUAL
assert_eq() {
	[ "$2" == "$3" ] || fail "$1: expected '$2', got '$3'"
}

# t_challenge_path [agent args...]: Redis, spoa-agent and HAProxy with the shipped configuration,
# the agent UP in HAProxy: the HTTP-01 path every issuing scenario needs.
t_challenge_path() {
	t_start_redis
	t_start_agent "$@"
	t_start_haproxy
	t_wait_agent_up 10 || fail "HAProxy never marked spoa-agent UP"
}

# ondemand_env: the shipped haproxy.cfg with its on-demand pre-frontend, handing TLS to the
# terminating frontend over an abns@ address of this test's own.
ondemand_env() {
	export SPOACME_ON_DEMAND=1
	export SPOACME_TLS_INNER="abns@spoacme-test-$$-$RANDOM"
	export SPOACME_SPOE_ONDEMAND_CONF=$ROOT/haproxy-cfg/spoe-ondemand.conf
}

# t_wait_serves NAME ECDSA_SERIAL RSA_SERIAL: wait (10 s at most) until HAProxy's HTTPS port
# serves NAME's ECDSA certificate with that serial, then check the RSA one too.
t_wait_serves() {
	local got
	for _ in $(seq 1 200); do
		got=$("$BIN/tools/tls_probe" 127.0.0.1 "$HTTPS_PORT" "$1" | awk '{ print $3 }')
		[ "$got" = "$2" ] && break
		sleep 0.05
	done
	assert_eq "ECDSA serial served for $1" "$2" "$got"
	assert_eq "RSA serial served for $1" "$3" \
		"$("$BIN/tools/tls_probe" 127.0.0.1 "$HTTPS_PORT" --rsa "$1" | awk '{ print $3 }')"
}

# t_stop_haproxy: stop HAProxy's master and its current worker (a master killed after its grace
# leaves the worker holding the ports), then wait (10 s at most) until HTTP_PORT and HTTPS_PORT
# are free for the next HAProxy.
t_stop_haproxy() {
	local hw i
	hw=$(t_haproxy_worker)
	t_stop_pid "$HAPROXY_PID"
	[ -z "$hw" ] || t_stop_pid "$hw"
	for ((i = 0; i < 100; i++)); do
		[ -z "$(ss -Hltn "( sport = :$HTTP_PORT or sport = :$HTTPS_PORT )")" ] && return 0
		sleep 0.1
	done
}

# t_need_pusher: PUSHER, the cert-pusher under test ($BIN's unless set), or fail when not built.
t_need_pusher() {
	PUSHER=${PUSHER:-$BIN/cert-pusher}
	[ -x "$PUSHER" ] || fail "$PUSHER not built"
}

# t_agent_metric 'NAME{LABELS}': the value of one spoa-agent metric (needs METRICS_PORT).
t_agent_metric() {
	curl -sS --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" |
		awk -v k="$1" '$1 == k { print $2; found = 1 } END { exit !found }'
}

# t_agent_requests: the sum of spoacme_agent_requests_total over every result.
t_agent_requests() {
	curl -sS --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" |
		awk '/^spoacme_agent_requests_total\{/ { n += $2 } END { print n + 0 }'
}
