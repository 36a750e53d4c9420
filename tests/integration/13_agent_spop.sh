#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# spoa-agent driven frame by frame (tests/tools/spop_client) with a real Redis behind it:
# 2.6 and 3.x framings, pipelining, health-check HELLO, DISCONNECT, malformed input and its
# status codes, a unix listening socket, Redis ACL authentication (good and bad password),
# a custom key prefix, and --check / option errors naming the option.
set -eu
. "$(dirname "$0")/../lib/common.sh"

CLIENT=$BIN/tools/spop_client
[ -x "$CLIENT" ] || fail "$CLIENT not built (make all)"

t_start_redis
rcli ACL SETUSER spoa on '>s3cret-pw' '~acme:chal:*' '+get' >/dev/null
rcli SET acme:chal:tok_A "tok_A.thumb" >/dev/null
rcli SET acme:chal:tok_B "tok_B.thumb" >/dev/null
rcli SET spoacme:chal:tok_A "wrong prefix" >/dev/null
umask 077
printf 's3cret-pw\n' >"$T_DIR/redis-pw"
printf 'not-the-pw\n' >"$T_DIR/redis-bad-pw"
SOCK=$T_DIR/agent.sock
t_start_agent --threads 2 --listen "unix:$SOCK" --key-prefix acme: \
	--redis-user spoa --redis-password-file "$T_DIR/redis-pw"
[ -S "$SOCK" ] || fail "no unix socket at $SOCK"
for ((i = 0; i < 50; i++)); do
	[ "$(t_agent_metric spoacme_agent_redis_connected)" = 2 ] && break
	sleep 0.1
done
assert_eq "authenticated Redis connections" 2 "$(t_agent_metric spoacme_agent_redis_connected)"

# expect NAME EXPECTED -- ARGS: run the client, compare its output (sorted when pipelined)
expect() {
	local name=$1 want=$2 got
	shift 3
	got=$("$CLIENT" "$@") || fail "$name: spop_client failed: $got"
	assert_eq "$name" "$want" "$got"
}
HELLO="agent-hello version=2.0 max-frame-size=16380 capabilities=pipelining"

# 2.6 framing: stream 0, frame ids counting; hit, miss, invalid
expect "2.6 framing" "$HELLO
ack sid=0 fid=1 found=1 keyauth=tok_A.thumb
ack sid=0 fid=2 found=0
ack sid=0 fid=3 found=0" -- "127.0.0.1:$AGENT_PORT" hello notify:0:1:tok_A recv \
	notify:0:2:missing recv notify:0:3:bad.token recv

# 3.x framing, pipelined over the unix socket: odd stream ids, frame-id 1
got=$("$CLIENT" "unix:$SOCK" hello notify:1:1:tok_A notify:3:1:tok_B notify:5:1:nope \
	notify:7:1:tok_A recv recv recv recv | sort)
assert_eq "3.x pipelined" "ack sid=1 fid=1 found=1 keyauth=tok_A.thumb
ack sid=3 fid=1 found=1 keyauth=tok_B.thumb
ack sid=5 fid=1 found=0
ack sid=7 fid=1 found=1 keyauth=tok_A.thumb
$HELLO" "$got"

# a smaller frame size is honoured
expect "max-frame-size min" "agent-hello version=2.0 max-frame-size=1024 capabilities=pipelining" \
	-- "127.0.0.1:$AGENT_PORT" hello:1024

# health check, then HAProxy closes
expect "health check" "$HELLO" -- "127.0.0.1:$AGENT_PORT" hc

# HAPROXY-DISCONNECT -> AGENT-DISCONNECT status 0, then close
expect "disconnect" "$HELLO
agent-disconnect status=0
eof" -- "unix:$SOCK" hello disconnect recv eof

# malformed input: status codes, then close
expect "HTTP garbage" "agent-disconnect status=3
eof" -- "127.0.0.1:$AGENT_PORT" raw:474554202f20485454502f312e310d0a0d0a recv eof
expect "short frame" "agent-disconnect status=4
eof" -- "127.0.0.1:$AGENT_PORT" raw:00000003010000 recv eof
expect "no FIN" "$HELLO
agent-disconnect status=10
eof" -- "127.0.0.1:$AGENT_PORT" hello raw:000000080300000000010100 recv eof
expect "NOTIFY before HELLO" "agent-disconnect status=4
eof" -- "127.0.0.1:$AGENT_PORT" notify:1:1:tok_A recv eof
assert_eq "protocol errors status 3" 1 "$(t_agent_metric 'spoacme_agent_protocol_errors_total{status="3"}')"
assert_eq "protocol errors status 4" 2 "$(t_agent_metric 'spoacme_agent_protocol_errors_total{status="4"}')"
assert_eq "protocol errors status 10" 1 "$(t_agent_metric 'spoacme_agent_protocol_errors_total{status="10"}')"
# the agent still serves after all that
expect "still serving" "$HELLO
ack sid=9 fid=1 found=1 keyauth=tok_B.thumb" -- "127.0.0.1:$AGENT_PORT" hello notify:9:1:tok_B recv

