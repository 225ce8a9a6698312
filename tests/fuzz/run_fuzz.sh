#!/bin/bash
# run_fuzz.sh BINARY DIR SECONDS JOBS GOAL [libFuzzer flags...]
#
# `make fuzz`: JOBS independent libFuzzer processes (one per core) on one
# corpus, DIR/corpus, seeded from tests/fuzz/regress, each for SECONDS.
# Independent processes rather than libFuzzer's fork mode: fork mode
# restarts a job every few seconds and replays part of the corpus each
# time, which cost a third of the inputs here. Each job's output goes to
# DIR/job-N.log; a crash, leak or timeout in any job fails the run (its
# input is in DIR/artifacts/, its log is printed). Ends with one line:
# inputs run, per second (summed over the jobs, from libFuzzer's final
# stats), and the goal met or NOT met.
set -u
bin=${1:?usage: run_fuzz.sh BINARY DIR SECONDS JOBS GOAL [flags...]}
dir=${2:?} secs=${3:?} jobs=${4:?} goal=${5:?}
shift 5
here=$(cd "$(dirname "$0")" && pwd)
if [ "$jobs" -lt 1 ]; then
	echo "run_fuzz: JOBS must be at least 1" >&2
	exit 2
fi
mkdir -p "$dir/corpus" "$dir/artifacts"
rm -f "$dir"/job-*.log # a smaller run must not count an older one's

start=$(date +%s.%N)
pids=()
for j in $(seq 1 "$jobs"); do
	"$bin" "$@" -print_final_stats=1 -max_total_time="$secs" \
		-artifact_prefix="$dir/artifacts/" \
		"$dir/corpus" "$here/regress" >"$dir/job-$j.log" 2>&1 &
	pids+=($!)
done
failed=0
for j in $(seq 1 "$jobs"); do
	if ! wait "${pids[$((j - 1))]}"; then
		echo "run_fuzz: job $j FAILED; its log ($dir/job-$j.log):"
		tail -n 60 "$dir/job-$j.log"
		failed=1
	fi
done
end=$(date +%s.%N)

for j in $(seq 1 "$jobs"); do
	grep -h -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units)' \
		"$dir/job-$j.log" | sed "s/^/job $j: /"
done
cat "$dir"/job-*.log | awk -v goal="$goal" -v jobs="$jobs" \
	-v start="$start" -v end="$end" '
	/^stat::number_of_executed_units:/ { n += $2 }
	END {
		t = end - start
		r = n / t
		verdict = (r >= goal) ? "met" : "NOT met"
		printf("make fuzz: %d inputs in %.1f s: %.0f inputs/s (%d " \
		       "jobs); goal >= %d inputs/s: %s\n", n, t, r, jobs, goal,
		       verdict)
	}'
exit "$failed"
