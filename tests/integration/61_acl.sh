#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The shipped least-privilege ACLs (redis/spoacme-acl.sh) on a real primary and replica, every
# daemon with its own user: the replica replicates as spoacme-replica; the agent's user reads
# challenge keys and nothing else (no certificate blob, no write); the on-demand agent's user
# runs only its script's commands on their keys (selectors), and spoa-agent --on-demand serves a
# token through HAProxy with it from the replica and decides and enqueues on-demand names on the
# primary; the loader's user cannot write host or certificate
# keys nor publish; `cert-pusher issue` as spoacme-issuer (WAIT included) issues a name through
# Pebble, validated through that agent; the loader as spoacme-loader (reads on the replica, its
# reports on the primary) loads it into HAProxy. Last, a sentinel authenticating as
# spoacme-sentinel monitors the primary and carries out a forced failover. No daemon logs NOPERM.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/loader.sh"

PUSHER=$BIN/cert-pusher
[ -x "$PUSHER" ] || fail "$PUSHER not built"

ACL=$T_DIR/acl
"$ROOT/redis/spoacme-acl.sh" "$ACL" 2>/dev/null || fail "spoacme-acl.sh failed"
for u in agent agent-ondemand loader issuer replica sentinel admin; do
	[ "$(stat -c %a "$ACL/spoacme-$u.password")" = 600 ] || fail "spoacme-$u.password not 0600"
	grep -q "$(cat "$ACL/spoacme-$u.password")" "$ACL/users.acl" &&
		fail "the clear password of spoacme-$u is in users.acl"
