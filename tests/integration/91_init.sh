#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cert-pusher init DIR: --check creates nothing; init creates the key ring (which the daemons
# load), the API token, a fallback.pem that HAProxy serves as its default certificate, and the
# Redis ACL passwords that redis/spoacme-acl.sh turns into a users.acl Redis enforces; all
# 0600 in 0700 directories owned by the caller. A second init keeps every file byte for byte;
# a secret file others can read is refused (exit 1) and left as it is.
set -eu
. "$(dirname "$0")/../lib/common.sh"

PUSHER=$BIN/cert-pusher
N=$T_DIR/node

"$PUSHER" --check init "$N" >"$T_DIR/check.out" 2>&1 || fail "init --check: $(cat "$T_DIR/check.out")"
[ ! -e "$N" ] || fail "init --check created $N"
grep -q "^would create *$N/keyring" "$T_DIR/check.out" || fail "init --check: $(cat "$T_DIR/check.out")"

"$PUSHER" init "$N" >"$T_DIR/init.out" 2>&1 || fail "init: $(cat "$T_DIR/init.out")"
grep -q '^next steps:' "$T_DIR/init.out" || fail "init printed no next steps"
assert_eq "mode of $N" 700 "$(stat -c %a "$N")"
assert_eq "mode of $N/redis" 700 "$(stat -c %a "$N/redis")"
USERS="spoacme-agent spoacme-agent-ondemand spoacme-loader spoacme-issuer spoacme-replica spoacme-sentinel spoacme-admin"
files="keyring api-token api-read-token fallback.pem"
for u in $USERS; do files="$files redis/$u.password"; done
for f in $files; do
	assert_eq "mode of $f" 600 "$(stat -c %a "$N/$f")"
	assert_eq "owner of $f" "$(id -u)" "$(stat -c %u "$N/$f")"
	grep -q "^created *$N/$f " "$T_DIR/init.out" || fail "init did not report $f"
done
assert_eq "API token length" 64 "$(tr -d '\n' <"$N/api-token" | wc -c)"
[ "$(cat "$N/redis/spoacme-agent.password")" != "$(cat "$N/redis/spoacme-loader.password")" ] ||
	fail "two Redis users got the same password"

# The key ring and the token load as the daemons load them.
API_PORT=$(t_free_port)
"$PUSHER" --check --keyring "$N/keyring" run --role issuer,api --api "127.0.0.1:$API_PORT" \
	--api-token-file "$N/api-token" --api-read-token-file "$N/api-read-token" >"$T_DIR/run-check.out" 2>&1 ||
	fail "the key ring or token init made is refused: $(cat "$T_DIR/run-check.out")"

# spoacme-acl.sh --help is its help (not an OUTDIR named --help).
(cd "$T_DIR" && sh "$ROOT/redis/spoacme-acl.sh" --help) >"$T_DIR/acl-help.out" 2>&1 ||
	fail "spoacme-acl.sh --help: $(cat "$T_DIR/acl-help.out")"
grep -q 'spoacme-acl.sh \[-p PREFIX\] OUTDIR' "$T_DIR/acl-help.out" || fail "no usage in --help"
[ ! -e "$T_DIR/--help" ] || fail "spoacme-acl.sh --help made a directory --help"

# The ACL passwords: spoacme-acl.sh keeps them and Redis enforces them.
sum_before=$(cat "$N"/redis/*.password | sha256sum)
sh "$ROOT/redis/spoacme-acl.sh" "$N/redis" >"$T_DIR/acl.out" 2>&1 || fail "spoacme-acl.sh: $(cat "$T_DIR/acl.out")"
assert_eq "passwords after spoacme-acl.sh" "$sum_before" "$(cat "$N"/redis/*.password | sha256sum)"
t_start_redis "" --aclfile "$N/redis/users.acl"
auth() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --no-auth-warning --user "$1" --pass "$2" "${@:3}" 2>&1; }
assert_eq "issuer PING with init's password" PONG \
	"$(auth spoacme-issuer "$(cat "$N/redis/spoacme-issuer.password")" PING)"
out=$(auth spoacme-issuer "$(cat "$N/redis/spoacme-agent.password")" PING)
grep -q WRONGPASS <<<"$out" || fail "another user's password was accepted: $out"

# fallback.pem: HAProxy's default certificate for a name nobody manages.
cp "$N/fallback.pem" "$T_DIR/fallback.pem"
t_cert_dir
t_start_haproxy
want=$(openssl x509 -in "$N/fallback.pem" -noout -serial | sed 's/^serial=//')
assert_eq "serial served for an unknown name" "$want" "$(served_serial unknown.example)"
openssl x509 -in "$N/fallback.pem" -noout -subject | grep -q 'CN *= *spoacme-fallback' ||
	fail "fallback.pem subject: $(openssl x509 -in "$N/fallback.pem" -noout -subject)"

# Run again: everything kept.
sum_all=$(cd "$N" && sha256sum $files)
"$PUSHER" init "$N" >"$T_DIR/init2.out" 2>&1 || fail "second init: $(cat "$T_DIR/init2.out")"
assert_eq "files after a second init" "$sum_all" "$(cd "$N" && sha256sum $files)"
assert_eq "files reported kept" 11 "$(grep -c '^kept ' "$T_DIR/init2.out")"
chmod 644 "$N/api-token"
rc=0
"$PUSHER" init "$N" >"$T_DIR/init3.out" 2>&1 || rc=$?
assert_eq "init over a readable token: exit" 1 "$rc"
grep -q "api-token exists with mode 0644" "$T_DIR/init3.out" || fail "unclear refusal: $(cat "$T_DIR/init3.out")"
assert_eq "files after the refusal" "$sum_all" "$(cd "$N" && sha256sum $files)"
rc=0
"$PUSHER" init >/dev/null 2>&1 || rc=$?
assert_eq "init without a directory: exit" 2 "$rc"
t_log "init: 11 files, kept on a second run, ACL and fallback in use"
