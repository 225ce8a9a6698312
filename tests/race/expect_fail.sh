#!/bin/sh
# expect_fail.sh - run a broken variant of a race reproduction (tests/race/,
# docs/races.md) and pass only if it failed because it caught its race:
#   expect_fail.sh <test binary> [args...]
#
# "Caught" means both: the binary exited nonzero (a crash counts), and its
# output has the test's own "VIOLATION:" line or a sanitizer's report. A
# broken variant that fails for an unrelated reason (it could not start, a
# CHECK of its setup failed, it timed out on a wait) shows neither, and
# then this script fails too: such a run proves nothing about the race.
if [ $# -lt 1 ]; then
	echo "usage: $0 <broken race test> [args...]" >&2
	exit 2
fi

out=$(mktemp) || exit 2
trap 'rm -f "$out"' EXIT

"$@" >"$out" 2>&1
status=$?
cat "$out"

if [ "$status" -eq 0 ]; then
	echo "expect_fail: FAILED: the broken variant exited 0: the race" \
	     "was not caught"
	exit 1
fi
if grep -q -e '^VIOLATION:' -e 'ERROR: AddressSanitizer' \
	-e 'WARNING: ThreadSanitizer' -e 'runtime error:' "$out"; then
	echo "expect_fail: passed: the broken variant failed (exit status" \
	     "$status) and reported the race"
	exit 0
fi
echo "expect_fail: FAILED: the broken variant failed (exit status $status)" \
     "without reporting a violation: it failed for another reason"
exit 1
