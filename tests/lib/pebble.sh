# SPDX-License-Identifier: MIT
# Pebble (Let's Encrypt's test CA) and pebble-challtestsrv (its mock DNS) on free loopback ports,
# for integration tests, benchmarks and the local stack. Source tests/lib/common.sh first.
#
# t_start_pebble needs HTTP_PORT (HAProxy's HTTP frontend: where Pebble sends HTTP-01
# validations) and sets:
#   PEBBLE_DIR_URL     https://127.0.0.1:PORT/dir (the ACME directory)
#   PEBBLE_CA          file with the CA of Pebble's listener certificate (for --ca-bundle)
#   PEBBLE_MGMT        https://127.0.0.1:PORT (management: /roots/0, /intermediates/0)
#   CTS_MGMT           http://127.0.0.1:PORT (challtestsrv management: /add-a, /clear-a)
#   PEBBLE_PID, CTS_PID
# Environment passed through to Pebble: PEBBLE_WFE_NONCEREJECT (default 5), PEBBLE_AUTHZREUSE,
# PEBBLE_VALIDITY (certificateValidityPeriod, seconds, optional), PEBBLE_EAB (require External
# Account Binding with these MAC keys), PEBBLE_PROFILES (the members of Pebble 2.7's "profiles"
# object, e.g. '"default": {"validityPeriod": 7776000}'; 2.7 ignores PEBBLE_VALIDITY).
# PEBBLE_VA_NOSLEEP is 1.
#
# PEBBLE_BIN is the Pebble to run (Debian's 2.4 on PATH unless told): t_need_pebble27 points it
# at build/peers/pebble-2.7.0/pebble (scripts/build-peers.sh) for the ARI and profile scenarios.
# pebble-challtestsrv is always Debian's.
#
# shellcheck shell=bash

PEBBLE_BIN=${PEBBLE_BIN:-pebble}

# t_need_pebble27: use Pebble 2.7 (renewalInfo, meta.profiles), or skip the scenario (exit 77)
# with a notice when scripts/build-peers.sh has not built it.
t_need_pebble27() {
	local p=$ROOT/build/peers/pebble-2.7.0/pebble
	if [ ! -x "$p" ]; then
		t_log "SKIP: $p not built (scripts/build-peers.sh needs ../shared/vendor)"
		exit 77
	fi
	PEBBLE_BIN=$p
}

# t_pebble_listener_cert: a throw-away CA and a listener certificate for localhost/127.0.0.1
# (Debian's package ships none).
t_pebble_listener_cert() {
	local d=$T_DIR/pebble
	mkdir -p "$d"
	[ -f "$d/ca.pem" ] && return 0
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj /CN=spoacme-test-pebble-listener-ca -keyout "$d/ca.key" -out "$d/ca.pem" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
		2>/dev/null || fail "openssl: pebble listener CA"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
		-keyout "$d/key.pem" -out "$d/csr.pem" 2>/dev/null || fail "openssl: pebble CSR"
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' \
		>"$d/ext.cnf"
	openssl x509 -req -in "$d/csr.pem" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
		-days 30 -extfile "$d/ext.cnf" -out "$d/cert.pem" 2>/dev/null ||
		fail "openssl: pebble listener certificate"
	rm -f "$d/ca.key" "$d/csr.pem"
}

