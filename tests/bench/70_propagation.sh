#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Propagation across a fleet: the time from a certificate being stored on the Redis primary to
# both edges (127.0.0.2 and 127.0.0.3, each HAProxy + loader on its own replica) serving it,
# over BENCH_CERTS (default 50) certificates stored one after the other with `cert-pusher
# import` (the issuer's sealed write and event). "from start" counts from just before the
# import command starts (an upper bound: it includes the command's own start-up), "from
# stored" from when it returned (a lower bound). Baselines in the same run, with the same
# polling: Redis replication of a key of the same size to both replicas, and the four
# runtime API commands pushed straight into both HAProxys by this script (what a loader
# cannot beat). Prints p50/p99 and the ratios; never fails on speed.
set -eu
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/lib/loader.sh"
source "$ROOT/tests/lib/api.sh"
source "$ROOT/tests/lib/fleet.sh"
[ -x "$BIN/cert-pusher" ] || fail "$BIN/cert-pusher not built"
fleet_addr_ok || { t_log "SKIP: cannot bind 127.0.0.2/127.0.0.3"; exit 77; }
N=${BENCH_CERTS:-50}

# Polling must cost far less than what it measures, so it spawns nothing: one runtime API
# session per edge in prompt mode (each answer ends with the "> " prompt) and one Redis
# connection per replica (inline commands over /dev/tcp).
# cli_open X: edge X's session, fds in CLI_W_X / CLI_R_X.
cli_open() {
	local w r
	mkfifo "$T_DIR/cli-$1"
	exec {w}> >(exec socat -t 3600 - "UNIX-CONNECT:$(fleet_edge_var "$1" SOCK)" >"$T_DIR/cli-$1")
	exec {r}<"$T_DIR/cli-$1"
	printf -v "CLI_W_$1" '%s' "$w"
	printf -v "CLI_R_$1" '%s' "$r"
	echo prompt >&"$w"
	IFS= read -r -d '>' _ <&"$r"
}
# cli_cmd X TEXT: send TEXT (one or more commands) on edge X's session and read one answer
# per command line given in NANS (default 1) into OUT.
cli_cmd() {
	local w="CLI_W_$1" r="CLI_R_$1" i part
	printf '%s\n' "$2" >&"${!w}"
	OUT=
	for ((i = 0; i < ${NANS:-1}; i++)); do
		IFS= read -r -d '>' part <&"${!r}"
		OUT+=$part
	done
}
# edge_has X CERT SERIAL: whether edge X's HAProxy has committed SERIAL for CERT (a name ending
# in .pem is the loader's file in edge X's certificate directory).
edge_has() {
	local c=$2
	[[ $c == *.pem ]] && c=$(fleet_edge_var "$1" CERT_DIR)/$c
	cli_cmd "$1" "show ssl cert $c"
	[[ $OUT =~ Serial:\ ([0-9A-F]+) ]] && [ "${BASH_REMATCH[1]}" = "$3" ]
}
# rdb_open X: a Redis connection to edge X's replica, fd in RDB_X.
rdb_open() {
	local fd
	exec {fd}<>"/dev/tcp/$(fleet_edge_var "$1" ADDR)/$FLEET_REDIS_PORT"
	printf -v "RDB_$1" '%s' "$fd"
}
# replica_has X KEY VALUE: whether GET KEY on edge X's replica answers VALUE.
replica_has() {
	local fd="RDB_$1" len val
	printf 'GET %s\r\n' "$2" >&"${!fd}"
	IFS= read -r len <&"${!fd}"
	[ "${len%$'\r'}" = '$-1' ] && return 1
	IFS= read -r val <&"${!fd}"
	[ "${val%$'\r'}" = "$3" ]
}

fleet_start_redis
mk_keyring
mk_ca
fleet_start_edge a --reconcile-interval 1h --primary "127.0.0.1:$PRIMARY_PORT"
fleet_start_edge b --reconcile-interval 1h --primary "127.0.0.1:$PRIMARY_PORT"
sleep 1
mkdir -p "$T_DIR/certs"
t_log "generating $((2 * N)) ECDSA certificates"
for ((i = 1; i <= 2 * N; i++)); do
	mk_leaf "p$i.bench.example" ecdsa "$T_DIR/certs/p$i"
done

# wait_both NAME SERIAL: until both edges serve SERIAL for NAME; sets T_DONE (us).
wait_both() {
	local a="" b="" t0=${EPOCHREALTIME/./}
	while :; do
		[ -n "$a" ] || { edge_has a "$1" "$2" && a=1; }
		[ -n "$b" ] || { edge_has b "$1" "$2" && b=1; }
		[ -n "$a" ] && [ -n "$b" ] && break
		((${EPOCHREALTIME/./} - t0 < 30000000)) || fail "$1: not on both edges after 30 s"
	done
	T_DONE=${EPOCHREALTIME/./}
}

