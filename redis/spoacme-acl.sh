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
#   spoacme-agent     GET PREFIXchal:* and nothing else (spoa-agent sends AUTH and GET only)
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

# hash USER: the SHA-256 of USER's password, made on first use.
hash() {
	f=$out/$1.password
	if [ ! -s "$f" ]; then
		openssl rand -hex 32 >"$f.tmp"
		mv "$f.tmp" "$f"
	fi
	chmod 600 "$f"
	printf '%s' "$(head -n 1 "$f")" | openssl dgst -sha256 -r | cut -d' ' -f1
}

p=$prefix
tmp=$out/users.acl.tmp
{
	echo "user default off resetpass resetkeys resetchannels -@all"
	echo "user spoacme-agent on #$(hash spoacme-agent) resetkeys resetchannels -@all +get %R~${p}chal:*"
	echo "user spoacme-loader on #$(hash spoacme-loader) resetkeys resetchannels -@all +get +smembers +sismember +subscribe +ping +role +multi +exec +discard +del +hset +hdel +zadd %R~${p}cert:* %R~${p}hosts ~${p}served:* ~${p}edges &${p}events"
	echo "user spoacme-issuer on #$(hash spoacme-issuer) resetkeys resetchannels -@all +@read +@write +@transaction -@dangerous +ping +wait +publish +role ~${p}* &${p}events"
	echo "user spoacme-replica on #$(hash spoacme-replica) resetkeys resetchannels -@all +psync +replconf +ping"
	echo "user spoacme-sentinel on #$(hash spoacme-sentinel) resetkeys allchannels -@all +multi +slaveof +ping +exec +subscribe +config|rewrite +role +publish +info +client|setname +client|kill +script|kill"
	echo "user spoacme-admin on #$(hash spoacme-admin) allkeys allchannels +@all"
} >"$tmp"
chmod 644 "$tmp"
mv "$tmp" "$out/users.acl"
echo "$0: wrote $out/users.acl and the password files of 6 users in $out" >&2
