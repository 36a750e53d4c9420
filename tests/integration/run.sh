#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run integration scenarios alone (make integration): all of them, or those named.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
pass=0
fail=0
scripts=("$@")
[ ${#scripts[@]} -gt 0 ] || scripts=(tests/integration/[0-9]*.sh)
for s in "${scripts[@]}"; do
	echo "=== $s"
	if timeout -k 10 600 bash "$s"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
printf 'integration: %d passed, %d failed\n' "$pass" "$fail"
[ $fail = 0 ]
