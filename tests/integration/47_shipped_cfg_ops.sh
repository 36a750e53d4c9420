#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The shipped haproxy.cfg as an operator deploys it: plain HTTP answers challenges (hit 200 with
# the stored bytes, miss 404) and redirects every other request to HTTPS with a 301 that keeps
# the path and query; HTTPS serves the application; each request leaves an httplog line (the
# CA's validation requests are visible at the default log level); the worker runs as the
# configured user inside its chroot; the stats socket is that user's, mode 660, and answers
# that user (as the loader, which runs as haproxy, uses it).
set -eu
. "$(dirname "$0")/../lib/common.sh"

id haproxy >/dev/null 2>&1 || { t_log "no haproxy user"; exit 77; }
[ "$(id -u)" = 0 ] || { t_log "needs root to start HAProxy with user/chroot"; exit 77; }
[ -d /var/lib/haproxy ] || fail "no /var/lib/haproxy (Debian's haproxy package makes it)"

t_start_redis
t_start_agent
APP_PORT=$(t_free_port)
# The application behind the edge: a one-line HTTP server. It reads the request's head before
# it answers: answering at once and closing with the request unread made the kernel reset the
# connection, and HAProxy answered 502 (SH--) when the reset came first (once, on a loaded run).
cat >"$T_DIR/app.sh" <<'EOS'
while read -r l && [ -n "${l%$'\r'}" ]; do :; done
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\napp'
EOS
t_bg app socat "TCP-LISTEN:$APP_PORT,bind=127.0.0.1,reuseaddr,fork" EXEC:"bash $T_DIR/app.sh"
t_wait_tcp 127.0.0.1 "$APP_PORT" 10 || fail "app did not start"
t_start_haproxy
t_wait_agent_up 10 || fail "HAProxy never marked spoa-agent UP"

TOKEN=evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA
KEYAUTH=$TOKEN.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI
rcli SET "spoacme:chal:$TOKEN" "$KEYAUTH" >/dev/null
H=http://127.0.0.1:$HTTP_PORT

out=$(curl -sS --max-time 5 -o "$T_DIR/body" -w '%{http_code}' -H 'Host: www.example.com' \
	"$H/.well-known/acme-challenge/$TOKEN")
assert_eq "challenge hit over http" 200 "$out"
printf '%s' "$KEYAUTH" | cmp -s - "$T_DIR/body" || fail "hit body: $(cat "$T_DIR/body")"
out=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$H/.well-known/acme-challenge/nosuchtoken")
assert_eq "challenge miss over http (not redirected)" 404 "$out"
out=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: www.example.com' \
	"$H/shop/cart?item=1")
assert_eq "other http request" "301 https://www.example.com/shop/cart?item=1" "$out"
out=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$H/spoacme-haproxy-health")
assert_eq "monitor-uri over http" 200 "$out"
out=$(curl -sS --max-time 5 -k "https://127.0.0.1:$HTTPS_PORT/shop")
assert_eq "application over https" app "$out"

# httplog lines at the default level: the challenge request and the redirect.
for i in $(seq 50); do
	grep -q "GET /.well-known/acme-challenge/$TOKEN HTTP/1.1" "$T_DIR/haproxy.log" &&
		grep -q ' 301 .*"GET /shop/cart?item=1 HTTP/1.1"' "$T_DIR/haproxy.log" && break
	sleep 0.1
done
grep -q "GET /.well-known/acme-challenge/$TOKEN HTTP/1.1" "$T_DIR/haproxy.log" ||
	fail "no access log line for the challenge request: $(tail -5 "$T_DIR/haproxy.log")"
grep -q ' 301 .*"GET /shop/cart?item=1 HTTP/1.1"' "$T_DIR/haproxy.log" ||
	fail "no access log line for the redirect"

# The worker: the configured user, chrooted; the socket the loader's user can use.
worker=$(t_haproxy_worker)
[ -n "$worker" ] || fail "no worker in show proc"
assert_eq "worker's user" haproxy "$(ps -o user= -p "$worker" | tr -d ' ')"
assert_eq "worker's root" /var/lib/haproxy "$(readlink "/proc/$worker/root")"
assert_eq "stats socket owner and mode" "haproxy haproxy 660" "$(stat -c '%U %G %a' "$HAPROXY_SOCK")"
chmod o+x "$T_DIR" # traverse only, as /run/haproxy is to the loader
out=$(setpriv --reuid haproxy --regid haproxy --clear-groups \
	socat -t 2 - "UNIX-CONNECT:$HAPROXY_SOCK" <<<"show ssl crt-list" 2>&1) || true
grep -qF "$CRT_LIST" <<<"$out" || fail "the haproxy user cannot use the stats socket: $out"
t_log "http: challenges answered, the rest redirected; logs, chroot, socket ok ($("$HAPROXY_BIN" -v | head -1 | cut -d' ' -f3))"
