#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The test suite behind `make test` (which builds first): unit tests under ASan+UBSan, fuzz
# corpus replay, format check, then the integration scenarios with real services.
# Ends with one line "total: N passed, M failed".
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
LOGS=$ROOT/build/test-logs
mkdir -p "$LOGS"
pass=0
fail=0
failed=()

result() { # NAME RC
	if [ "$2" = 0 ]; then
		pass=$((pass + 1))
		printf 'PASS %s\n' "$1"
	else
		fail=$((fail + 1))
		failed+=("$1")
		printf 'FAIL %s (rc %s, log %s)\n' "$1" "$2" "$LOGS/$1.log"
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

for s in tests/integration/[0-9]*.sh; do
	[ -f "$s" ] || continue
	name=int-$(basename "$s" .sh)
	printf 'RUN  %s\n' "$name"
	start=$(date +%s)
	timeout -k 10 600 bash "$s" >"$LOGS/$name.log" 2>&1
	rc=$?
	if [ $rc = 77 ]; then
		printf 'SKIP %s\n' "$name"
		continue
	fi
	[ $rc = 0 ] || tail -n 60 "$LOGS/$name.log"
	result "$name" $rc
	printf '     %s took %ss\n' "$name" $(($(date +%s) - start))
done

[ $fail = 0 ] || printf 'failed: %s\n' "${failed[*]}"
printf 'total: %d passed, %d failed\n' "$pass" "$fail"
[ $fail = 0 ]