# t_start_pebble: challtestsrv (DNS answering every name with 127.0.0.1) then Pebble.
t_start_pebble() {
	[ -n "${HTTP_PORT:-}" ] || fail "t_start_pebble: HTTP_PORT unset (start haproxy first)"
	command -v "$PEBBLE_BIN" >/dev/null && command -v pebble-challtestsrv >/dev/null || {
		t_log "SKIP: pebble not installed"
		exit 77
	}
	t_pebble_listener_cert
	local d=$T_DIR/pebble validity="" try
	CTS_DNS_PORT=$(t_free_port)
	CTS_MGMT_PORT=$(t_free_port)
	t_bg challtestsrv pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
		-dns01 "127.0.0.1:$CTS_DNS_PORT" -management "127.0.0.1:$CTS_MGMT_PORT" \
		-http01 "" -https01 "" -tlsalpn01 ""
	CTS_PID=$T_LAST_PID
	t_wait_tcp 127.0.0.1 "$CTS_MGMT_PORT" 10 || fail "pebble-challtestsrv did not start"
	CTS_MGMT=http://127.0.0.1:$CTS_MGMT_PORT
	[ -n "${PEBBLE_VALIDITY:-}" ] &&
		validity=",\"certificateValidityPeriod\": $PEBBLE_VALIDITY"
	# PEBBLE_EAB='"kid-1": "<base64url MAC key>"': require External Account Binding
	[ -n "${PEBBLE_EAB:-}" ] &&
		validity="$validity,\"externalAccountMACKeys\": {$PEBBLE_EAB}"
	[ -n "${PEBBLE_PROFILES:-}" ] && validity="$validity,\"profiles\": {$PEBBLE_PROFILES}"
	PEBBLE_NONCEREJECT=${PEBBLE_WFE_NONCEREJECT:-5}
	# A port found free may be taken before Pebble binds it (other suites share the machine):
	# new ports and another try when Pebble says so.
	for try in 1 2 3; do
		PEBBLE_PORT=$(t_free_port)
		PEBBLE_MGMT_PORT=$(t_free_port)
		PEBBLE_TLS_PORT=$(t_free_port)
		cat >"$d/config.json" <<EOF
{
  "pebble": {
    "listenAddress": "127.0.0.1:$PEBBLE_PORT",
    "managementListenAddress": "127.0.0.1:$PEBBLE_MGMT_PORT",
    "certificate": "$d/cert.pem",
    "privateKey": "$d/key.pem",
    "httpPort": $HTTP_PORT,
    "tlsPort": $PEBBLE_TLS_PORT,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": $([ -n "${PEBBLE_EAB:-}" ] && echo true || echo false)$validity
  }
}
EOF
		t_pebble_launch_try && return 0
		t_stop_pid "$PEBBLE_PID"
		tail -n 5 "$T_DIR/pebble.log" | grep -q 'address already in use' || break
		t_log "pebble: a port was taken meanwhile (try $try), new ports"
	done
	fail "pebble did not start (see $T_DIR/pebble.log)"
}

# t_pebble_launch: start Pebble with the config t_start_pebble wrote (also a restart).
t_pebble_launch() {
	t_pebble_launch_try || fail "pebble did not start (see $T_DIR/pebble.log)"
}

# t_pebble_launch_try: t_pebble_launch, returning 1 when Pebble does not come up.
t_pebble_launch_try() {
	local d=$T_DIR/pebble
	PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=$PEBBLE_NONCEREJECT \
		PEBBLE_AUTHZREUSE=${PEBBLE_AUTHZREUSE:-50} \
		t_bg pebble "$PEBBLE_BIN" -config "$d/config.json" -dnsserver "${PEBBLE_DNS:-127.0.0.1:$CTS_DNS_PORT}"
	PEBBLE_PID=$T_LAST_PID
	t_wait_tcp 127.0.0.1 "$PEBBLE_PORT" 20 && t_wait_tcp 127.0.0.1 "$PEBBLE_MGMT_PORT" 20 ||
		return 1
	PEBBLE_CA=$d/ca.pem
	PEBBLE_DIR_URL=https://127.0.0.1:$PEBBLE_PORT/dir
	PEBBLE_MGMT=https://127.0.0.1:$PEBBLE_MGMT_PORT
	# both listeners answer from this Pebble (it exits when one of its binds fails)
	curl -sf --cacert "$PEBBLE_CA" "$PEBBLE_DIR_URL" >/dev/null &&
		curl -sf --cacert "$PEBBLE_CA" "$PEBBLE_MGMT/roots/0" >/dev/null &&
		kill -0 "$PEBBLE_PID" 2>/dev/null
}

# t_restart_pebble: stop Pebble and start it again on the same ports: it forgets every account,
# order and certificate, and makes new roots.
t_restart_pebble() {
	t_stop_pid "$PEBBLE_PID"
	t_pebble_launch
}

# t_pebble_roots OUT: Pebble's current issuing root (changes at every start) into OUT.
t_pebble_roots() {
	curl -sf --cacert "$PEBBLE_CA" "$PEBBLE_MGMT/roots/0" >"$1" ||
		fail "could not fetch Pebble's root from $PEBBLE_MGMT/roots/0"
}

