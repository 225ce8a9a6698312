#!/bin/sh
# bench_ops.sh - the ops scenario end to end, short (bench/bench_ops.c):
# mmap+munmap and mprotect split+merge against the kernel at two sizes, and
# an address space's lifetime. Fails when a measurement failed, or when the
# tree's work per pair is missing or impossible: every call of a pair
# changes the map, so it writes at least one tree node and commits once, at
# most grafting (2 commits per pair), and its splice follows the walk that
# planned it (tree.h, struct tree_hint).
#
# usage: bench_ops.sh UVMA OUTDIR
set -eu
uvma=$1
out=$2
mkdir -p "$out"
rc=0
"$uvma" bench --scenario ops --areas 300,3000 --ops 2000 --repeat 1 \
	>"$out/bench_ops.txt" || rc=$?
cat "$out/bench_ops.txt"
if [ "$rc" -ne 0 ] || grep -q "failed" "$out/bench_ops.txt"; then
	echo "bench_ops: a measurement failed" >&2
	exit 1
fi
work=$(grep "tree nodes written" "$out/bench_ops.txt" || true)
if [ "$(printf '%s\n' "$work" | grep -c .)" -ne 4 ]; then
	echo "bench_ops: expected 4 lines of the tree's work per pair" >&2
	exit 1
fi
# "<op> at <n> areas: <written> tree nodes written and <grafts> commits
# grafted in place per pair of calls (<hinted> splices followed the plan's
# walk)": every pair makes two splices, which follow the walk that planned
# them unless the walk's leaf does not hold the splice (rare).
if ! printf '%s\n' "$work" | awk '{
	hinted = $19; sub(/^\(/, "", hinted)
	if ($5 < 2 || $10 > 2 || hinted + 0 < 1 || hinted + 0 > 2) bad = 1
} END { exit bad }'; then
	echo "bench_ops: nodes written, grafts or hinted splices per pair" \
		"out of range" >&2
	exit 1
fi
for row in "life uvma" "map uvma" "mprot uvma"; do
	if ! grep -q "$row" "$out/bench_ops.txt"; then
		echo "bench_ops: no row $row" >&2
		exit 1
	fi
done
echo "bench_ops: every row measured, the tree's work counted"
