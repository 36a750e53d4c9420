# SPDX-License-Identifier: MIT
# Unbound (Debian's unbound) as the recursive resolver in front of Knot, as Let's Encrypt's
# validation runs it: Knot is authoritative only and does not follow a CNAME into another of
# its zones, so a customer's "_acme-challenge.customer.test CNAME x.acme-delegation.preview.test"
# is answered with the TXT at the target only by a resolver. Stub zones send every test zone to
# Knot on loopback; no cache (answers change under the tests), no DNSSEC, nothing leaves
# 127.0.0.0/8 (no root hints are ever used: every name asked lies in a stub zone).
# Source tests/lib/common.sh and tests/lib/knot.sh (t_start_knot first).
#
# t_start_unbound ZONE... sets UNBOUND_PORT, UNBOUND_ADDR (127.0.0.1:PORT), UNBOUND_PID.
#
# shellcheck shell=bash

t_start_unbound() {
	command -v unbound >/dev/null || {
		t_log "SKIP: unbound not installed"
		exit 77
	}
	local d=$T_DIR/unbound z try
	mkdir -p "$d"
	for try in 1 2 3; do
		UNBOUND_PORT=$(t_free_port)
		UNBOUND_ADDR=127.0.0.1:$UNBOUND_PORT
		{
			cat <<EOC
server:
    interface: 127.0.0.1@$UNBOUND_PORT
    port: $UNBOUND_PORT
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "$d"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 1
    do-ip6: no
    do-not-query-localhost: no
    module-config: "iterator"
    access-control: 127.0.0.0/8 allow
    cache-max-ttl: 0
    cache-max-negative-ttl: 0
    local-zone: "test." nodefault
remote-control:
    control-enable: no
EOC
			for z in "$@"; do
				printf 'stub-zone:\n    name: "%s"\n    stub-addr: 127.0.0.1@%s\n' \
					"$z" "$KNOT_PORT"
			done
		} >"$d/unbound.conf"
		t_bg unbound unbound -d -c "$d/unbound.conf"
		UNBOUND_PID=$T_LAST_PID
		if t_wait_tcp 127.0.0.1 "$UNBOUND_PORT" 10; then
			return 0
		fi
		t_stop_pid "$UNBOUND_PID"
		t_log "unbound: did not come up on $UNBOUND_PORT (try $try)"
	done
	fail "unbound did not start (see $T_DIR/unbound.log)"
}
