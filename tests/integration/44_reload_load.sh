#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The edge through what operators do to HAProxy (issue 10): 200 names (ECDSA and RSA) loaded, a
# TLS client loop over random names and key types runs while HAProxy (master-worker, -W -S) is
# reloaded 5 times (the master CLI's `reload`, as `systemctl reload` does, and SIGUSR2), once
# while 20 renewals are being pushed, and restarted twice. Not one handshake may get the
# fallback certificate or fail; connections may only be refused while a restart has no
# listener. Afterwards every renewal is served and a new one still reaches the new worker.
set -eu
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/lib/loader.sh"
[ -x "$BIN/cert-pusher" ] || { echo "build first"; exit 77; }

N=${RELOAD_NAMES:-200}
RENEW=20
loader_stack
FALLBACK=$(serial_of "$T_DIR/fallback.crt")
mkdir -p "$T_DIR/certs"

# One key per type for every certificate (HAProxy does not care; RSA key generation for 400
# certificates would be most of this test's time).
(umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T_DIR/rsa.key" &&
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_DIR/ecdsa.key") \
	2>/dev/null || fail "openssl: keys"
# gen I TYPE [SUFFIX]: a certificate for r<I>.reload.example signed by the test CA. Its serial is
# chosen here, unique per name, type and suffix, and written beside it as "<name> <type>
# <serial>" in $f.serial (the form the TLS client prints: uppercase hex, no leading zero).
gen() {
	local n=r$1.reload.example f=$T_DIR/certs/r$1.$2${3:-} k serial
	case $2${3:-} in ecdsa) k=1 ;; rsa) k=2 ;; ecdsa.new) k=3 ;; rsa.new) k=4 ;; *) k=5 ;; esac
	serial=$(printf '5%07X%02X' "$1" "$k")
	openssl req -x509 -key "$T_DIR/$2.key" -days 30 -subj "/CN=$n" -set_serial "0x$serial" \
		-addext "subjectAltName=DNS:$n" -CA "$T_DIR/ca.crt" -CAkey "$T_DIR/ca.key" \
		-out "$f.crt" 2>/dev/null || fail "openssl: $n $2"
	echo "$n $2 $serial" >"$f.serial"
	(umask 077 && cp "$T_DIR/$2.key" "$f.key")
}
imp() { # I TYPE [SUFFIX]
	local f=$T_DIR/certs/r$1.$2${3:-}
	pusher --cert-file "$f.crt" --key-file "$f.key" import "r$1.reload.example" \
		>>"$T_DIR/import.log" 2>&1 || fail "import r$1 $2"
}
half() { # FN FROM TO
	local i
	for ((i = $2; i <= $3; i++)); do "$1" "$i" ecdsa && "$1" "$i" rsa; done
}
t_log "$((2 * N)) certificates"
half gen 1 $((N / 2)) &
g=$!
half gen $((N / 2 + 1)) "$N"
wait "$g"
half imp 1 $((N / 2)) &
g=$!
half imp $((N / 2 + 1)) "$N"
wait "$g"

start_loader --reconcile-interval 1h
for ((i = 0; i < 300; i++)); do
	[ "$(hp "show ssl crt-list $CRT_LIST" | grep -c "^$CERT_DIR/")" = $((2 * N)) ] && break
	sleep 0.1
done
assert_eq "crt-list entries" $((2 * N)) "$(hp "show ssl crt-list $CRT_LIST" | grep -c "^$CERT_DIR/")"
wait_served r1.reload.example rsa "$(serial_of "$T_DIR/certs/r1.rsa.crt")" 5

# The client loops (tests/tools/tls_probe): one line per handshake, "<phase> <name> <type>
# <serial|FAIL|REFUSED>", until $T_DIR/run is gone.
phase() { echo "$1" >"$T_DIR/run.tmp" && mv "$T_DIR/run.tmp" "$T_DIR/run"; }
phase load
names=$(for ((i = 1; i <= N; i++)); do echo "r$i.reload.example"; done)
# shellcheck disable=SC2086
"$BIN/tools/tls_probe" 127.0.0.1 "$HTTPS_PORT" --loop "$T_DIR/run" $names >"$T_DIR/client1.txt" &
C1=$!
T_PIDS+=("$C1")
# shellcheck disable=SC2086
"$BIN/tools/tls_probe" 127.0.0.1 "$HTTPS_PORT" --loop "$T_DIR/run" $names >"$T_DIR/client2.txt" &
C2=$!
T_PIDS+=("$C2")
# traffic PHASE: until both client loops made HANDSHAKES handshakes in PHASE (a count, not a time)
HANDSHAKES=60
traffic() {
	local i
	for ((i = 0; i < 600; i++)); do
		[ "$(grep -c "^$1 " "$T_DIR/client1.txt")" -ge $HANDSHAKES ] &&
			[ "$(grep -c "^$1 " "$T_DIR/client2.txt")" -ge $HANDSHAKES ] && return 0
		sleep 0.05
	done
	fail "phase $1: fewer than $HANDSHAKES handshakes per client in 30 s"
}
traffic load

for k in 1 2 3 4 5; do
	phase "reload$k"
	if [ "$k" = 3 ]; then
		# A reload while certificates are being pushed.
		for ((i = 1; i <= RENEW; i++)); do gen "$i" ecdsa .new; done
		n_loaded=$(grep -c "loaded name=" "$T_DIR/loader.log")
		(for ((i = 1; i <= RENEW; i++)); do imp "$i" ecdsa .new; done) &
		R=$!
		for ((i = 0; i < 200; i++)); do # the pushes have begun
			[ "$(grep -c "loaded name=" "$T_DIR/loader.log")" -gt "$n_loaded" ] && break
			sleep 0.05
		done
	fi
	if ((k % 2)); then t_haproxy_reload; else t_haproxy_reload usr2; fi
	[ "$k" = 3 ] && wait "$R"
	t_log "reload $k: worker $(t_haproxy_worker)"
	traffic "reload$k"