# wrong password: AUTH refused, lookups answered at once with an error
AGENT_PORT2=$(t_free_port)
METRICS_PORT2=$(t_free_port)
t_bg agent-badpw "$BIN/spoa-agent" --listen "127.0.0.1:$AGENT_PORT2" --redis "127.0.0.1:$REDIS_PORT" \
	--metrics "127.0.0.1:$METRICS_PORT2" --threads 1 --key-prefix acme: \
	--redis-user spoa --redis-password-file "$T_DIR/redis-bad-pw"
t_wait_tcp 127.0.0.1 "$AGENT_PORT2" 10 || fail "second agent did not start"
for ((i = 0; i < 100; i++)); do # the refusal happened (not merely an AUTH still in flight)
	grep -q 'AUTH failed' "$T_DIR/agent-badpw.log" && break
	sleep 0.05
done
expect "bad password" "$HELLO
ack sid=1 fid=1 found=0 error=redis-unavailable" -- "127.0.0.1:$AGENT_PORT2" hello notify:1:1:tok_A recv
grep -q 'AUTH failed' "$T_DIR/agent-badpw.log" || fail "no 'AUTH failed' in the log"
! grep -q 'not-the-pw' "$T_DIR/agent-badpw.log" || fail "the password was logged"

# --check and option errors (exit 2, message names the option)
"$BIN/spoa-agent" --check --listen 127.0.0.1:1 --redis unix:/nonexistent --timeout 250ms ||
	fail "--check refused a valid configuration"
check_bad() { # OPTION-NAME ARGS...
	local opt=$1 out rc=0
	shift
	out=$("$BIN/spoa-agent" --check "$@" 2>&1) || rc=$?
	assert_eq "exit status for $*" 2 "$rc"
	case "$out" in *"$opt"*) ;; *) fail "error for $* does not name $opt: $out" ;; esac
}
check_bad --timeout --timeout 5x
check_bad --timeout --timeout 0
check_bad --listen --listen nowhere
check_bad --listen --listen 127.0.0.1:99999
check_bad --redis --redis 'unix:'
check_bad --threads --threads 0
check_bad --key-prefix --key-prefix 'a b'
check_bad --metrics --metrics unix:/tmp/x
check_bad --redis-user --redis-user spoa
chmod 644 "$T_DIR/redis-pw"
check_bad --redis-password-file --redis-password-file "$T_DIR/redis-pw"
check_bad --redis-password-file --redis-password-file "$T_DIR/nonexistent"
check_bad unexpected --listen 127.0.0.1:1 extra-arg
rc=0
"$BIN/spoa-agent" --no-such-option >/dev/null 2>&1 || rc=$?
assert_eq "unknown option exit status" 2 "$rc"

# a second instance on the same port is refused, not silently sharing it
rc=0
timeout 5 "$BIN/spoa-agent" --listen "127.0.0.1:$AGENT_PORT" --redis "127.0.0.1:$REDIS_PORT" \
	>"$T_DIR/dup.log" 2>&1 || rc=$?
assert_eq "second instance on a used port" 1 "$rc"
rc=0
timeout 5 "$BIN/spoa-agent" --listen "unix:$SOCK" --redis "127.0.0.1:$REDIS_PORT" \
	>>"$T_DIR/dup.log" 2>&1 || rc=$?
assert_eq "second instance on a used unix socket" 1 "$rc"
grep -q 'in use' "$T_DIR/dup.log" || fail "no 'in use' message"

# sd_notify: READY=1 once serving, STOPPING=1 on SIGTERM (datagrams on $NOTIFY_SOCKET)
t_bg notify socat -u "UNIX-RECV:$T_DIR/notify.sock,unlink-early" "OPEN:$T_DIR/notify.out,creat,append"
for ((i = 0; i < 50; i++)); do [ -S "$T_DIR/notify.sock" ] && break; sleep 0.1; done
AGENT_PORT3=$(t_free_port)
NOTIFY_SOCKET=$T_DIR/notify.sock t_bg agent-notify "$BIN/spoa-agent" --threads 1 \
	--listen "127.0.0.1:$AGENT_PORT3" --redis "127.0.0.1:$REDIS_PORT" --key-prefix acme:
notify_pid=$T_LAST_PID
for ((i = 0; i < 50; i++)); do grep -q 'READY=1' "$T_DIR/notify.out" 2>/dev/null && break; sleep 0.1; done
grep -q 'READY=1' "$T_DIR/notify.out" || fail "no READY=1 from the agent"
kill -TERM "$notify_pid"
rc=0
wait "$notify_pid" || rc=$?
assert_eq "exit status after SIGTERM" 0 "$rc"
grep -q 'STOPPING=1' "$T_DIR/notify.out" || fail "no STOPPING=1 from the agent"

t_log "PASS 13_agent_spop"
