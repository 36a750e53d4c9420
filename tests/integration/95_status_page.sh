#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What an operator looks at, against a real Redis and `cert-pusher run --role issuer,api`:
# - the status page (GET /, the HTML embedded in the binary) loaded in headless Chromium with
#   the read-only token: the hosts with their state, days left and last error, the edges with
#   one marked stale, what each edge serves, the expiry timeline; a screenshot is kept in the
#   test logs (build/test-logs/95_status_page.png);
# - the API's details: ?state= filters the list or is refused (400), the list carries the
#   same attributes as GET of one host, HEAD and TRACE are answered in JSON, the read-only
#   token reads but cannot write (403);
# - the CLI's tables and JSON (ls, ls --json, show --json, edges ls, edges forget, usage
#   errors) against golden files in tests/golden/ (times, serials and ports normalised;
#   GOLDEN_UPDATE=1 rewrites them).
# - the logs: the daemon timestamps each line (ISO 8601, UTC) unless JOURNAL_STREAM says journald
#   records it, hostnames are host=, times in messages ISO 8601.
# Hosts: one imported certificate (valid, served current by edge-1, an old serial on edge-2
# whose heartbeat is an hour old), two whose orders fail (the ACME directory is a closed port),
# one of them with a 70-character name.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/loader.sh"

START=$(date +%s)
PUSHER=$BIN/cert-pusher
GOLDEN=$ROOT/tests/golden
LOGS=${T_LOGS:-$ROOT/build/test-logs}
mkdir -p "$LOGS"
command -v jq >/dev/null || fail "jq missing"
CHROMIUM=$(command -v chromium || true)
[ -n "$CHROMIUM" ] || fail "chromium missing (Debian package chromium)"

t_start_redis
t_log "redis up"
mk_keyring
TOKEN=$(openssl rand -hex 24)
RTOKEN=$(openssl rand -hex 24)
(umask 077 && echo "$TOKEN" >"$T_DIR/token" && echo "$RTOKEN" >"$T_DIR/rtoken")
API_PORT=$(t_free_port)
DEAD_PORT=$(t_free_port)
API=http://127.0.0.1:$API_PORT
V=valid.example.com
F=failed.example.com
L=a-very-long-label-to-check-that-the-table-keeps-its-columns.example.com

mk_ca
mk_leaf "$V" ecdsa "$T_DIR/v"
import "$V" "$T_DIR/v"
t_bg pusher "$PUSHER" --redis "127.0.0.1:$REDIS_PORT" --keyring "$KEYRING" \
	--directory "https://127.0.0.1:$DEAD_PORT/dir" --backoff-min 1h --due-poll 100ms \
	run --role issuer,api --api "127.0.0.1:$API_PORT" --api-token-file "$T_DIR/token" \
	--api-read-token-file "$T_DIR/rtoken"
t_wait_tcp 127.0.0.1 "$API_PORT" 10 || fail "the API did not start"

# req TOKEN METHOD PATH [BODY]: the status on the first line, then the body.
req() {
	local args=()
	[ -n "$1" ] && args+=(-H "Authorization: Bearer $1")
	[ -n "${4:-}" ] && args+=(-H "Content-Type: application/json" --data-binary "$4")
	curl -s -o "$T_DIR/body" -w '%{http_code}\n' -X "$2" "${args[@]}" "$API$3"
	cat "$T_DIR/body"
}
add() { req "$TOKEN" POST /v1/hostnames "{\"data\":{\"attributes\":{\"hostname\":\"$1\"}}}"; }
assert_eq "add $F" 201 "$(add "$F" | head -1)"
assert_eq "add $L" 201 "$(add "$L" | head -1)"
for ((i = 0; i < 100; i++)); do
	n=$(req "$RTOKEN" GET "/v1/hostnames?state=failed" | tail -n +2 | jq '.meta.count')
	[ "$n" = 2 ] && break
	sleep 0.1
done
assert_eq "hosts failed" 2 "$n"
t_log "hosts failed"