# t_cts_add_a NAME ADDR: make challtestsrv resolve NAME to ADDR (loopback addresses only).
t_cts_add_a() {
	case "$2" in 127.*) ;; *) fail "t_cts_add_a: $2 is not a loopback address" ;; esac
	curl -sf -X POST -d "{\"host\":\"$1\",\"addresses\":[\"$2\"]}" "$CTS_MGMT/add-a" >/dev/null ||
		fail "challtestsrv add-a $1 $2 failed"
}

# t_keyring: a fresh key ring (mode 0600) in $T_DIR/keyring; sets KEYRING.
t_keyring() {
	KEYRING=$T_DIR/keyring
	(umask 077 && printf 'test1 %s\n' "$(openssl rand -base64 32)" >"$KEYRING")
}

# t_pusher_issue [args...]: cert-pusher issue against Pebble with REDIS_PORT and KEYRING;
# stdout to $T_DIR/issue.out, stderr appended to $T_DIR/pusher.log. Returns its exit status.
t_pusher_issue() {
	"${PUSHER:-$BIN/cert-pusher}" --redis "127.0.0.1:$REDIS_PORT" --keyring "$KEYRING" issue \
		--directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA" "$@" \
		>"$T_DIR/issue.out" 2>>"$T_DIR/pusher.log"
}

# t_check_stored_cert NAME TYPE ROOT: open cert:NAME:TYPE with the test key ring (plaintext
# only inside $T_DIR, deleted before returning) and check: the chain verifies against ROOT, the
# leaf's SAN is exactly DNS:NAME, the key type, the key matches the leaf, and the serial is the
# one in host:NAME serial_TYPE. Prints the serial.
t_check_stored_cert() {
	local name=$1 type=$2 root=$3 d=$T_DIR/open.$1.$2 serial want
	mkdir -p "$d"
	rcli --raw GET "spoacme:cert:$name:$type" | head -c -1 >"$d/blob"
	[ -s "$d/blob" ] || fail "no blob at spoacme:cert:$name:$type"
	grep -q "BEGIN" "$d/blob" && fail "cert:$name:$type holds PEM text in clear"
	"$BIN/tools/blob_open" "$KEYRING" "spoacme:cert:$name:$type" <"$d/blob" >"$d/pt.pem" ||
		fail "blob_open cert:$name:$type"
	# a blob copied under another key name does not open (the key name is in the AAD)
	"$BIN/tools/blob_open" "$KEYRING" "spoacme:cert:$name:other" <"$d/blob" >/dev/null \
		2>&1 && fail "cert:$name:$type opened under another key name"
	awk '/BEGIN CERTIFICATE/ { n++ } n == 1 && !done { print } /END CERTIFICATE/ && n == 1 { done = 1 }' \
		"$d/pt.pem" >"$d/leaf.pem"
	awk '/BEGIN CERTIFICATE/ { n++ } n >= 2 && /BEGIN CERTIFICATE/,/END CERTIFICATE/ { print }' \
		"$d/pt.pem" >"$d/chain.pem"
	sed -n '/BEGIN PRIVATE KEY/,/END PRIVATE KEY/p' "$d/pt.pem" >"$d/key.pem"
	[ -s "$d/key.pem" ] || fail "cert:$name:$type: no PKCS#8 private key in the blob"
	[ -s "$d/chain.pem" ] || fail "cert:$name:$type: no intermediate after the leaf"
	openssl verify -CAfile "$root" -untrusted "$d/chain.pem" "$d/leaf.pem" >"$d/verify" 2>&1 ||
		fail "cert:$name:$type does not verify: $(cat "$d/verify")"
	assert_eq "SAN of $name/$type" "DNS:$name" \
		"$(openssl x509 -in "$d/leaf.pem" -noout -ext subjectAltName | tail -n +2 | tr -d ' ')"
	if [ "$type" = ecdsa ]; then
		openssl x509 -in "$d/leaf.pem" -noout -text | grep -q 'ASN1 OID: prime256v1' ||
			fail "$name/$type: leaf key is not P-256"
	else
		openssl x509 -in "$d/leaf.pem" -noout -text | grep -q 'Public-Key: (2048 bit)' ||
			fail "$name/$type: leaf key is not RSA 2048"
	fi
	cmp -s <(openssl pkey -in "$d/key.pem" -pubout) <(openssl x509 -in "$d/leaf.pem" -noout -pubkey) ||
		fail "$name/$type: private key does not match the leaf"
	serial=$(openssl x509 -in "$d/leaf.pem" -noout -serial | cut -d= -f2)
	want=$(rcli HGET "spoacme:host:$name" "serial_$type")
	assert_eq "serial of $name/$type in host:$name" "$serial" "$want"
	rm -rf "$d"
	echo "$serial"
}