done
# Re-running keeps the passwords.
sum=$(cat "$ACL"/*.password | md5sum)
"$ROOT/redis/spoacme-acl.sh" "$ACL" 2>/dev/null || fail "spoacme-acl.sh (again) failed"
assert_eq "passwords after a second run" "$sum" "$(cat "$ACL"/*.password | md5sum)"
"$ROOT/redis/spoacme-acl.sh" -p 'bad*prefix' "$T_DIR/acl2" 2>/dev/null &&
	fail "spoacme-acl.sh accepted a glob character in the prefix"

pw() { cat "$ACL/spoacme-$1.password"; }
# as USER PORT CMD...: one command as USER (stdout, errors included).
as() {
	local user=$1 port=$2
	shift 2
	redis-cli -h 127.0.0.1 -p "$port" --user "spoacme-$user" --pass "$(pw "$user")" \
		--no-auth-warning "$@" 2>&1
}
rcli() { as admin "$REDIS_PORT" "$@"; }
# refused USER PORT CMD...: the command must fail with NOPERM.
refused() {
	local out
	out=$(as "$@")
	grep -q NOPERM <<<"$out" || fail "spoacme-$1 was allowed '${*:3}': $out"
}

# Every node gets masteruser/masterauth: any of them may become a replica after a failover.
t_start_redis "" --aclfile "$ACL/users.acl" --masteruser spoacme-replica \
	--masterauth "$(pw replica)"
P_PORT=$REDIS_PORT
# The default user is off: no anonymous access.
out=$(redis-cli -h 127.0.0.1 -p "$P_PORT" GET x 2>&1 || true)
grep -q NOAUTH <<<"$out" || fail "anonymous GET was not refused: $out"
t_start_redis "" --aclfile "$ACL/users.acl" --replicaof 127.0.0.1 "$P_PORT" \
	--masteruser spoacme-replica --masterauth "$(pw replica)"
R_PORT=$REDIS_PORT
for _ in $(seq 1 100); do
	as admin "$R_PORT" INFO replication | grep -q '^master_link_status:up' && break
	sleep 0.1
done
as admin "$R_PORT" INFO replication | grep -q '^master_link_status:up' ||
	fail "the replica did not replicate as spoacme-replica"

# The agent's user: GET chal:* only.
as admin "$P_PORT" SET spoacme:cert:x.example.com:ecdsa blob >/dev/null
as admin "$P_PORT" SET spoacme:chal:tok1 tok1.keyauth >/dev/null
# The agent reads tok1 on the replica: Redis streams writes to a new replica only after its
# first REPLCONF ACK (up to a second after master_link_status:up), so WAIT as the issuer does.
assert_eq "the replica acknowledged tok1" 1 "$(as admin "$P_PORT" WAIT 1 5000)"
assert_eq "agent GET chal" tok1.keyauth "$(as agent "$P_PORT" GET spoacme:chal:tok1)"
refused agent "$P_PORT" GET spoacme:cert:x.example.com:ecdsa
refused agent "$P_PORT" SET spoacme:chal:tok1 other
refused agent "$P_PORT" SET spoacme:x y
refused agent "$P_PORT" DEL spoacme:chal:tok1
refused agent "$P_PORT" SMEMBERS spoacme:hosts
refused agent "$P_PORT" SUBSCRIBE spoacme:events
refused agent "$P_PORT" CONFIG GET '*'
refused agent "$P_PORT" EVAL "return 1" 0
# The on-demand agent's user: its script's commands on their keys, nothing else (a command the
# script runs is checked like any other).
assert_eq "agent-ondemand GET chal" tok1.keyauth "$(as agent-ondemand "$P_PORT" GET spoacme:chal:tok1)"
refused agent-ondemand "$P_PORT" GET spoacme:cert:x.example.com:ecdsa
refused agent-ondemand "$P_PORT" SET spoacme:chal:tok1 other
refused agent-ondemand "$P_PORT" SET spoacme:host:x.example.com other
refused agent-ondemand "$P_PORT" DEL spoacme:hosts
refused agent-ondemand "$P_PORT" SADD spoacme:ondemand:allow .evil.example
refused agent-ondemand "$P_PORT" HSET spoacme:served:e x y
refused agent-ondemand "$P_PORT" PUBLISH spoacme:events "del x.example.com"
# (inside a script Redis words it "The user executing the script can't run/access ...")
for script in "return redis.call('GET', 'spoacme:cert:x.example.com:ecdsa')" \
	"return redis.call('ZREM', 'spoacme:due', 'x')" "return redis.call('SET', 'spoacme:host:x', 'y')"; do
	out=$(as agent-ondemand "$P_PORT" EVAL "$script" 0)
	grep -q "NOPERM\|user executing the script can't" <<<"$out" ||
		fail "spoacme-agent-ondemand's script ran '$script': $out"
done
refused agent-ondemand "$P_PORT" FLUSHALL
# The loader's user: no writes outside served:* and edges, no publish.
refused loader "$P_PORT" SET spoacme:cert:x.example.com:ecdsa other
refused loader "$P_PORT" DEL spoacme:cert:x.example.com:ecdsa
refused loader "$P_PORT" HSET spoacme:host:x.example.com state valid
refused loader "$P_PORT" SADD spoacme:hosts evil.example.com
refused loader "$P_PORT" SET spoacme:chal:tok2 x
refused loader "$P_PORT" GET spoacme:chal:tok1
refused loader "$P_PORT" PUBLISH spoacme:events "del x.example.com"
refused loader "$P_PORT" FLUSHALL
assert_eq "loader GET cert" blob "$(as loader "$P_PORT" GET spoacme:cert:x.example.com:ecdsa)"
# The issuer's user: everything under the prefix, nothing outside it, nothing dangerous.
refused issuer "$P_PORT" SET other:key x
refused issuer "$P_PORT" FLUSHALL
refused issuer "$P_PORT" CONFIG SET appendonly yes
as admin "$P_PORT" DEL spoacme:cert:x.example.com:ecdsa >/dev/null

# spoa-agent --on-demand as spoacme-agent-ondemand: challenges from the replica, on-demand
# decisions on the primary, through HAProxy's TLS pre-frontend.
REDIS_PORT=$R_PORT
ondemand_env
t_start_agent --redis-user spoacme-agent-ondemand \
	--redis-password-file "$ACL/spoacme-agent-ondemand.password" --on-demand \
	--on-demand-redis "127.0.0.1:$P_PORT" --edge-id acl-edge --on-demand-timeout 1s
t_start_haproxy
t_wait_agent_up 10 || fail "HAProxy never marked spoa-agent UP"
# Right after a full sync the replica may report its link up with slave_repl_offset 0 and not yet
# hold tok1 (seen here: it arrived within a second): wait for the key, this test is about ACLs.
for _ in $(seq 1 50); do
	[ "$(as admin "$R_PORT" GET spoacme:chal:tok1)" = tok1.keyauth ] && break
	sleep 0.1
done
body=$(curl -sS --max-time 5 -w ' %{http_code}' \
	"http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/tok1")
assert_eq "token served with the agent's user" "tok1.keyauth 200" "$body"
# Its script under that user: a name under no rule is refused (negative cache written), an
# allowed one joins hosts (no issuer runs here: the handshake falls back at the 1 s deadline).
as admin "$P_PORT" SADD spoacme:ondemand:allow .od.example >/dev/null
for n in no.other.example new.od.example; do
	openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -servername "$n" </dev/null >/dev/null 2>&1 || true
done
assert_eq "on-demand refusal as agent-ondemand" 1 "$(as admin "$P_PORT" EXISTS spoacme:ondemand:neg:no.other.example)"
assert_eq "on-demand enqueue as agent-ondemand" on_demand "$(as admin "$P_PORT" HGET spoacme:host:new.od.example origin)"
[ -n "$(as admin "$P_PORT" ZSCORE spoacme:due new.od.example)" ] || fail "new.od.example is not due"
m=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | grep '^spoacme_agent_ondemand_total')
for r in 'refused"} 1' 'timeout"} 1' 'unavailable"} 0'; do
	grep -q "$r\$" <<<"$m" || fail "on-demand answers as agent-ondemand: expected $r: $m"
done
as admin "$P_PORT" EVAL "redis.call('SREM', 'spoacme:hosts', ARGV[1]) redis.call('DEL', 'spoacme:host:' .. ARGV[1]) redis.call('ZREM', 'spoacme:due', ARGV[1]) return 1" 0 new.od.example >/dev/null

# A full issue as spoacme-issuer, WAITing for the replica the agent reads.
PEBBLE_WFE_NONCEREJECT=0 t_ca
N=acl.example.com
REDIS_PORT=$P_PORT
t_pusher_issue --redis-user spoacme-issuer --redis-password-file "$ACL/spoacme-issuer.password" \
	--wait-replicas 1 --wait-timeout 2s "$N" || fail "issue as spoacme-issuer failed"
assert_eq "state of $N" valid "$(rcli HGET "spoacme:host:$N" state)"
serial=$(t_check_stored_cert "$N" ecdsa "$T_DIR/root.pem")
grep -q "replicas within" "$T_DIR/pusher.log" && fail "WAIT did not reach the replica"

# The loader as spoacme-loader: reads on the replica, reports to the primary.
REDIS_PORT=$R_PORT
start_loader --primary "127.0.0.1:$P_PORT" --redis-user spoacme-loader \
	--redis-password-file "$ACL/spoacme-loader.password" --edge-id acl-edge
wait_served "$N" ecdsa "$serial" 20
wait_served "$N" rsa "$(rcli HGET "spoacme:host:$N" serial_rsa)" 20
# Its proof of deployment reached the primary (served:<edge>: both key types and its HAProxy
# state, and the edges heartbeat).
for _ in $(seq 1 50); do
	[ "$(as admin "$P_PORT" HLEN spoacme:served:acl-edge)" -ge 3 ] &&
		[ -n "$(as admin "$P_PORT" ZSCORE spoacme:edges acl-edge)" ] && break
	sleep 0.1
done
[ "$(as admin "$P_PORT" HLEN spoacme:served:acl-edge)" -ge 3 ] ||
	fail "no served:acl-edge report on the primary: $(as admin "$P_PORT" HGETALL spoacme:served:acl-edge)"
[ -n "$(as admin "$P_PORT" ZSCORE spoacme:edges acl-edge)" ] || fail "no edges heartbeat"

for f in "$T_DIR"/agent.log "$T_DIR"/loader.log "$T_DIR"/pusher.log; do
	grep -q NOPERM "$f" && fail "$(basename "$f"): $(grep -m1 NOPERM "$f")"
done

# Sentinel as spoacme-sentinel: monitors, then a forced failover promotes the replica.
S_PORT=$(t_free_port)
mkdir -p "$T_DIR/sentinel"
# The sentinel itself asks its clients for a password (--sentinel-password-file).
(umask 077 && openssl rand -hex 16 >"$T_DIR/sentinel-client.pw")
scli() { redis-cli -p "$S_PORT" -a "$(cat "$T_DIR/sentinel-client.pw")" --no-auth-warning "$@"; }
cat >"$T_DIR/sentinel/sentinel.conf" <<EOF
port $S_PORT
bind 127.0.0.1
dir $T_DIR/sentinel
sentinel monitor spoacme 127.0.0.1 $P_PORT 1
sentinel auth-user spoacme spoacme-sentinel
sentinel auth-pass spoacme $(pw sentinel)
sentinel down-after-milliseconds spoacme 1000
sentinel failover-timeout spoacme 10000
requirepass $(cat "$T_DIR/sentinel-client.pw")
EOF
chmod 600 "$T_DIR/sentinel/sentinel.conf"
t_bg sentinel redis-server "$T_DIR/sentinel/sentinel.conf" --sentinel
t_wait_tcp 127.0.0.1 "$S_PORT" 10 || fail "sentinel did not start"
for _ in $(seq 1 100); do
	scli SENTINEL replicas spoacme | grep -q "^$R_PORT\$" && break
	sleep 0.1
done
scli SENTINEL replicas spoacme | grep -q "^$R_PORT\$" ||
	fail "the sentinel did not discover the replica (INFO refused?)"
sleep 1.5 # past down-after-milliseconds: a refused PING would show as s_down
flags=$(scli SENTINEL master spoacme | awk 'p { print; exit } /^flags$/ { p = 1 }')
assert_eq "sentinel's view of the primary" master "$flags"
out=$(scli SENTINEL FAILOVER spoacme)
assert_eq "SENTINEL FAILOVER" OK "$out"
for _ in $(seq 1 100); do
	[ "$(as admin "$R_PORT" ROLE | head -1)" = master ] && break
	sleep 0.1
done
assert_eq "role of the replica after the failover" master "$(as admin "$R_PORT" ROLE | head -1)"
# Sentinel turns the old primary into a replica of the new one about 10 s later; it then
# replicates as spoacme-replica.
for _ in $(seq 1 250); do
	as admin "$P_PORT" INFO replication | grep -q '^master_link_status:up' && break
	sleep 0.1
done
assert_eq "role of the old primary after the failover" slave "$(as admin "$P_PORT" ROLE | head -1)"
as admin "$P_PORT" INFO replication | grep -q '^master_link_status:up' ||
	fail "the old primary does not replicate from the new one"
# cert-pusher finds the new primary through the password-protected sentinel, as the issuer.
ls_as_issuer() {
	"$PUSHER" --sentinel "127.0.0.1:$S_PORT" "$@" --redis-user spoacme-issuer \
		--redis-password-file "$ACL/spoacme-issuer.password" -v ls 2>&1
}
out=$(ls_as_issuer --sentinel-password-file "$T_DIR/sentinel-client.pw") ||
	fail "ls through the sentinel: $out"
grep -q "$N" <<<"$out" || fail "ls through the sentinel does not list $N: $out"
grep -q "primary of 'spoacme' is 127.0.0.1:$R_PORT" <<<"$out" ||
	fail "ls did not resolve the new primary: $out"
out=$(ls_as_issuer) && fail "ls without the sentinel's password worked: $out"
grep -q "sentinel 127.0.0.1:$S_PORT: .*NOAUTH" <<<"$out" ||
	fail "no clear error without the sentinel's password: $out"
grep -q NOPERM "$T_DIR/sentinel.log" && fail "sentinel: $(grep -m1 NOPERM "$T_DIR/sentinel.log")"
t_log "PASS: agent, loader, issuer, replica and sentinel users each did their job and no more"