# Two edges as their loaders report them (served.h): edge-1 serves the current serial, edge-2
# an older one and was last seen an hour ago.
SERIAL=$(rcli HGET "spoacme:host:$V" serial_ecdsa)
[ -n "$SERIAL" ] || fail "no serial for $V"
NA=$(rcli HGET "spoacme:host:$V" not_after)
now=$(date +%s)
rcli HSET spoacme:served:edge-1 "$V:ecdsa" \
	"{\"serial\":\"$SERIAL\",\"not_before\":$((now - 60)),\"not_after\":$NA,\"at\":$now}" \
	haproxy "{\"state\":\"up\",\"pid\":100,\"since\":$((now - 600))}" >/dev/null
rcli HSET spoacme:served:edge-2 "$V:ecdsa" \
	"{\"serial\":\"0BADC0DE\",\"not_before\":$((now - 86400)),\"not_after\":$NA,\"at\":$((now - 80000))}" \
	haproxy "{\"state\":\"up\",\"pid\":200,\"since\":$((now - 90000))}" >/dev/null
rcli ZADD spoacme:edges "$now" edge-1 "$((now - 3600))" edge-2 >/dev/null

# ---- the API's details ----
out=$(req "$RTOKEN" GET "/v1/hostnames?state=valid")
assert_eq "?state=valid" "200 $V" "$(head -1 <<<"$out") $(tail -n +2 <<<"$out" | jq -r '[.data[].id] | join(",")')"
out=$(req "$RTOKEN" GET "/v1/hostnames?state=valid,failed")
assert_eq "?state=valid,failed" 3 "$(tail -n +2 <<<"$out" | jq '.meta.count')"
out=$(req "$RTOKEN" GET "/v1/hostnames?state=expired")
assert_eq "?state=expired" 400 "$(head -1 <<<"$out")"
tail -n +2 <<<"$out" | jq -e '.errors[0].detail | test("not a state")' >/dev/null || fail "?state=expired: $out"
out=$(req "$RTOKEN" GET "/v1/hostnames?sort=name")
assert_eq "?sort=name" 400 "$(head -1 <<<"$out")"
list_keys=$(req "$RTOKEN" GET /v1/hostnames | tail -n +2 | jq -c ".data[] | select(.id == \"$V\") | .attributes | keys")
show_keys=$(req "$RTOKEN" GET "/v1/hostnames/$V" | tail -n +2 | jq -c '.data.attributes | keys')
assert_eq "list and show attributes" "$show_keys" "$list_keys"
grep -q next_action_at <<<"$list_keys" || fail "list: no next_action_at: $list_keys"
out=$(req "$RTOKEN" POST /v1/hostnames '{"data":{"attributes":{"hostname":"ro.example.com"}}}')
assert_eq "read-only token: POST" 403 "$(head -1 <<<"$out")"
assert_eq "read-only token: DELETE" 403 "$(req "$RTOKEN" DELETE "/v1/hostnames/$V" | head -1)"
out=$(req "" TRACE /v1/hostnames)
assert_eq "TRACE without a token" 401 "$(head -1 <<<"$out")"
out=$(req "$TOKEN" TRACE /v1/hostnames)
assert_eq "TRACE" 405 "$(head -1 <<<"$out")"
assert_eq "TRACE body" 405 "$(tail -n +2 <<<"$out" | jq -r '.errors[0].status')"
curl -s -I -H "Authorization: Bearer $RTOKEN" "$API/v1/hostnames" | tr -d '\r' >"$T_DIR/head"
grep -qx 'HTTP/1.1 200 OK' "$T_DIR/head" || fail "HEAD: $(cat "$T_DIR/head")"
grep -qix 'Content-Type: application/vnd.api+json' "$T_DIR/head" || fail "HEAD: $(cat "$T_DIR/head")"
curl -s -I "$API/v1/hostnames" | tr -d '\r' >"$T_DIR/head"
grep -qix 'Content-Type: application/vnd.api+json' "$T_DIR/head" || fail "HEAD, no token: $(cat "$T_DIR/head")"
out=$(req "" GET /)
assert_eq "GET / without a token" 200 "$(head -1 <<<"$out")"
grep -q '<title>spoacme status</title>' "$T_DIR/body" || fail "GET /: not the status page"
if grep -q "$V" "$T_DIR/body"; then fail "GET / carries data without a token"; fi
curl -s -D "$T_DIR/page.h" -o /dev/null "$API/"
grep -qi '^Content-Security-Policy: default-src .none.' "$T_DIR/page.h" || fail "GET /: no CSP"

