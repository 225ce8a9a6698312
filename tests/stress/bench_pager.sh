#!/bin/sh
# bench_pager.sh - the pager scenario of `uvma bench` end to end, short: a
# small file and anonymous memory touched by every design (uvma with SIGBUS
# delivery and with handler threads, the global pager, the kernel), and the
# churn workload. Every run checks each page it touched (the store, and the
# file's bytes beside it), so a wrong fill is a failed measurement. Fails
# when a measurement failed or a row has none; passes when the scenario
# says it skipped (no userfaultfd: not root).
#
# usage: bench_pager.sh UVMA OUTDIR
set -eu
uvma=$1
out=$2
mkdir -p "$out"
"$uvma" bench --scenario pager --size 2M --repeat 1 --seconds 0.05 \
	--json "$out/bench_pager.json" >"$out/bench_pager.txt"
cat "$out/bench_pager.txt"
if grep -q "^pager: skipped" "$out/bench_pager.txt"; then
	echo "bench_pager: skipped (no userfaultfd here)"
	exit 0
fi
if grep -q "(failed)" "$out/bench_pager.txt"; then
	echo "bench_pager: a measurement failed" >&2
	exit 1
fi
if ! grep -q '"repeats": 1' "$out/bench_pager.json" ||
	grep -q '"repeats": 0' "$out/bench_pager.json"; then
	echo "bench_pager: a row has no measurement" >&2
	exit 1
fi
echo "bench_pager: every design measured, every page right"
