#!/bin/sh
# check_model.sh - verify a Promela model with SPIN and say whether the result
# is the one expected.
#
#   check_model.sh MODEL_PML EXPECT [SPIN_FLAG...]
#
#   MODEL_PML   the model (read only: everything is generated in a temporary
#               directory, removed on exit)
#   EXPECT      pass: every search must be complete and find 0 errors;
#               fail: SPIN must find an error (a mutant must be rejected)
#   SPIN_FLAG   passed to `spin -a` and to the trail replay, such as
#               -DMUTANT_DETACH_NO_WAIT or -DREADER_TRIES=3
#
# Two exhaustive searches (never bitstate hashing or hash compaction):
#   1. safety: assertion violations and invalid end states (pan without -E:
#      a process blocked forever, e.g. asleep with nobody to wake it).
#      Breadth-first when EXPECT=fail, so the counterexample is a shortest.
#   2. termination: any cycle in the state graph (pan -l with no progress
#      labels in the model: every cycle is a non-progress cycle). None means
#      every execution is finite, so with 1, every process ends under every
#      schedule. Skipped once search 1 has found an error.
#
# Environment: SPIN (default spin), CC (default cc), PAN_MEMLIM in megabytes
# (default 1024), PAN_DEPTH (default 1000000), PAN_CFLAGS (more flags for
# pan.c, such as -DCOLLAPSE to store states compressed, losslessly, for
# larger bounds), PAN_CYCLES=0 to skip search 2.
set -u

if [ $# -lt 2 ]; then
	echo "usage: $0 MODEL_PML pass|fail [SPIN_FLAG...]" >&2
	exit 2
fi
model=$1
expect=$2
shift 2
case $expect in
pass | fail) ;;
*)
	echo "$0: EXPECT must be pass or fail, not '$expect'" >&2
	exit 2
	;;
esac
if [ ! -r "$model" ]; then
	echo "$0: cannot read $model" >&2
	exit 2
fi

spin=${SPIN:-spin}
cc=${CC:-cc}
memlim=${PAN_MEMLIM:-1024}
depth=${PAN_DEPTH:-1000000}
pan_cflags=${PAN_CFLAGS:-}
cycles=${PAN_CYCLES:-1}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/uvma-model.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM HUP

# Work on a copy in the temporary directory: spin, pan and the trail write
# only there, and the replay finds the model and its trail side by side.
name=$(basename "$model")
cp "$model" "$tmp/$name" || exit 2
cd "$tmp" || exit 2

echo "== $name, expect $expect${*:+, flags: $*}"

if ! "$spin" -a "$@" "$name" >spin.out 2>&1; then
	cat spin.out
	echo "FAIL: spin -a failed"
	exit 1
fi

# run_pan LABEL "CFLAGS" "PAN_ARGS" SPIN_FLAG...: build pan.c with CFLAGS,
# run it with PAN_ARGS, print its summary and, if it found an error, the
# counterexample (replayed with the SPIN_FLAGs the model was generated with).
# Sets `errors` (the count pan reports) and `incomplete` (why the search was
# cut short, or empty). Returns 1 when pan could not be built or run.
run_pan()
{
	label=$1
	cflags=$2
	pan_args=$3
	shift 3
	echo "-- $label search"
	rm -f "$name.trail"
	# shellcheck disable=SC2086 # word splitting of the flag lists is wanted
	if ! "$cc" -O2 -w $cflags $pan_cflags -DMEMLIM="$memlim" -o pan pan.c \
		>cc.out 2>&1; then
		cat cc.out
		echo "FAIL: compiling pan.c failed"
		return 1
	fi
	start=$(date +%s)
	# shellcheck disable=SC2086
	./pan -m"$depth" $pan_args >pan.out 2>&1
	pan_rc=$?
	end=$(date +%s)

	# The summary: the error, the search kind, counts, memory, time.
	grep -E '^pan:[0-9]+:|^pan: (elapsed|wrote|reached)|error:|Search not completed|Breadth-First|non-progress cycles|State-vector|states, stored|transitions \(|total actual memory|out of memory' pan.out
	echo "(wall time $((end - start)) s, pan exit status $pan_rc)"

	errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' pan.out |
		tail -n 1)
	if [ -z "$errors" ]; then
		cat pan.out
		echo "FAIL: no 'errors:' line in pan's output"
		return 1
	fi
	incomplete=""
	if grep -q 'max search depth too small' pan.out; then
		incomplete="search depth truncated (raise PAN_DEPTH)"
	elif grep -qE 'MEMLIM|out of memory' pan.out; then
		incomplete="memory limit reached (PAN_MEMLIM=$memlim MB)"
	elif [ "$errors" -eq 0 ] && grep -q 'Search not completed' pan.out; then
		incomplete="search not completed"
	fi

	if [ "$errors" -gt 0 ]; then
		if [ ! -f "$name.trail" ]; then
			echo "FAIL: pan reported $errors error(s) but wrote no trail"
			return 1
		fi
		"$spin" -t -p "$@" "$name" >replay.out 2>&1
		echo "-- counterexample (spin -t -p; the monitor's steps left out):"
		grep -E '^ *[0-9]+:[[:space:]]+proc .*\[' replay.out |
			grep -v '(monitor:' | sed -n '1,300p'
		grep -E 'START OF CYCLE' replay.out
		echo "-- violation:"
		grep -E '^pan:[0-9]+:' pan.out
		grep -E 'Error:|text of failed assertion' replay.out | sort -u
		if grep -qE '^pan:[0-9]+: invalid end state' pan.out; then
			echo "-- processes left, not at a valid end state (stuck):"
			sed -n '/processes:/,$p' replay.out |
				grep -E '^ *[0-9]+:[[:space:]]+proc ' |
				grep -v 'valid end state'
		fi
	fi
	return 0
}

safety="-DSAFETY"
[ "$expect" = fail ] && safety="-DSAFETY -DBFS"
run_pan safety "$safety" "" "$@" || exit 1
found=$errors
cut=$incomplete
if [ "$found" -eq 0 ] && [ -z "$cut" ] && [ "$expect" = pass ]; then
	# Code the search never reached: in a model that verifies, a protocol
	# step listed here would be one that no property was checked against.
	sed -n '/^unreached in proctype/,/^pan: elapsed/p' pan.out |
		grep -v '^pan: elapsed'
fi

if [ "$found" -eq 0 ] && [ "$cycles" != 0 ]; then
	run_pan termination "-DNP" "-l" "$@" || exit 1
	found=$errors
	[ -n "$incomplete" ] && cut="$cut${cut:+; }$incomplete"
fi

if [ "$expect" = pass ]; then
	if [ "$found" -ne 0 ]; then
		echo "FAIL: SPIN found an error in a model that must verify"
		exit 1
	fi
	if [ -n "$cut" ]; then
		echo "FAIL: incomplete search: $cut"
		exit 1
	fi
	echo "PASS: exhaustive searches, 0 errors"
	exit 0
fi

if [ "$found" -eq 0 ]; then
	if [ -n "$cut" ]; then
		echo "FAIL: incomplete search ($cut) found no error"
	else
		echo "FAIL: SPIN accepted a model that must be rejected"
	fi
	exit 1
fi
echo "PASS: SPIN rejected the model as expected"
exit 0