done
# The loader's session follows the new worker at its next probe: no old worker is kept alive
# by it (each exits once its last connection closes).
old_workers() {
	echo "show proc" | socat -t 5 - "UNIX-CONNECT:$HAPROXY_MASTER_SOCK" |
		awk '/^# old workers/ { o = 1; next } /^#/ { o = 0 } o && NF { print $1 }'
}
for ((i = 0; i < 50; i++)); do [ -z "$(old_workers)" ] && break; sleep 0.1; done
assert_eq "old workers still alive 5 s after the last reload" "" "$(old_workers | xargs)"
for k in 1 2; do
	phase "restart$k"
	t_stop_pid "$HAPROXY_PID"
	t_start_haproxy
	phase "after-restart$k"
	t_log "restart $k: worker $(t_haproxy_worker)"
	traffic "after-restart$k"
done
rm -f "$T_DIR/run"
wait "$C1" "$C2" || true
cat "$T_DIR/client1.txt" "$T_DIR/client2.txt" >"$T_DIR/client.txt"

total=$(wc -l <"$T_DIR/client.txt")
fallback=$(grep -c " $FALLBACK\$" "$T_DIR/client.txt" || true)
# A handshake HAProxy refuses for want of a certificate fails with a handshake_failure alert
# (an RSA-only client offered the ECDSA fallback): counted wherever it happens. Any other TLS
# error while a restart hard-stops HAProxy ("unexpected message": records cut mid-flight) is
# the stop cutting the connection, not a certificate answer.
failed=$(grep ' FAIL' "$T_DIR/client.txt" |
	awk '$1 !~ /^restart/ || /handshake failure|alert/' | wc -l)
stopcut=$(grep ' FAIL' "$T_DIR/client.txt" |
	awk '$1 ~ /^restart/ && !/handshake failure|alert/' | wc -l)
refused=$(grep -c ' REFUSED$' "$T_DIR/client.txt" || true)
refused_out=$(grep ' REFUSED$' "$T_DIR/client.txt" | grep -vc '^restart' || true)
cut=$(($(grep -c ' CUT$' "$T_DIR/client.txt" || true) + stopcut))
cut_out=$(grep ' CUT$' "$T_DIR/client.txt" | grep -vc '^restart' || true)
served=$(grep -cE ' [0-9A-F]+$' "$T_DIR/client.txt" || true)
served=$((served - fallback))
t_log "handshakes: $total attempted, $served served the name's certificate, $fallback fallback," \
	"$failed failed; connections: $refused refused and $cut cut by a stopping HAProxy" \
	"($refused_out refused and $cut_out cut outside a restart)"
for p in load reload1 reload2 reload3 reload4 reload5 restart1 after-restart1 restart2 after-restart2; do
	printf '  %-15s %s\n' "$p" "$(awk -v p="$p" '$1 == p { n++; c[$4 ~ /^[0-9A-F]+$/ ? "ok" : $4]++ }
		END { printf "%d:", n; for (k in c) printf " %s %d", k, c[k] }' "$T_DIR/client.txt")" >&2
done
[ "$total" -ge 1000 ] || fail "only $total handshakes attempted"
grep " $FALLBACK\$" "$T_DIR/client.txt" | head -5 >&2 || true
grep ' FAIL' "$T_DIR/client.txt" | head -5 >&2 || true
assert_eq "handshakes answered with the fallback certificate" 0 "$fallback"
assert_eq "failed handshakes" 0 "$failed"
assert_eq "connections refused outside a restart" 0 "$refused_out"
# A connection still in its handshake when the old worker soft-stops is rarely closed by
# HAProxy itself (seen: 1 in ~8,000 handshakes over 5 reloads on 3.4, none on 2.6); it is not
# answered with any certificate and the client retries. Bounded here, counted above.
outside=$(grep -vc '^restart' "$T_DIR/client.txt" || true)
[ $((cut_out * 1000)) -le "$outside" ] ||
	fail "connections cut outside a restart: $cut_out of $outside (more than 1 in 1000)"
# Every serial seen was one of the name's own (the old or the renewed one).
cat "$T_DIR"/certs/*.serial | sort >"$T_DIR/own.txt"
assert_eq "serials known" $((2 * N + RENEW)) "$(wc -l <"$T_DIR/own.txt")"
assert_eq "a chosen serial is the certificate's" "$(cut -d' ' -f3 "$T_DIR/certs/r$N.rsa.serial")" \
	"$(serial_of "$T_DIR/certs/r$N.rsa.crt")"
awk '$4 ~ /^[0-9A-F]+$/ { print $2, $3, $4 }' "$T_DIR/client.txt" | sort -u >"$T_DIR/seen.txt"
foreign=$(comm -23 "$T_DIR/seen.txt" "$T_DIR/own.txt")
[ -z "$foreign" ] || fail "serials that are not the name's own: $(head -3 <<<"$foreign")"

t_log "every renewal pushed during the reload is served by the last worker"
for ((i = 1; i <= RENEW; i++)); do
	wait_served "r$i.reload.example" ecdsa "$(serial_of "$T_DIR/certs/r$i.ecdsa.new.crt")" 10
done
wait_served "r$N.reload.example" rsa "$(serial_of "$T_DIR/certs/r$N.rsa.crt")" 5

t_log "a renewal after all that still reaches the current worker"
gen "$N" ecdsa .last
imp "$N" ecdsa .last
wait_served "r$N.reload.example" ecdsa "$(serial_of "$T_DIR/certs/r$N.ecdsa.last.crt")" 5
t_log "PASS"
