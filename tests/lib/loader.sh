# SPDX-License-Identifier: MIT
# Helpers for the loader's integration tests and benchmark (tests/integration/4x_*.sh,
# tests/bench/40_loader.sh): a throwaway CA, leaf certificates, imports into Redis, the
# loader, and what a TLS client sees. Source tests/lib/common.sh first.
#
# shellcheck shell=bash

PREFIX=${PREFIX:-spoacme:}

# hp CMD...: one runtime API command on HAProxy's socket.
hp() { echo "$*" | socat -t 5 - "UNIX-CONNECT:$HAPROXY_SOCK"; }

# mk_keyring: $T_DIR/keyring (mode 0600) with one fresh key.
mk_keyring() {
	KEYRING=$T_DIR/keyring
	(umask 077 && printf 'k1 %s\n' "$(openssl rand -base64 32)" >"$KEYRING")
}

# mk_ca: $T_DIR/ca.crt and ca.key (ECDSA P-256).
mk_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj /CN=spoacme-test-ca -keyout "$T_DIR/ca.key" -out "$T_DIR/ca.crt" 2>/dev/null ||
		fail "openssl: CA"
}

# mk_leaf NAME TYPE OUT: OUT.crt (leaf + CA) and OUT.key (mode 0600) for NAME, TYPE ecdsa|rsa.
mk_leaf() {
	local name=$1 type=$2 out=$3 newkey
	if [ "$type" = rsa ]; then newkey=(-newkey rsa:2048); else
		newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256); fi
	(umask 077 && openssl req -new "${newkey[@]}" -nodes -subj "/CN=$name" \
		-keyout "$out.key" -out "$out.csr" 2>/dev/null) || fail "openssl: key for $name"
	printf 'subjectAltName=DNS:%s\n' "$name" >"$out.ext"
	openssl x509 -req -in "$out.csr" -CA "$T_DIR/ca.crt" -CAkey "$T_DIR/ca.key" \
		-set_serial "0x$(openssl rand -hex 16)" -days 30 -extfile "$out.ext" \
		-out "$out.leaf" 2>/dev/null || fail "openssl: certificate for $name"
	cat "$out.leaf" "$T_DIR/ca.crt" >"$out.crt"
	rm -f "$out.csr" "$out.ext" "$out.leaf"
}

# mk_bench_certs N: N self-signed-by-the-test-CA ECDSA certificates h<i>.bench.example in
# $T_DIR/certs (h<i>.crt, h<i>.key mode 0600), two openssl at a time. Needs mk_ca.
mk_bench_certs() {
	mkdir -p "$T_DIR/certs"
	_bench_each "$1" _bench_gen_one || fail "certificate generation failed"
}

# import_bench_certs N: cert-pusher import of the N certificates mk_bench_certs made.
import_bench_certs() {
	_bench_each "$1" _bench_import_one || fail "import failed"
}

_bench_gen_one() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj "/CN=h$1.bench.example" -addext "subjectAltName=DNS:h$1.bench.example" \
		-CA "$T_DIR/ca.crt" -CAkey "$T_DIR/ca.key" \
		-keyout "$T_DIR/certs/h$1.key" -out "$T_DIR/certs/h$1.crt" 2>/dev/null ||
		fail "openssl: h$1"
	chmod 600 "$T_DIR/certs/h$1.key"
}

_bench_import_one() {
	pusher --cert-file "$T_DIR/certs/h$1.crt" --key-file "$T_DIR/certs/h$1.key" \
		import "h$1.bench.example" >>"$T_DIR/import.log" 2>&1 || fail "import h$1"
}

# _bench_each N FN: FN 1..N, the two halves in parallel.
_bench_each() {
	local n=$1 fn=$2 g
	(for ((i = 1; i <= n / 2; i++)); do "$fn" "$i"; done) &
	g=$!
	(for ((i = n / 2 + 1; i <= n; i++)); do "$fn" "$i"; done) || { wait "$g"; return 1; }
	wait "$g"
}

# serial_of FILE: the serial of the first certificate in FILE, as HAProxy prints it.
serial_of() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'; }

# pusher ARGS...: cert-pusher against the test Redis and key ring.
pusher() {
	"$BIN/cert-pusher" --redis "127.0.0.1:$REDIS_PORT" --keyring "$KEYRING" "$@"
}

# import NAME OUT: seal OUT.crt + OUT.key into Redis, then delete the key file.
import() {
	pusher --cert-file "$2.crt" --key-file "$2.key" import "$1" >>"$T_DIR/import.log" 2>&1 ||
		{ tail -3 "$T_DIR/import.log" >&2; fail "import $1 failed"; }
	rm -f "$2.key"
}

# loader_stack: Redis, HAProxy (master-worker, the shipped configuration), a key ring and the
# test CA: what every loader scenario starts from.
loader_stack() {
	t_start_redis
	t_start_haproxy
	mk_keyring
	mk_ca
}

# mk_import HOST...: an ECDSA and an RSA certificate of each HOST from the test CA, imported;
# their certificates in $T_DIR/HOST.TYPE.crt.
mk_import() {
	local n t
	for n in "$@"; do
		for t in ecdsa rsa; do
			mk_leaf "$n" "$t" "$T_DIR/$n.$t"
			import "$n" "$T_DIR/$n.$t"
		done
	done
}

# start_loader [extra args...]: the loader against HAProxy and Redis; sets LOADER_PID.
start_loader() {
	t_bg loader "$BIN/cert-pusher" --redis "127.0.0.1:$REDIS_PORT" --keyring "$KEYRING" \
		-v run --role loader --haproxy-socket "$HAPROXY_SOCK" --cert-dir "$CERT_DIR" "$@"
	LOADER_PID=$T_LAST_PID
}

# loader_events_done: every event published before it has been handled by the loader. The
# loader handles events one by one, in order, in its event loop: once it logs that it ignored a
# marker published last, it has finished with everything before it (no sleep-for-a-time).
loader_events_done() {
	local m i
	m=mark-$(openssl rand -hex 6)
	rcli PUBLISH "${PREFIX}events" "$m" >/dev/null
	for ((i = 0; i < 100; i++)); do
		grep -q "ignoring event '$m'" "$T_DIR/loader.log" && return 0
		sleep 0.1
	done
	fail "the loader did not handle the events (marker $m)"
}

# curl_health NAME [rsa]: HTTP status of the health URI over TLS verified with the test CA.
curl_health() {
	local extra=()
	[ "${2:-}" = rsa ] && extra=(--tls-max 1.2 --ciphers ECDHE-RSA-AES128-GCM-SHA256)
	curl -sS -o /dev/null -w '%{http_code}' --resolve "$1:$HTTPS_PORT:127.0.0.1" \
		--cacert "$T_DIR/ca.crt" "${extra[@]}" "https://$1:$HTTPS_PORT/spoacme-haproxy-health"
}

# managed_state: HAProxy's certificate names and crt-list entries, sorted (for comparisons).
managed_state() {
	{ hp "show ssl cert"; hp "show ssl crt-list $CRT_LIST"; } | grep -v '^$' | sort
}
