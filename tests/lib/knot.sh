# SPDX-License-Identifier: MIT
# Knot DNS (Debian's knotd) as the real authoritative server of a test zone on a free loopback
# port, taking RFC 2136 updates signed with a TSIG key (hmac-sha256). Knot rather than BIND 9:
# one small declarative config, no rndc/key-file dance, runs unprivileged in a temp dir in the
# foreground, and its journal applies an update before it answers, so "visible" is testable.
# Source tests/lib/common.sh first.
#
# t_start_knot ZONE [EXTRA_ZONE...] sets:
#   KNOT_PORT   UDP+TCP port of 127.0.0.1
#   KNOT_ADDR   127.0.0.1:$KNOT_PORT
#   TSIG_FILE   the key as cert-pusher reads it: "hmac-sha256:NAME:SECRET" (mode 0600)
#   TSIG_KEY    the same for kdig/knsupdate -y
#   TSIG_AONLY_FILE  a second key, which the zones' ACL lets update A records only (its TXT
#               updates are denied: NOTAUTH)
#   KNOT_PID
# Every zone has SOA, NS ns.<zone>, "ns" and "*" A 127.0.0.1 (what Pebble resolves for
# HTTP-01), and accepts updates signed with the key only.
# With KNOT_SECONDARY=1, every zone also lists NS ns2.<zone> (A 127.0.0.2) and the primary
# notifies and transfers to it; t_start_knot_secondary then runs that server.
#
# shellcheck shell=bash

t_start_knot() {
	command -v knotd >/dev/null && command -v kdig >/dev/null || {
		t_log "SKIP: knot / knot-dnsutils not installed"
		exit 77
	}
	local d=$T_DIR/knot secret secret2 z try
	mkdir -p "$d/zones" "$d/db"
	secret=$(openssl rand -base64 32)
	TSIG_KEY="hmac-sha256:spoacme-test:$secret"
	TSIG_FILE=$T_DIR/tsig.key
	(umask 077 && printf '# TSIG key for the test zone\n%s\n' "$TSIG_KEY" >"$TSIG_FILE")
	secret2=$(openssl rand -base64 32)
	TSIG_AONLY_FILE=$T_DIR/tsig-aonly.key
	(umask 077 && printf 'hmac-sha256:spoacme-aonly:%s\n' "$secret2" >"$TSIG_AONLY_FILE")
	for z in "$@"; do
		cat >"$d/zones/$z.zone" <<EOZ
\$ORIGIN $z.
\$TTL 60
@ SOA ns.$z. hostmaster.$z. 1 3600 600 86400 60
@ NS ns
ns A 127.0.0.1
* A 127.0.0.1
EOZ
		[ "${KNOT_SECONDARY:-0}" = 1 ] && printf '@ NS ns2\nns2 A 127.0.0.2\n' >>"$d/zones/$z.zone"
	done
	for try in 1 2 3; do
		KNOT_PORT=$(t_free_port)
		KNOT_ADDR=127.0.0.1:$KNOT_PORT
		{
			cat <<EOC
server:
    rundir: "$d"
    listen: 127.0.0.1@$KNOT_PORT
database:
    storage: "$d/db"
log:
  - target: stderr
    any: info
key:
  - id: spoacme-test
    algorithm: hmac-sha256
    secret: $secret
  - id: spoacme-aonly
    algorithm: hmac-sha256
    secret: $secret2
acl:
  - id: update
    key: spoacme-test
    action: update
  - id: aonly
    key: spoacme-aonly
    action: update
    update-type: A
EOC
			if [ "${KNOT_SECONDARY:-0}" = 1 ]; then
				cat <<EOC
  - id: to_secondary
    address: 127.0.0.2
    action: transfer
remote:
  - id: secondary
    address: 127.0.0.2@$KNOT_PORT
EOC
			fi
			cat <<EOC
template:
  - id: default
    storage: "$d/zones"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: changes
EOC
			if [ "${KNOT_SECONDARY:-0}" = 1 ]; then
				printf '    acl: [update, aonly, to_secondary]\n    notify: secondary\n'
			else
				printf '    acl: [update, aonly]\n'
			fi
			printf 'zone:\n'
			for z in "$@"; do printf '  - domain: %s\n' "$z"; done
		} >"$d/knot.conf"
		t_bg knot knotd -c "$d/knot.conf"
		KNOT_PID=$T_LAST_PID
		if t_wait_tcp 127.0.0.1 "$KNOT_PORT" 10 && t_knot_serves "$1"; then
			return 0
		fi
		t_stop_pid "$KNOT_PID"
		t_log "knot: did not come up on $KNOT_PORT (try $try)"
	done
	fail "knotd did not start (see $T_DIR/knot.log)"
}

# t_start_knot_secondary ZONE...: a second Knot on 127.0.0.2, same port, secondary of the zones
# (after t_start_knot with KNOT_SECONDARY=1): NOTIFY from the primary, then IXFR. Sets
# KNOT2_PID and KNOT2_CTL (its knotc socket: `knotc -s $KNOT2_CTL zone-freeze ZONE` holds its
# refreshes, so it lags behind the primary).
t_start_knot_secondary() {
	local d=$T_DIR/knot2 z
	mkdir -p "$d/db"
	KNOT2_CTL=$d/knot.sock
	{
		cat <<EOC
server:
    rundir: "$d"
    listen: 127.0.0.2@$KNOT_PORT
database:
    storage: "$d/db"
control:
    listen: "$KNOT2_CTL"
log:
  - target: stderr
    any: info
remote:
  - id: primary
    address: 127.0.0.1@$KNOT_PORT
    via: 127.0.0.2
acl:
  - id: from_primary
    address: 127.0.0.1
    action: notify
template:
  - id: default
    storage: "$d"
    master: primary
    acl: from_primary
    zonefile-sync: -1
    journal-content: changes
zone:
EOC
		for z in "$@"; do printf '  - domain: %s\n' "$z"; done
	} >"$d/knot.conf"
	t_bg knot2 knotd -c "$d/knot.conf"
	KNOT2_PID=$T_LAST_PID
	t_wait_tcp 127.0.0.2 "$KNOT_PORT" 10 && KNOT_HOST=127.0.0.2 t_knot_serves "$1" ||
		fail "the secondary knotd did not serve $1 (see $T_DIR/knot2.log)"
}

# t_knot_serves ZONE: until Knot (at $KNOT_HOST, default 127.0.0.1) answers the zone's SOA
# authoritatively (zone loaded).
t_knot_serves() {
	local i
	for ((i = 0; i < 100; i++)); do
		kdig -p "$KNOT_PORT" "@${KNOT_HOST:-127.0.0.1}" +norec +time=1 +retry=0 SOA "$1" 2>/dev/null |
			grep -qi 'flags: qr aa' && return 0
		sleep 0.05
	done
	return 1
}

# t_knot_txt NAME: the TXT values Knot answers for NAME, one a line, unquoted.
t_knot_txt() {
	kdig -p "$KNOT_PORT" @127.0.0.1 +norec +short +time=2 +retry=0 TXT "$1" | tr -d '"'
}

# t_knot_update ZONE LINE...: an RFC 2136 update signed with the test key (knsupdate).
t_knot_update() {
	local zone=$1
	shift
	{
		printf 'server 127.0.0.1 %s\nzone %s\n' "$KNOT_PORT" "$zone"
		printf '%s\n' "$@"
		printf 'send\n'
	} | knsupdate -y "$TSIG_KEY" || fail "knsupdate on $zone failed"
}
