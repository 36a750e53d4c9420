#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The #include layering of README "Layout", checked: every quoted #include of a C file or header
# points at a layer at or below the file's own, issuer/ and edge/ never include each other, and
# spoa-agent includes nothing of cert-pusher. Prints each upward edge; exits 1 when there is one.
# Layers, from the bottom:
#   0 common/
#   1 cert-pusher/conf, pusher (the process context), pmetrics (a leaf)
#   2 cert-pusher/store/
#   3 the shared domain: hosts, blob, pem, kms, kms_conf, edge/served (the API reads it)
#   4 the roles: issuer/, edge/
#   5 api/
#   6 the commands: run, main, import, rekey, init
set -u
cd "$(dirname "$0")/.."

layer() { # PATH -> its layer, or "agent"
	case $1 in
	common/*) echo 0 ;;
	cert-pusher/conf.[ch] | cert-pusher/pusher.h | cert-pusher/pmetrics.[ch]) echo 1 ;;
	cert-pusher/store/*) echo 2 ;;
	cert-pusher/hosts.[ch] | cert-pusher/blob.[ch] | cert-pusher/pem.[ch] | cert-pusher/kms.[ch] | \
		cert-pusher/kms_conf.[ch] | cert-pusher/edge/served.[ch]) echo 3 ;;
	cert-pusher/issuer/* | cert-pusher/edge/*) echo 4 ;;
	cert-pusher/api/*) echo 5 ;;
	cert-pusher/run.[ch] | cert-pusher/main.c | cert-pusher/import.[ch] | cert-pusher/rekey.[ch] | \
		cert-pusher/init.[ch]) echo 6 ;;
	spoa-agent/*) echo agent ;;
	*) echo unknown ;;
	esac
}

bad=0
n=0
while IFS= read -r f; do
	lf=$(layer "$f")
	while IFS= read -r inc; do
		n=$((n + 1))
		li=$(layer "$inc")
		why=
		if [ "$lf" = unknown ] || [ "$li" = unknown ]; then
			why="not in any layer (add it to scripts/check-layers.sh and README Layout)"
		elif [ "$lf" = agent ]; then
			case $inc in common/* | spoa-agent/*) ;; *) why="spoa-agent includes cert-pusher" ;; esac
		elif [ "$li" = agent ]; then
			why="cert-pusher includes spoa-agent"
		elif [ "$li" -gt "$lf" ]; then
			why="upward: layer $lf includes layer $li"
		elif [ "$lf" = 4 ] && [ "$li" = 4 ] && [ "${f%/*}" != "${inc%/*}" ]; then
			why="issuer/ and edge/ include each other"
		fi
		if [ -n "$why" ]; then
			echo "$f -> $inc: $why"
			bad=1
		fi
	done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done < <(git ls-files 'common/*.[ch]' 'cert-pusher/*.[ch]' 'spoa-agent/*.[ch]' 2>/dev/null ||
	find common cert-pusher spoa-agent -name '*.[ch]')
[ $bad = 0 ] && echo "check-layers: $n includes, none upward"
exit $bad
