#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The shipped haproxy.cfg and cert-pusher.service work together: HAProxy started as root in
# master-worker mode (-W -S, as Debian's haproxy.service) with the shipped config, its worker
# running as the haproxy user; the loader run as that user too (the unit's User=haproxy),
# with a key ring only that user can read and a certificate directory on tmpfs owned by it
# (what spoacme.tmpfiles makes of /run/spoacme). The loader must reach the stats socket and
# write its directory: a TLS client sees the imported serials (ECDSA and RSA), the files are
# haproxy's and 0600, and after a reload on the master socket the new worker, started by the
# root master from the shipped config, serves them on its first handshake.
set -eu
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/lib/loader.sh"
[ -x "$BIN/cert-pusher" ] || { echo "build first"; exit 77; }
id haproxy >/dev/null 2>&1 || { t_log "SKIP: no haproxy user (Debian's haproxy package)"; exit 77; }
command -v setpriv >/dev/null || { t_log "SKIP: setpriv missing (util-linux)"; exit 77; }
[ "$(id -u)" = 0 ] || { t_log "SKIP: needs root (HAProxy drops to haproxy)"; exit 77; }

# as_haproxy CMD...: CMD as the haproxy user and group, as systemd's User=/Group= would.
as_haproxy() { setpriv --reuid=haproxy --regid=haproxy --init-groups "$@"; }

# The haproxy user must reach the sockets in $T_DIR (mktemp made it 0700 root), not list it.
chmod 711 "$T_DIR"
# The certificate directory as tmpfiles.d makes /run/spoacme: haproxy's, 0700, empty crt-list.
t_ramdir CERT_DIR
chown haproxy:haproxy "$CERT_DIR"
CRT_LIST=$CERT_DIR/crt-list
(umask 077 && : >"$CRT_LIST")
chown haproxy:haproxy "$CRT_LIST"

t_start_redis
t_start_haproxy
t_log "$("${HAPROXY_BIN:-haproxy}" -v | head -1 | cut -d' ' -f1-3), master-worker"
[ -n "${HAPROXY_MASTER_SOCK:-}" ] || fail "t_start_haproxy did not start master-worker mode"
worker=$(t_haproxy_worker)
[ -n "$worker" ] || fail "no worker in the master CLI's show proc"
assert_eq "the worker's user" haproxy "$(ps -o user= -p "$worker" | xargs)"
assert_eq "the master's user" root "$(ps -o user= -p "$HAPROXY_PID" | xargs)"
assert_eq "stats socket mode and owner" "660 haproxy haproxy" "$(stat -c '%a %U %G' "$HAPROXY_SOCK")"

mk_keyring
chown haproxy:haproxy "$KEYRING"
mk_ca
for t in ecdsa rsa; do
	mk_leaf a.example "$t" "$T_DIR/a.$t"
	import a.example "$T_DIR/a.$t"
done
ECDSA=$(serial_of "$T_DIR/a.ecdsa.crt")
RSA=$(serial_of "$T_DIR/a.rsa.crt")
as_haproxy test -r "$KEYRING" || fail "the haproxy user cannot read the key ring"

t_log "the loader as the haproxy user"
t_bg loader setpriv --reuid=haproxy --regid=haproxy --init-groups "$BIN/cert-pusher" \
	--redis "127.0.0.1:$REDIS_PORT" --keyring "$KEYRING" -v run --role loader \
	--haproxy-socket "$HAPROXY_SOCK" --cert-dir "$CERT_DIR" --haproxy-bufsize 32768
LOADER_PID=$T_LAST_PID
wait_served a.example ecdsa "$ECDSA" 20
wait_served a.example rsa "$RSA" 20
assert_eq "loader process user" haproxy "$(ps -o user= -p "$LOADER_PID" | xargs)"
grep -qi "permission denied" "$T_DIR/loader.log" && fail "the loader logged Permission denied"
for t in ecdsa rsa; do
	f=$CERT_DIR/a.example.$t.pem
	[ -f "$f" ] || fail "no $f"
	assert_eq "$f mode and owner" "600 haproxy haproxy" "$(stat -c '%a %U %G' "$f")"
	grep -qF "$f" "$CERT_DIR/crt-list" || fail "the crt-list does not name $f"
done
assert_eq "crt-list owner" haproxy "$(stat -c '%U' "$CERT_DIR/crt-list")"

t_log "reload on the master socket: the new worker starts with the certificates"
t_haproxy_reload
new=$(t_haproxy_worker)
[ "$new" != "$worker" ] || fail "the reload kept worker $worker"
assert_eq "the new worker's user" haproxy "$(ps -o user= -p "$new" | xargs)"
assert_eq "first ECDSA handshake after the reload" "$ECDSA" "$(served_serial a.example)"
assert_eq "first RSA handshake after the reload" "$RSA" "$(served_serial a.example rsa)"
assert_eq "curl after the reload" 200 "$(curl_health a.example)"
# The loader reaches the new worker too: an update is served.
mk_leaf a.example ecdsa "$T_DIR/a2.ecdsa"
import a.example "$T_DIR/a2.ecdsa"
wait_served a.example ecdsa "$(serial_of "$T_DIR/a2.ecdsa.crt")" 10
kill -0 "$LOADER_PID" || fail "the loader died"
grep -qi "permission denied" "$T_DIR/loader.log" && fail "the loader logged Permission denied"
rm -f "$T_DIR"/*.key
t_log "PASS"
