#!/bin/sh
# SPDX-License-Identifier: MIT
# Writes the least-privilege Redis ACL file for spoacme and one password file per user.
#
#   redis/spoacme-acl.sh [-p PREFIX] OUTDIR
#
# OUTDIR/users.acl      for `aclfile OUTDIR/users.acl` on the primary and on every replica (a
#                       replica can be promoted): passwords only as SHA-256 hashes (#...).
# OUTDIR/<user>.password  the clear password of each user, mode 0600, for the daemon that uses it
#                       (--redis-password-file), masterauth (replicas) or sentinel auth-pass.
#
# Passwords already in OUTDIR are kept (re-running only rewrites the rules, e.g. for another
# prefix); new ones are 32 random bytes in hex. Users (PREFIX defaults to spoacme:):
#   spoacme-agent     GET PREFIXchal:* and ROLE (spoa-agent sends AUTH, GET, and ROLE after a miss)
#   spoacme-agent-ondemand  the same, plus what spoa-agent --on-demand's script does on
#                     the primary (EVAL): each command bound to its keys with Redis 7 selectors:
#                     HEXISTS PREFIXserved:*, GET/SET/EXISTS the rate-limit and negative-cache
#                     keys PREFIXondemand:rl:* and :neg:*, SISMEMBER PREFIXondemand:allow,
#                     SISMEMBER/SADD PREFIXhosts, HGET/HSET PREFIXhost:*, ZADD PREFIXdue
#   spoacme-loader    read PREFIXcert:* and the PREFIXhosts set, SUBSCRIBE PREFIXevents, write
#                     only PREFIXserved:* and PREFIXedges (MULTI/EXEC), ROLE for --sentinel
#   spoacme-issuer    read and write every key under PREFIX, WAIT, PUBLISH PREFIXevents, ROLE;
#                     nothing @dangerous (no FLUSHALL, KEYS, CONFIG...): the issuer, API and CLI
#   spoacme-replica   masteruser of the replicas: PSYNC, REPLCONF, PING
#   spoacme-sentinel  sentinel auth-user: the commands Sentinel sends to the nodes it monitors
#   spoacme-admin     everything, for operators (keep its password apart)
# The default user is switched off.
set -eu

prefix=spoacme:
case "${1:-}" in
-h | --help)
	# The header comment above is the help.
	sed -n '3,/^set -eu$/{/^set -eu$/d;s/^# \{0,1\}//;p}' "$0"
	exit 0
	;;
esac
if [ "${1:-}" = -p ]; then
	[ $# -ge 2 ] || { echo "usage: $0 [-p PREFIX] OUTDIR" >&2; exit 2; }
	prefix=$2
	shift 2
fi
[ $# -eq 1 ] || { echo "usage: $0 [-p PREFIX] OUTDIR" >&2; exit 2; }
out=$1
# The prefix becomes part of glob patterns: only the characters keys_prefix_valid() accepts,
# none of which is special to Redis' glob matching.
case "$prefix" in
"" | *[!A-Za-z0-9:._-]*)
	echo "$0: -p: '$prefix' is not valid; expected 1 to 64 of [A-Za-z0-9:._-]" >&2
	exit 2
	;;
esac
[ ${#prefix} -le 64 ] || { echo "$0: -p: '$prefix' is longer than 64" >&2; exit 2; }
command -v openssl >/dev/null || { echo "$0: openssl is needed" >&2; exit 1; }

umask 077
mkdir -p "$out"

# pw_hash USER: sets H to the SHA-256 of USER's password (made on first use); exits on failure.
pw_hash() {
	f=$out/$1.password
	if [ ! -s "$f" ]; then
		openssl rand -hex 32 >"$f.tmp" || exit 1
		mv "$f.tmp" "$f" || exit 1
	fi
	chmod 600 "$f" || exit 1
	pw=$(head -n 1 "$f") || exit 1
	[ ${#pw} -ge 32 ] || { echo "$0: $f: expected a password of 32 characters or more" >&2; exit 1; }
	H=$(printf '%s' "$pw" | openssl dgst -sha256 -r | cut -d' ' -f1)
	case "$H" in
	*[!0-9a-f]* | "") H=bad ;;
	esac
	[ ${#H} -eq 64 ] || { echo "$0: could not hash the password of $1 ($f)" >&2; exit 1; }
}

p=$prefix
tmp=$out/users.acl.tmp
# Each hash is made before its line is written: a failure inside $(...) in an echo argument
# would go unnoticed by set -e.
pw_hash spoacme-agent
h_agent=$H
pw_hash spoacme-agent-ondemand
h_agent_od=$H
pw_hash spoacme-loader
h_loader=$H
pw_hash spoacme-issuer
h_issuer=$H
pw_hash spoacme-replica
h_replica=$H
pw_hash spoacme-sentinel
h_sentinel=$H
pw_hash spoacme-admin
h_admin=$H
{
	echo "user default off resetpass resetkeys resetchannels -@all"
	echo "user spoacme-agent on #$h_agent resetkeys resetchannels -@all +get +role %R~${p}chal:*"
	echo "user spoacme-agent-ondemand on #$h_agent_od resetkeys resetchannels -@all +get +role +eval %R~${p}chal:* (+hexists %R~${p}served:*) (+get +set +exists ~${p}ondemand:rl:* ~${p}ondemand:neg:*) (+sismember %R~${p}ondemand:allow) (+sismember +sadd ~${p}hosts) (+hget +hset ~${p}host:*) (+zadd ~${p}due)"
	echo "user spoacme-loader on #$h_loader resetkeys resetchannels -@all +get +smembers +sismember +subscribe +ping +role +multi +exec +discard +del +hset +hdel +zadd %R~${p}cert:* %R~${p}hosts ~${p}served:* ~${p}edges &${p}events"
	echo "user spoacme-issuer on #$h_issuer resetkeys resetchannels -@all +@read +@write +@transaction -@dangerous +ping +wait +publish +role ~${p}* &${p}events"
	echo "user spoacme-replica on #$h_replica resetkeys resetchannels -@all +psync +replconf +ping"
	echo "user spoacme-sentinel on #$h_sentinel resetkeys allchannels -@all +multi +slaveof +ping +exec +subscribe +config|rewrite +role +publish +info +client|setname +client|kill +script|kill"
	echo "user spoacme-admin on #$h_admin allkeys allchannels +@all"
} >"$tmp"
chmod 644 "$tmp"
mv "$tmp" "$out/users.acl"
echo "$0: wrote $out/users.acl and the password files of 7 users in $out" >&2
