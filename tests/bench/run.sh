#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The benchmarks behind `make bench` (which builds first; this script builds nothing): every
# build/bench/bench_* micro-benchmark, then every tests/bench/[0-9]*.sh scenario. Each prints
# its figures as ratios against a baseline measured in the same run; none fails on speed.
# A benchmark that cannot run (crash, missing service) is reported and makes the exit non-zero;
# scenarios may exit 77 to say "skipped". The HAProxy benchmarks run once per HAProxy version.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
rc_all=0

for b in build/bench/bench_*; do
	[ -x "$b" ] || continue
	echo "== $(basename "$b")"
	"$b"
	rc=$?
	if [ $rc != 0 ]; then
		echo "bench: $(basename "$b") failed (rc $rc)"
		rc_all=1
	fi
done

# Benchmarks whose figures are HAProxy's (the SPOE path, the loader's runtime API pushes, the API
# during a reload, propagation to the edges) run on Debian's HAProxy, then again on HAProxy 3.4
# when scripts/build-peers.sh built it; each heading names the version its ratios are for.
HAPROXY34=$ROOT/build/peers/haproxy-3.4.0/haproxy
HAPROXY_BENCHES=${HAPROXY_BENCHES:-"10_agent 40_loader 41_reconcile_api 57_on_demand 70_propagation"}

hap_version() { # BIN: "2.6" from "HAProxy version 2.6.12-1+deb12u4 ..."
	"$1" -v 2>/dev/null | awk '/version/ { split($3, v, "."); print v[1] "." v[2]; exit }'
}

bench() { # SCRIPT LABEL [VAR=VALUE...]
	local s=$1 label=$2 name rc
	shift 2
	name="$(basename "$s" .sh)${label:+ [$label]}"
	echo "== $name"
	env "$@" bash "$s"
	rc=$?
	if [ $rc = 77 ]; then
		echo "bench: $name skipped"
	elif [ $rc != 0 ]; then
		echo "bench: $name failed (rc $rc)"
		rc_all=1
	fi
}

v_default=$(hap_version "${HAPROXY_BIN:-haproxy}")
for s in tests/bench/[0-9]*.sh; do
	[ -f "$s" ] || continue
	case " $HAPROXY_BENCHES " in
	*" $(basename "$s" .sh) "*) bench "$s" "haproxy ${v_default:-?}" ;;
	*) bench "$s" "" ;;
	esac
done

if [ -x "$HAPROXY34" ]; then
	v34=$(hap_version "$HAPROXY34")
	for b in $HAPROXY_BENCHES; do
		[ -f "tests/bench/$b.sh" ] || continue
		bench "tests/bench/$b.sh" "haproxy $v34" HAPROXY_BIN="$HAPROXY34"
	done
else
	echo "bench: $HAPROXY34 not built (scripts/build-peers.sh needs ../shared/vendor): HAProxy" \
		"benchmarks ran on HAProxy ${v_default:-?} only"
fi
exit $rc_all