# t_assert_no_plaintext_keys: dump every value in Redis; none may hold "PRIVATE KEY".
t_assert_no_plaintext_keys() {
	local k t
	: >"$T_DIR/dump"
	while IFS= read -r k; do
		t=$(rcli TYPE "$k")
		case "$t" in
		string) rcli --raw GET "$k" ;;
		hash) rcli --raw HGETALL "$k" ;;
		set) rcli --raw SMEMBERS "$k" ;;
		zset) rcli --raw ZRANGE "$k" 0 -1 WITHSCORES ;;
		list) rcli --raw LRANGE "$k" 0 -1 ;;
		*) fail "unexpected Redis type $t for $k" ;;
		esac >>"$T_DIR/dump"
	done < <(rcli --scan)
	[ -s "$T_DIR/dump" ] || fail "Redis dump is empty"
	if grep -a -q "PRIVATE KEY" "$T_DIR/dump"; then
		fail "a private key is stored in clear in Redis"
	fi
	rm -f "$T_DIR/dump"
}

# t_b64url: stdin as unpadded base64url (RFC 7515 §2).
t_b64url() { basenc --base64url -w0 | tr -d '='; }

# t_pebble_status SERIAL: "Status Reason" of the certificate with SERIAL (hex, any case) as
# Pebble's management interface reports it.
t_pebble_status() {
	local s
	s=$(tr 'A-F' 'a-f' <<<"$1" | sed 's/^0*//')
	curl -sf --cacert "$PEBBLE_CA" "$PEBBLE_MGMT/cert-status-by-serial/$s" |
		jq -r '"\(.Status) \(.Reason // "-")"'
}

