#!/bin/sh
# bench_designs.sh - the design comparison end to end, short: every scenario
# of `uvma bench` for the given designs, each in its worker process. Fails
# when a measurement failed, when a fault or a map change inside a worker
# returned an error (the churn mapper and the fault threads count them), or
# when a row has no measurement. Under the sanitizers the workers are
# instrumented too, so the rwsem and global baselines get the same race and
# memory checking as the library.
#
# usage: bench_designs.sh UVMA DESIGNS OUTDIR
set -eu
uvma=$1
designs=$2
out=$3
mkdir -p "$out"
"$uvma" bench --scenario all --design "$designs" --seconds 0.1 \
	--repeat 1 --areas 300,3000 --json "$out/bench_designs.json" \
	>"$out/bench_designs.txt"
cat "$out/bench_designs.txt"
if grep -q "(failed)" "$out/bench_designs.txt"; then
	echo "bench_designs: a measurement failed" >&2
	exit 1
fi
if grep -q '"repeats": 0' "$out/bench_designs.json"; then
	echo "bench_designs: a row has no measurement" >&2
	exit 1
fi
if grep '"errors": ' "$out/bench_designs.json" |
	grep -v '"errors": 0.000' >/dev/null; then
	echo "bench_designs: faults or map changes failed inside a worker" >&2
	exit 1
fi
echo "bench_designs: every design measured, no errors"