# ---- the status page in headless Chromium (no sandbox as root; loopback only: every other
# host name fails to resolve, no background networking) ----
chrome() {
	timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
		--no-default-browser-check --disable-background-networking --disable-sync \
		--disable-component-update --disable-extensions --disable-dev-shm-usage \
		--host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" --user-data-dir="$T_DIR/chromium" \
		--window-size=1280,1000 --virtual-time-budget=10000 "$@" 2>>"$T_DIR/chromium.log"
}
PAGE="$API/#token=$RTOKEN"
t_log "API checked"
chrome --dump-dom "$PAGE" >"$T_DIR/dom.html" || fail "chromium --dump-dom failed"
grep -q '<body data-loaded="true"' "$T_DIR/dom.html" || fail "the page did not load its data: $(grep -o '<div id="error"[^<]*<' "$T_DIR/dom.html")"
# row ATTRS: the <tr> of the rendered table row whose start tag has ATTRS, to its </tr>.
row() { sed 's/<tr /\n<tr /g' "$T_DIR/dom.html" | grep -F "<tr $1>" | sed 's,</tr>.*,,' | head -1; }
r=$(row "data-host=\"$V\" data-state=\"valid\"")
[ -n "$r" ] || fail "page: no valid row for $V"
grep -q 'data-days="29"' <<<"$r" || fail "page: $V days left: $r"
grep -q '<td class="current">yes</td>' <<<"$r" || fail "page: $V not deployed: $r"
r=$(row "data-host=\"$F\" data-state=\"failed\"")
grep -q "issuer unavailable: directory: https://127.0.0.1:$DEAD_PORT/dir" <<<"$r" || fail "page: $F last error: $r"
[ -n "$(row "data-host=\"$L\" data-state=\"failed\"")" ] || fail "page: no row for $L"
r=$(row 'data-edge="edge-2" data-live="false"')
grep -q '<td class="stale">stale</td>' <<<"$r" || fail "page: edge-2 not marked stale: $r"
grep -q "0 of 1</td><td>$V</td>" <<<"$r" || fail "page: edge-2 current count: $r"
r=$(row 'data-edge="edge-1" data-live="true"')
grep -q '<td class="live">live</td>' <<<"$r" || fail "page: edge-1 not live: $r"
grep -q '1 of 1' <<<"$r" || fail "page: edge-1 current count: $r"
grep -q '<span class="chip stale" title="serial 0BADC0DE' "$T_DIR/dom.html" || fail "page: edge-2's old serial not shown stale"
grep -q "<rect [^>]*data-host=\"$V\"" "$T_DIR/dom.html" || fail "page: no timeline bar for $V"
t_log "DOM checked"
chrome --screenshot="$LOGS/95_status_page.png" "$PAGE" >/dev/null || fail "chromium --screenshot failed"
[ "$(head -c 4 "$LOGS/95_status_page.png" | xxd -p)" = 89504e47 ] || fail "screenshot: not a PNG"
t_log "status page: 3 hosts, edge-2 stale; screenshot $LOGS/95_status_page.png ($(stat -c %s "$LOGS/95_status_page.png") bytes)"

