#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Imported certificates are renewed. `cert-pusher import` of a short-lived certificate made with
# openssl (its own CA, 450 s of life, 300 s of them gone) makes the name managed: host:<name>
# valid with the leaf's serial, dates and CertID, and a renewal planned like the issuer's (2/3
# of the lifetime, +-5%), due then. The daemon then renews it through Pebble: the stored serial
# changes and the new chain verifies against Pebble's root, for ECDSA and for RSA (which was
# never imported). An import into a managed host only updates that key type.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/api.sh"

N=imported.example.com
CA=$T_DIR/ca
mkdir -p "$CA/new"
: >"$CA/index.txt"
echo 1000 >"$CA/serial"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj /CN=spoacme-import-test-ca -keyout "$CA/ca.key" -out "$CA/ca.crt" 2>/dev/null ||
	fail "openssl: CA"
cat >"$CA/ca.cnf" <<EOF
[ ca ]
default_ca = test_ca
[ test_ca ]
database = $CA/index.txt
new_certs_dir = $CA/new
serial = $CA/serial
default_md = sha256
policy = any
unique_subject = no
[ any ]
commonName = supplied
[ leaf ]
basicConstraints = CA:FALSE
subjectAltName = DNS:$N
authorityKeyIdentifier = keyid
EOF

# mk_imported TYPE START END OUT: OUT.crt (leaf + CA) and OUT.key for $N, valid START..END
# (unix seconds).
mk_imported() {
	local newkey
	if [ "$1" = rsa ]; then newkey=(-newkey rsa:2048); else
		newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256); fi
	(umask 077 && openssl req -new "${newkey[@]}" -nodes -subj "/CN=$N" -keyout "$4.key" \
		-out "$4.csr" 2>/dev/null) || fail "openssl: key"
	openssl ca -batch -config "$CA/ca.cnf" -cert "$CA/ca.crt" -keyfile "$CA/ca.key" \
		-extensions leaf -notext -in "$4.csr" -out "$4.leaf" \
		-startdate "$(date -u -d "@$2" +%Y%m%d%H%M%SZ)" \
		-enddate "$(date -u -d "@$3" +%Y%m%d%H%M%SZ)" >/dev/null 2>&1 || fail "openssl ca"
	cat "$4.leaf" "$CA/ca.crt" >"$4.crt"
}

api_stack

now=$(date +%s)
nb=$((now - 300)) na=$((now + 150))
mk_imported ecdsa "$nb" "$na" "$T_DIR/old"
old=$(openssl x509 -in "$T_DIR/old.crt" -noout -serial | cut -d= -f2)
"$PUSHER" --redis "127.0.0.1:$REDIS_PORT" --keyring "$KEYRING" --cert-file "$T_DIR/old.crt" \
	--key-file "$T_DIR/old.key" import "$N" 2>>"$T_DIR/import.log" ||
	fail "import: $(tail -3 "$T_DIR/import.log")"

h() { rcli HGET "spoacme:host:$N" "$1"; }
assert_eq "managed" 1 "$(rcli SISMEMBER spoacme:hosts "$N")"
assert_eq "state" valid "$(h state)"
assert_eq "serial_ecdsa" "$old" "$(h serial_ecdsa)"
assert_eq "not_before" "$nb" "$(h not_before)"
assert_eq "not_after" "$na" "$(h not_after)"
[ -n "$(h cert_id_ecdsa)" ] || fail "no CertID recorded for the imported leaf"
ra=$(h renew_at)
# 2/3 of 450 s after notBefore, +-5% of 450 s
[ "$ra" -ge $((nb + 300 - 23)) ] && [ "$ra" -le $((nb + 300 + 23)) ] ||
	fail "renew_at $ra is not 2/3 of the lifetime after $nb (+-5%)"
assert_eq "due" "$ra" "$(rcli ZSCORE spoacme:due "$N")"
t_log "imported $old: renew_at $((ra - now))s from now"

start_daemon pusher
for ((i = 0; i < 600; i++)); do
	s=$(h serial_ecdsa)
	[ -n "$s" ] && [ "$s" != "$old" ] && [ "$(h state)" = valid ] && [ -n "$(h serial_rsa)" ] &&
		break
	sleep 0.2
done
[ "$(h serial_ecdsa)" != "$old" ] ||
	fail "the imported certificate was not renewed (state $(h state): $(h last_error))"
wait_state "$N" valid 60
new_ecdsa=$(t_check_stored_cert "$N" ecdsa "$T_DIR/root.pem")
new_rsa=$(t_check_stored_cert "$N" rsa "$T_DIR/root.pem")
[ "$(h not_after)" -gt "$na" ] || fail "not_after did not move"
wait_served "$N" ecdsa "$new_ecdsa" 20
t_log "renewed by Pebble: ecdsa $old -> $new_ecdsa, rsa $new_rsa"

# an import into a managed host updates that key type only (dates and plan stay: it expires
# after what the host has)
ra=$(h renew_at) na=$(h not_after)
mk_imported rsa "$((now - 60))" "$((na + 86400))" "$T_DIR/rsa"
imp_rsa=$(openssl x509 -in "$T_DIR/rsa.crt" -noout -serial | cut -d= -f2)
"$PUSHER" --redis "127.0.0.1:$REDIS_PORT" --keyring "$KEYRING" --cert-file "$T_DIR/rsa.crt" \
	--key-file "$T_DIR/rsa.key" import "$N" 2>>"$T_DIR/import.log" ||
	fail "second import: $(tail -3 "$T_DIR/import.log")"
assert_eq "serial_rsa after the second import" "$imp_rsa" "$(h serial_rsa)"
assert_eq "serial_ecdsa after the second import" "$new_ecdsa" "$(h serial_ecdsa)"
assert_eq "renew_at after the second import" "$ra" "$(h renew_at)"
assert_eq "not_after after the second import" "$na" "$(h not_after)"
assert_eq "state after the second import" valid "$(h state)"
t_log "PASS: an imported certificate is managed and renewed by the issuer"
