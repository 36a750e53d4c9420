#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make run's local stack as a new operator uses it: the banner's "Add another name" curl,
# pasted as printed, gets a 201 (it sends a Content-Type the API takes); Ctrl-C (SIGINT) stops
# every service and keeps the logs where it says, while the RAM directory with keys is gone.
set -eu
. "$(dirname "$0")/../lib/common.sh"

# Job control: its own process group, and SIGINT not ignored as in a plain background job.
set -m
"$ROOT/scripts/local-stack.sh" >"$T_DIR/stack.out" 2>&1 &
STACK=$!
set +m
T_PIDS+=("$STACK")
for ((i = 0; i < 1800; i++)); do
	grep -q 'spoacme local stack is up' "$T_DIR/stack.out" && break
	kill -0 "$STACK" 2>/dev/null || fail "make run exited: $(tail -20 "$T_DIR/stack.out")"
	sleep 0.1
done
grep -q 'spoacme local stack is up' "$T_DIR/stack.out" || fail "no banner after 180 s"
SDIR=$(sed -n 's/.*(logs, sockets and the key ring in \(.*\)):$/\1/p' "$T_DIR/stack.out")
[ -d "$SDIR" ] || fail "the banner names no directory: $(head -5 "$T_DIR/stack.out")"
PAGE=$(sed -n 's/^  status page *\(http:[^ ]*\)$/\1/p' "$T_DIR/stack.out")
curl -s "${PAGE%%#*}" | grep -q '<title>spoacme status</title>' || fail "the banner's status page: '$PAGE'"
CERTS=$(sed -n '/^Reload HAProxy/{n;s/^\(.*\)):$/\1/p}' "$T_DIR/stack.out")

# The curl as printed, with only an output format appended.
cmd=$(sed -n '/^Add another name:/,/v1\/hostnames$/p' "$T_DIR/stack.out" | sed '1d')
[ -n "$cmd" ] || fail "no 'Add another name' command in the banner"
code=$(bash -c "$cmd -sS -o $T_DIR/add.json -w '%{http_code}'")
assert_eq "the banner's curl" 201 "$code"
jq -e '.data.attributes.hostname == "www.example.org"' "$T_DIR/add.json" >/dev/null ||
	fail "answer: $(cat "$T_DIR/add.json")"

kill -INT -- "-$STACK" # what Ctrl-C does: SIGINT to the foreground process group
for ((i = 0; i < 300; i++)); do kill -0 "$STACK" 2>/dev/null || break; sleep 0.1; done
kill -0 "$STACK" 2>/dev/null && fail "make run still running 30 s after Ctrl-C"
grep -q "logs kept in $SDIR" "$T_DIR/stack.out" || fail "Ctrl-C did not say where the logs are"
for f in haproxy.log agent.log; do
	[ -s "$SDIR/$f" ] || fail "$SDIR/$f not kept"
done
grep -q 'www.example.org' "$SDIR"/cert-pusher*.log || fail "the pusher log lost the added name"
[ -z "$CERTS" ] || [ ! -e "$CERTS" ] || fail "the RAM directory $CERTS (keys) was kept"
rm -rf "$SDIR"
t_log "make run: banner curl 201, logs kept after Ctrl-C in $SDIR"
