#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The test suite behind `make test` (which builds first): unit tests under ASan+UBSan, fuzz
# corpus replay, format check, then the integration scenarios with real services: every one on
# Debian's HAProxy (2.6), then those that exercise HAProxy itself (PEERS_SCENARIOS) again on
# HAProxy 3.4 when scripts/build-peers.sh built it. Each HAProxy result names its version. The
# scenarios run two at a time (TEST_JOBS), but for SERIAL_SCENARIOS; TEST_JOBS=1 runs them one
# after the other.
# Ends with one line "total: N passed, M failed" (", K skipped" appended when some skipped).
# A scenario exiting 77 is skipped; under CI (CI=true) a skip counts as a failure, so that a
# peer that silently stopped building cannot leave part of the suite unrun.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
LOGS=$ROOT/build/test-logs
mkdir -p "$LOGS"
pass=0
fail=0
skip=0
failed=()
skipped=()
HAPROXY34=$ROOT/build/peers/haproxy-3.4.0/haproxy
# Run again on HAProxy 3.4: the agent (SPOP framing, health checks, outages), the loader
# (runtime API transactions, the shipped config with its worker and the loader as haproxy), the daemon end to end (issue through HAProxy's HTTP-01 path,
# push, serve, renew, remove, proof of deployment), on-demand certificates (57: the TLS
# pre-frontend, the names map, the abns@ handoff across a reload; 58: one order for a crowd on
# two edges, the flood limits, the agent's deadline) and the fleet. The issuer-only scenarios
# (3x), the API and CLI (50), two issuers (53), revocation at removal (54), import (55),
# rekey (42), ACLs (61) and Sentinel (60) use HAProxy only as Debian's 2.6 and the 8x ones
# (Pebble 2.7) run once, on 2.6 too. "all" runs every scenario on both.
PEERS_SCENARIOS=${PEERS_SCENARIOS:-"10_agent_http 11_agent_redis_outage 12_agent_down 13_agent_spop
14_agent_client_kill 37_issue_dns01 38_preview_daemon 40_loader 41_loader_refuse 43_shipped_pair
44_reload_load 47_shipped_cfg_ops 45_haproxy_down 46_cold_start 47_api_off_loop 48_crtlist_duplicate
51_api_e2e 52_api_renewal 56_served 57_on_demand 58_on_demand_limits 70_fleet 71_fleet_failover"}

result() { # NAME RC [LOG]
	local log=${3:-$LOGS/$1.log}
	if [ "$2" = 77 ] && [ "${CI:-}" != true ]; then
		skip=$((skip + 1))
		skipped+=("$1")
		printf 'SKIP %s%s\n' "$1" "$([ "$log" = /dev/null ] || echo " (log $log)")"
	elif [ "$2" = 0 ]; then
		pass=$((pass + 1))
		printf 'PASS %s\n' "$1"
	else
		fail=$((fail + 1))
		failed+=("$1")
		printf 'FAIL %s (rc %s%s, log %s)\n' "$1" "$2" \
			"$([ "$2" = 77 ] && echo ': skipped, a failure under CI')" "$log"
	fi
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

for t in build/asan/tests/test_*; do
	[ -x "$t" ] || continue
	name=unit-$(basename "$t")
	"$t" >"$LOGS/$name.log" 2>&1
	rc=$?
	[ $rc = 0 ] || tail -n 40 "$LOGS/$name.log"
	result "$name" $rc
done

for r in build/asan/replay/fuzz_*; do
	[ -x "$r" ] || continue
	t=$(basename "$r")
	name=replay-$t
	"$r" tests/fuzz/corpus/"$t" >"$LOGS/$name.log" 2>&1
	rc=$?
	[ $rc = 0 ] || tail -n 40 "$LOGS/$name.log"
	result "$name" $rc
done

make -s format-check >"$LOGS/format-check.log" 2>&1
rc=$?
[ $rc = 0 ] || head -n 40 "$LOGS/format-check.log"
result format-check $rc

scripts/check-layers.sh >"$LOGS/check-layers.log" 2>&1
rc=$?
[ $rc = 0 ] || head -n 40 "$LOGS/check-layers.log"
result check-layers $rc

# The scenarios run TEST_JOBS at a time (default 2, one per core of the machine they are written
# for): each starts its services on ports of its own slot's range (T_PORT_SLOT of T_PORT_SLOTS,
# see t_free_port), in its own temporary directory, and stops them by PID. Those in
# SERIAL_SCENARIOS run alone, in the foreground: the load and flood tests, whose figures and
# deadlines are about a machine that is otherwise quiet, the package test (dpkg on the machine)
# and make run's stack (its Ctrl-C needs a SIGINT that a background job ignores).
TEST_JOBS=${TEST_JOBS:-2}
SERIAL_SCENARIOS=${SERIAL_SCENARIOS:-"14_agent_client_kill 44_reload_load 58_on_demand_limits
90_package 92_local_stack"}
declare -A job_name=() job_log=() job_start=() job_slot=()

# report NAME RC LOG START: a scenario's result, its log's tail when it failed, its time.
report() {
	local name=$1 rc=$2 log=$3
	[ $rc = 0 ] || [ $rc = 77 ] || { printf -- '--- %s:\n' "$name"; tail -n 60 "$log"; }
	[ $rc = 77 ] && grep -h 'SKIP' "$log" | tail -n 1
	result "$name" $rc "$log"
	printf '     %s took %ss\n' "$name" $(($(date +%s) - $4))
}

# finish PID RC: report the scenario run by PID (its slot is free once it is unset).
finish() {
	local pid=$1
	report "${job_name[$pid]}" "$2" "${job_log[$pid]}" "${job_start[$pid]}"
	unset "job_name[$pid]" "job_log[$pid]" "job_start[$pid]" "job_slot[$pid]"
}

# reap: wait for one running scenario to end and report it.
reap() {
	local pid rc
	wait -n -p pid "${!job_name[@]}"
	rc=$?
	finish "$pid" "$rc"
}

# drain: wait for every running scenario.
drain() { while [ ${#job_name[@]} -gt 0 ]; do reap; done; }

# scenario SCRIPT LABEL [VAR=VALUE...]: run one integration scenario with the environment given,
# log in $LOGS/<name>[.<label>].log, and report it as "int-<name>[ [label]]".
scenario() {
	local s=$1 label=$2 base name log slot=0 alone=0 pid start
	shift 2
	base=$(basename "$s" .sh)
	name=int-$base${label:+ [$label]}
	log=$LOGS/int-$base${label:+.${label// /-}}.log
	case " $(echo $SERIAL_SCENARIOS) " in *" $base "*) alone=1 ;; esac
	[ "$TEST_JOBS" -gt 1 ] || alone=1
	if [ $alone = 1 ]; then
		drain
		printf 'RUN  %s\n' "$name"
		start=$(date +%s)
		env T_PORT_SLOT=0 T_PORT_SLOTS=1 "$@" timeout -k 10 600 bash "$s" >"$log" 2>&1
		report "$name" $? "$log" "$start"
		return
	fi
	while [ ${#job_name[@]} -ge "$TEST_JOBS" ]; do reap; done
	while [[ " ${job_slot[*]} " == *" $slot "* ]]; do slot=$((slot + 1)); done
	printf 'RUN  %s\n' "$name"
	env T_PORT_SLOT=$slot T_PORT_SLOTS="$TEST_JOBS" "$@" timeout -k 10 600 bash "$s" \
		>"$log" 2>&1 </dev/null &
	pid=$!
	job_name[$pid]=$name
	job_log[$pid]=$log
	job_start[$pid]=$(date +%s)
	job_slot[$pid]=$slot
}

is_peer_scenario() { # NAME: listed in PEERS_SCENARIOS (or PEERS_SCENARIOS=all)
	[ "$PEERS_SCENARIOS" = all ] && return 0
	case " $(echo $PEERS_SCENARIOS) " in *" $1 "*) return 0 ;; esac
	return 1
}

hap_version() { # BIN: "2.6" from "HAProxy version 2.6.12-1+deb12u4 ..."
	"$1" -v 2>/dev/null | awk '/version/ { split($3, v, "."); print v[1] "." v[2]; exit }'
}

HAP_DEFAULT=$(hap_version "${HAPROXY_BIN:-haproxy}")
for s in tests/integration/[0-9]*.sh; do
	[ -f "$s" ] || continue
	label=""
	is_peer_scenario "$(basename "$s" .sh)" && label="haproxy ${HAP_DEFAULT:-?}"
	scenario "$s" "$label"
done

if [ -x "$HAPROXY34" ]; then
	v=$(hap_version "$HAPROXY34")
	for s in tests/integration/[0-9]*.sh; do
		[ -f "$s" ] || continue
		is_peer_scenario "$(basename "$s" .sh)" || continue
		scenario "$s" "haproxy $v" HAPROXY_BIN="$HAPROXY34"
	done
else
	printf 'NOTE %s is not built\n' "$HAPROXY34"
	printf '     (scripts/build-peers.sh needs ../shared/vendor): HAProxy %s only\n' \
		"${HAP_DEFAULT:-?}"
	for s in tests/integration/[0-9]*.sh; do
		[ -f "$s" ] || continue
		is_peer_scenario "$(basename "$s" .sh)" || continue
		result "int-$(basename "$s" .sh) [haproxy 3.4]" 77 /dev/null
	done
fi

drain

join() { local IFS=,; echo "$*" | sed 's/,/, /g'; }
[ $fail = 0 ] || printf 'failed: %s\n' "$(join "${failed[@]}")"
[ $skip = 0 ] || printf 'skipped: %s\n' "$(join "${skipped[@]}")"
if [ $skip = 0 ]; then
	printf 'total: %d passed, %d failed\n' "$pass" "$fail"
else
	printf 'total: %d passed, %d failed, %d skipped\n' "$pass" "$fail" "$skip"
fi
[ $fail = 0 ]