# ---- the CLI against golden files ----
cli() { "$PUSHER" --redis "127.0.0.1:$REDIS_PORT" "$@"; }
# norm: times, serials and the closed port as words, so that the files do not change per run.
norm() {
	sed -E -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/TIME/g' \
		-e "s/$SERIAL/SERIAL/g" -e "s/$DEAD_PORT/PORT/g" -e "s,^$PUSHER:,cert-pusher:," -e 's/after [0-9]+ ms/after N ms/g'
}
golden() { # NAME: compare $T_DIR/NAME with tests/golden/95_NAME.txt
	if [ "${GOLDEN_UPDATE:-0}" = 1 ]; then
		cp "$T_DIR/$1" "$GOLDEN/95_$1.txt"
	fi
	diff -u "$GOLDEN/95_$1.txt" "$T_DIR/$1" || fail "CLI output $1 differs from tests/golden/95_$1.txt"
}
mkdir -p "$GOLDEN"
# An error with a newline, a tab and UTF-8 across the 60-byte cut must keep ls one line a host.
rcli HSET "spoacme:host:$F" last_error "$(printf 'urn:ietf:params:acme:error:caa: line one\nline two\tCAA f\303\274r \302\253beispiel\302\273')" >/dev/null
cli ls 2>&1 | norm >"$T_DIR/ls"
golden ls
cli --json ls 2>&1 | norm >"$T_DIR/ls.json"
golden ls.json
cli --json show "$V" 2>&1 | norm >"$T_DIR/show.json"
golden show.json
cli edges ls 2>&1 | norm >"$T_DIR/edges"
golden edges
{
	cli edges forget edge-1 2>&1 || echo "exit $?"
	cli edges forget edge-2 no-such-edge 2>&1 || echo "exit $?"
	cli edges forget 'bad/edge' 2>&1 || echo "exit $?"
	cli edges 2>&1 || echo "exit $?"
	cli ls extra 2>&1 || echo "exit $?"
	cli --bogus ls 2>&1 || echo "exit $?"
	cli edges ls 2>&1
} | norm >"$T_DIR/edges-forget"
golden edges-forget
assert_eq "served:edge-2 gone" 0 "$(rcli EXISTS spoacme:served:edge-2)"
assert_eq "edge-1 kept" 1 "$(rcli EXISTS spoacme:served:edge-1)"
out=$(bash -c ". /usr/share/bash-completion/bash_completion 2>/dev/null; . '$ROOT/completion/cert-pusher'; COMP_WORDS=(cert-pusher edges f); COMP_CWORD=2; COMP_LINE='cert-pusher edges f'; COMP_POINT=\${#COMP_LINE}; _cert_pusher; echo \"\${COMPREPLY[*]}\"")
assert_eq "completion of 'edges f'" forget "$out"

# ---- logs: host= for hostnames, ISO 8601 times, a timestamp per line unless under journald ----
TS='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z '
grep -Eq "$TS<6>api: listening on 127.0.0.1:$API_PORT\$" "$T_DIR/pusher.log" ||
	fail "pusher log: no timestamped line: $(head -3 "$T_DIR/pusher.log")"
bad=$(grep -Ev "$TS" "$T_DIR/pusher.log" | head -3)
[ -z "$bad" ] || fail "pusher log lines without a timestamp: $bad"
grep -Eq "$TS<4>host=$F order failed " "$T_DIR/pusher.log" || fail "pusher log: no host=$F line"
if grep -E '[^a-z_]name=' "$T_DIR/pusher.log"; then fail "pusher log: name= for a hostname"; fi
grep -Eq "import: stored host=$V type=ecdsa serial=$SERIAL not_after=20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z " \
	"$T_DIR/import.log" || fail "import log: $(cat "$T_DIR/import.log")"
AP=$(t_free_port)
JOURNAL_STREAM=8:12345 "$BIN/spoa-agent" --listen "127.0.0.1:$AP" --redis "127.0.0.1:$REDIS_PORT" \
	--threads 1 2>"$T_DIR/agent-journal.log" &
JPID=$!
T_PIDS+=("$JPID")
t_wait_tcp 127.0.0.1 "$AP" 10 || fail "spoa-agent did not start"
t_stop_pid "$JPID"
grep -q '^<6>' "$T_DIR/agent-journal.log" || fail "under journald: $(head -3 "$T_DIR/agent-journal.log")"
if grep -Eq "$TS" "$T_DIR/agent-journal.log"; then fail "a timestamp under journald"; fi
t_log "CLI outputs match tests/golden/95_*.txt; took $(($(date +%s) - START)) s"
