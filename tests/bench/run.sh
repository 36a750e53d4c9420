#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The benchmarks behind `make bench` (which builds first; this script builds nothing): every
# build/bench/bench_* micro-benchmark, then every tests/bench/[0-9]*.sh scenario. Each prints
# its figures as ratios against a baseline measured in the same run; none fails on speed.
# A benchmark that cannot run (crash, missing service) is reported and makes the exit non-zero;
# scenarios may exit 77 to say "skipped".
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

for s in tests/bench/[0-9]*.sh; do
	[ -f "$s" ] || continue
	echo "== $(basename "$s" .sh)"
	bash "$s"
	rc=$?
	if [ $rc = 77 ]; then
		echo "bench: $(basename "$s" .sh) skipped"
	elif [ $rc != 0 ]; then
		echo "bench: $(basename "$s" .sh) failed (rc $rc)"
		rc_all=1
	fi
done
exit $rc_all