cli_open a
cli_open b

# 1. the loaders: import (sealed blob on the primary + event) -> both edges serve it
: >"$T_DIR/prop.txt"
for ((i = 1; i <= N; i++)); do
	n=p$i.bench.example
	serial=$(serial_of "$T_DIR/certs/p$i.crt")
	t0=${EPOCHREALTIME/./}
	pusher --redis "127.0.0.1:$PRIMARY_PORT" --cert-file "$T_DIR/certs/p$i.crt" \
		--key-file "$T_DIR/certs/p$i.key" import "$n" >>"$T_DIR/import.log" 2>&1 ||
		fail "import $n"
	t1=${EPOCHREALTIME/./}
	wait_both "$n.ecdsa.pem" "$serial"
	echo "$((T_DONE - t0)) $((T_DONE - t1))" >>"$T_DIR/prop.txt"
done

# 2. baseline: Redis replication of a value of the blob's size, seen on both replicas
blob_size=$(redis-cli -p "$PRIMARY_PORT" STRLEN spoacme:cert:p1.bench.example:ecdsa)
rdb_open a
rdb_open b
exec {RDB_p}<>"/dev/tcp/127.0.0.1/$PRIMARY_PORT"
: >"$T_DIR/repl.txt"
for ((i = 1; i <= N; i++)); do
	v=$(head -c "$blob_size" /dev/zero | tr '\0' "x")$i
	t0=${EPOCHREALTIME/./}
	printf 'SET bench:repl %s\r\n' "$v" >&"$RDB_p"
	IFS= read -r _ <&"$RDB_p"
	a="" b=""
	while :; do
		[ -n "$a" ] || { replica_has a bench:repl "$v" && a=1; }
		[ -n "$b" ] || { replica_has b bench:repl "$v" && b=1; }
		[ -n "$a" ] && [ -n "$b" ] && break
	done
	echo "$((${EPOCHREALTIME/./} - t0))" >>"$T_DIR/repl.txt"
done

# 3. baseline: this script pushes the certificate into both HAProxys itself, over the same
# open sessions (new, set with the PEM, commit, add to the crt-list)
: >"$T_DIR/direct.txt"
for ((i = N + 1; i <= 2 * N; i++)); do
	n=p$i.bench.example.ecdsa
	serial=$(serial_of "$T_DIR/certs/p$i.crt")
	pem=$(cat "$T_DIR/certs/p$i.crt" "$T_DIR/certs/p$i.key")
	t0=${EPOCHREALTIME/./}
	for x in a b; do
		NANS=4 cli_cmd "$x" "new ssl cert $n
set ssl cert $n <<
$pem

commit ssl cert $n
add ssl crt-list $(fleet_edge_var "$x" CERT_DIR)/crt-list $n"
	done
	wait_both "$n" "$serial"
	echo "$((T_DONE - t0))" >>"$T_DIR/direct.txt"
done

pct() { # FILE COLUMN P: the P-th percentile (nearest rank), in ms
	awk -v c="$2" '{ print $c }' "$1" | sort -n |
		awk -v p="$3" '{ v[NR] = $1 } END { r = int((p * NR + 99) / 100); if (r < 1) r = 1; printf "%.1f", v[r] / 1000 }'
}
p50s=$(pct "$T_DIR/prop.txt" 1 50) p99s=$(pct "$T_DIR/prop.txt" 1 99)
p50e=$(pct "$T_DIR/prop.txt" 2 50) p99e=$(pct "$T_DIR/prop.txt" 2 99)
p50r=$(pct "$T_DIR/repl.txt" 1 50) p99r=$(pct "$T_DIR/repl.txt" 1 99)
p50d=$(pct "$T_DIR/direct.txt" 1 50) p99d=$(pct "$T_DIR/direct.txt" 1 99)
echo "propagation to both edges over $N certificates (ms):"
echo "  loaders, from import start:  p50 $p50s  p99 $p99s"
echo "  loaders, from stored:        p50 $p50e  p99 $p99e"
echo "  baseline Redis replication:  p50 $p50r  p99 $p99r  (a ${blob_size}-byte value to both replicas)"
echo "  baseline direct push:        p50 $p50d  p99 $p99d  (runtime API commands piped by this script)"
awk -v a="$p50e" -v b="$p50d" -v c="$p99s" 'BEGIN {
	printf "  ratio loaders/direct push (p50, from stored): %.2f; target p99 < 1000 ms: %s\n", a / b, (c < 1000 ? "met" : "NOT met") }'