# t_cert_id LEAF.pem: the RFC 9773 CertID of LEAF computed here with openssl: base64url of the
# Authority Key Identifier's keyIdentifier, ".", base64url of the serial's DER content octets.
t_cert_id() {
	local aki serial
	aki=$(openssl x509 -in "$1" -noout -ext authorityKeyIdentifier |
		sed -n 's/^ *\(keyid:\)\{0,1\}\([0-9A-Fa-f:]\{8,\}\) *$/\2/p' | head -n 1 | tr -d ':')
	serial=$(openssl x509 -in "$1" -noout -serial | cut -d= -f2)
	[ $((${#serial} % 2)) = 0 ] || serial=0$serial
	# a positive INTEGER whose first octet has the high bit set gets a leading zero octet
	case "$serial" in [89A-Fa-f]*) serial=00$serial ;; esac
	[ -n "$aki" ] && [ -n "$serial" ] || fail "t_cert_id: no AKI or serial in $1"
	printf '%s.%s\n' "$(xxd -r -p <<<"$aki" | t_b64url)" "$(xxd -r -p <<<"$serial" | t_b64url)"
}

# t_ari_window CERT_ID: "START END" (unix seconds) of Pebble's renewalInfo for CERT_ID, asked
# here with curl (RFC 9773 §4.1: GET <renewalInfo>/<CertID>).
t_ari_window() {
	local base
	base=$(curl -sf --cacert "$PEBBLE_CA" "$PEBBLE_DIR_URL" | jq -r .renewalInfo)
	[ -n "$base" ] && [ "$base" != null ] || fail "Pebble's directory has no renewalInfo"
	# fromdate takes no fractional seconds: drop them
	curl -sf --cacert "$PEBBLE_CA" "$base/$1" | jq -r '.suggestedWindow |
		[.start, .end] | map(sub("\\.[0-9]+"; "") | fromdate) | "\(.[0]) \(.[1])"'
}

# t_acme_revoke_by_cert_key LEAF.pem KEY.pem REASON: revoke LEAF at Pebble outside spoacme,
# with RFC 8555 §7.6 revokeCert signed by the certificate's own RSA key (RS256, "jwk" in the
# protected header). badNonce is retried with a fresh nonce. Fails the test unless 200.
t_acme_revoke_by_cert_key() {
	local leaf=$1 key=$2 reason=$3 dir url nonce_url n jwk prot payload sig code i
	dir=$(curl -sf --cacert "$PEBBLE_CA" "$PEBBLE_DIR_URL") || fail "Pebble's directory"
	url=$(jq -r .revokeCert <<<"$dir")
	nonce_url=$(jq -r .newNonce <<<"$dir")
	openssl rsa -in "$key" -noout -text 2>/dev/null | grep -q 'publicExponent: 65537' ||
		fail "t_acme_revoke_by_cert_key: $key is not an RSA key with e=65537"
	n=$(openssl rsa -in "$key" -noout -modulus | cut -d= -f2 | xxd -r -p | t_b64url)
	jwk="{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"$n\"}"
	payload=$(printf '{"certificate":"%s","reason":%d}' \
		"$(openssl x509 -in "$leaf" -outform DER | t_b64url)" "$reason" | t_b64url)
	for ((i = 0; i < 5; i++)); do
		nonce=$(curl -sfI --cacert "$PEBBLE_CA" "$nonce_url" |
			awk 'tolower($1) == "replay-nonce:" { print $2 }' | tr -d '\r')
		prot=$(printf '{"alg":"RS256","jwk":%s,"nonce":"%s","url":"%s"}' "$jwk" "$nonce" "$url" |
			t_b64url)
		sig=$(printf '%s.%s' "$prot" "$payload" | openssl dgst -sha256 -sign "$key" | t_b64url)
		code=$(curl -s --cacert "$PEBBLE_CA" -o "$T_DIR/revoke.out" -w '%{http_code}' \
			-H 'Content-Type: application/jose+json' --data-binary \
			"{\"protected\":\"$prot\",\"payload\":\"$payload\",\"signature\":\"$sig\"}" "$url")
		[ "$code" = 200 ] && return 0
		grep -q badNonce "$T_DIR/revoke.out" || break
	done
	fail "revokeCert answered $code: $(cat "$T_DIR/revoke.out")"
}

# t_open_blob NAME TYPE DIR: the leaf (DIR/leaf.pem) and key (DIR/key.pem, mode 0600) of
# cert:NAME:TYPE, opened with the test key ring. The caller removes DIR.
t_open_blob() {
	local d=$3
	(umask 077 && mkdir -p "$d")
	rcli --raw GET "spoacme:cert:$1:$2" | head -c -1 >"$d/blob"
	(umask 077 && "$BIN/tools/blob_open" "$KEYRING" "spoacme:cert:$1:$2" <"$d/blob" >"$d/pt.pem") ||
		fail "blob_open cert:$1:$2"
	awk '/BEGIN CERTIFICATE/ { n++ } n == 1 { print } /END CERTIFICATE/ && n == 1 { exit }' \
		"$d/pt.pem" >"$d/leaf.pem"
	(umask 077 && sed -n '/BEGIN PRIVATE KEY/,/END PRIVATE KEY/p' "$d/pt.pem" >"$d/key.pem")
	rm -f "$d/pt.pem" "$d/blob"
	[ -s "$d/leaf.pem" ] && [ -s "$d/key.pem" ] || fail "cert:$1:$2: no leaf or key in the blob"
}

# t_lifetime LEAF.pem: notAfter - notBefore + 1 in seconds (RFC 5280 validity is inclusive).
t_lifetime() {
	local nb na
	nb=$(date -d "$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)" +%s)
	na=$(date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s)
	echo $((na - nb + 1))
}

# t_ca: Pebble, a key ring, and Pebble's root in $T_DIR/root.pem. Variables set on its command
# line reach Pebble (PEBBLE_VALIDITY=45 t_ca).
t_ca() {
	t_start_pebble
	t_keyring
	t_pebble_roots "$T_DIR/root.pem"
}
