#!/bin/sh
# run_conformance.sh - run operation scripts through `uvma replay` and
# `uvma-kernel-replay` (the running kernel) and fail on any difference.
#
#   run_conformance.sh --uvma UVMA --kernel KREPLAY SCRIPT...
#       every SCRIPT (tests/conformance/scenarios/*.txt)
#   run_conformance.sh --uvma UVMA --kernel KREPLAY --gen GEN --random N
#           [--ops M] [--pages P] [--base B] [--fixed F] [--seed S]
#           [--keep DIR] [--show K] [--needs-linux X.Y]
#       N scripts of M operations (default 200) from gen_script (over P
#       pages from B, F% of remaps with MREMAP_FIXED: see gen_script
#       --help), seeds S,
#       S+1, ..., S+N-1. S comes from --seed, else $UVMA_SEED, else the
#       clock, and is printed first as every test of uvma does. --keep
#       saves each failing script (and its shortened form) in DIR. The
#       first K failing scripts (1) are printed and shortened.
#
# On a difference it prints the script, then `diff -u kernel uvma`. For a
# random script it also prints a shortened script that still shows a
# difference (lines dropped one by one while the outputs keep differing),
# which is usually what to look at first.
#
# The kernel is the reference, so its version matters: a script with a line
# `# needs linux X.Y` is skipped on an older kernel (--needs-linux X.Y does
# the same for the random scripts). Exit status: 0 when all scripts
# matched, 1 when one did not, 77 when all were skipped, 2 for a usage or
# setup error.
set -u

uvma=
kernel=
gen=
random=0
ops=200
pages=64
base=0x10000000
fixed=60
needs=
seed=
keep=
# How many failing random scripts to print in full (all are counted).
max_shown=1
# How long shortening one script may take.
shorten_seconds=60

usage() {
	# The comment at the top, up to the first line that is not one.
	awk 'NR == 1 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' \
		"$0" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--uvma) uvma=$2; shift 2 ;;
	--kernel) kernel=$2; shift 2 ;;
	--gen) gen=$2; shift 2 ;;
	--random) random=$2; shift 2 ;;
	--ops) ops=$2; shift 2 ;;
	--pages) pages=$2; shift 2 ;;
	--base) base=$2; shift 2 ;;
	--fixed) fixed=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--keep) keep=$2; shift 2 ;;
	--show) max_shown=$2; shift 2 ;;
	--needs-linux) needs=$2; shift 2 ;;
	-h|--help) usage ;;
	--) shift; break ;;
	-*) echo "run_conformance: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
done
[ -n "$uvma" ] && [ -n "$kernel" ] || usage
[ -x "$uvma" ] && [ -x "$kernel" ] || {
	echo "run_conformance: $uvma or $kernel is not executable" >&2
	exit 2
}

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

# Where kernels differ (the zero page, so far), uvma models the running
# one: its replay gets the options the kernel's probe prints.
model=$("$kernel" --probe) || {
	echo "run_conformance: $kernel --probe failed" >&2
	exit 2
}
[ -z "$model" ] || echo "run_conformance: modelling this kernel with $model"

# run_both SCRIPT: outputs in $tmp/k and $tmp/u; 0 when they are equal.
# A program that fails (exit status not 0) counts as a difference: its
# status is appended to its output so that the diff shows it.
run_both() {
	"$kernel" "$1" >"$tmp/k" 2>"$tmp/k.err" ||
		echo "EXIT STATUS $? ($(head -c 300 "$tmp/k.err"))" >>"$tmp/k"
	# shellcheck disable=SC2086 # $model: zero or more options
	"$uvma" replay $model "$1" >"$tmp/u" 2>"$tmp/u.err" ||
		echo "EXIT STATUS $? ($(head -c 300 "$tmp/u.err"))" >>"$tmp/u"
	cmp -s "$tmp/k" "$tmp/u"
}

# show SCRIPT LABEL: the script and the diff of the last run_both.
show() {
	echo "---- $2: script $1:"
	grep -n '' "$1"
	echo "---- $2: diff -u kernel uvma:"
	diff -u --label kernel --label uvma "$tmp/k" "$tmp/u"
	if [ -s "$tmp/u.err" ]; then
		echo "---- $2: uvma's stderr:"
		head -n 20 "$tmp/u.err"
	fi
}

# shorten SCRIPT OUT: drop lines, last first, while the outputs still
# differ; the comment lines stay. Quadratic in the worst case: each run is
# a few milliseconds and scripts have a few hundred lines, but a
# ThreadSanitizer build takes a second to start, so it gives up after
# $shorten_seconds and keeps what it has. (POSIX sh has no local
# variables: its own are prefixed sh_.)
shorten() {
	cp "$1" "$2"
	sh_changed=1
	sh_deadline=$(($(date +%s) + shorten_seconds))
	while [ "$sh_changed" = 1 ]; do
		sh_changed=0
		sh_line=$(wc -l <"$2")
		while [ "$sh_line" -ge 1 ]; do
			if [ "$(date +%s)" -ge "$sh_deadline" ]; then
				echo "(shortening stopped after" \
				     "${shorten_seconds}s)"
				sh_changed=0
				break
			fi
			case "$(sed -n "${sh_line}p" "$2")" in
			'#'*) sh_line=$((sh_line - 1)); continue ;;
			esac
			sed "${sh_line}d" "$2" >"$tmp/try"
			if ! run_both "$tmp/try"; then
				cp "$tmp/try" "$2"
				sh_changed=1
			fi
			sh_line=$((sh_line - 1))
		done
	done
	run_both "$2"
}

# linux_at_least X.Y: whether the running kernel is X.Y or newer.
linux_at_least() {
	want_major=${1%%.*}
	want_minor=${1#*.}
	release=$(uname -r)
	have_major=${release%%.*}
	have_minor=${release#*.}
	have_minor=${have_minor%%[!0-9]*}
	[ "$have_major" -gt "$want_major" ] ||
		{ [ "$have_major" -eq "$want_major" ] &&
		  [ "$have_minor" -ge "$want_minor" ]; }
}

failed=0
skipped=0

if [ "$random" -eq 0 ]; then
	[ $# -gt 0 ] || usage
	for script in "$@"; do
		needs=$(sed -n 's/^# needs linux \([0-9]*\.[0-9]*\).*/\1/p' \
			"$script" | head -n 1)
		if [ -n "$needs" ] && ! linux_at_least "$needs"; then
			echo "skipped: $script needs Linux $needs," \
			     "this is $(uname -r)"
			skipped=$((skipped + 1))
			continue
		fi
		if run_both "$script"; then
			echo "ok: $script"
		else
			echo "FAILED: $script"
			show "$script" "$(basename "$script")"
			failed=$((failed + 1))
		fi
	done
	[ "$failed" -eq 0 ] || { echo "$failed script(s) differ"; exit 1; }
	[ "$skipped" -lt $# ] || exit 77
	exit 0
fi

if [ -n "$needs" ] && ! linux_at_least "$needs"; then
	echo "skipped: the random scripts need Linux $needs, this is $(uname -r)"
	exit 77
fi

[ -n "$gen" ] && [ -x "$gen" ] || usage
if [ -z "$seed" ]; then
	seed=${UVMA_SEED:-}
fi
if [ -z "$seed" ]; then
	# Clock and pid, cut to fit the shell's arithmetic.
	seed=$(( ($(date +%s%N) + $$) % 4294967296 ))
fi
echo "seed: $seed (rerun with --seed $seed)"
[ -z "$keep" ] || mkdir -p "$keep" || exit 2

i=0
failed_seeds=
while [ "$i" -lt "$random" ]; do
	s=$((seed + i))
	script=$tmp/random-$s.txt
	"$gen" --seed "$s" --ops "$ops" --pages "$pages" --base "$base" \
		--fixed "$fixed" >"$script" || exit 2
	if ! run_both "$script"; then
		failed=$((failed + 1))
		failed_seeds="$failed_seeds $s"
		if [ "$failed" -le "$max_shown" ]; then
			echo "FAILED: random script, gen_script --seed $s" \
			     "--ops $ops --pages $pages --base $base" \
			     "--fixed $fixed"
			show "$script" "seed $s"
			shorten "$script" "$tmp/short-$s.txt"
			show "$tmp/short-$s.txt" "seed $s, shortened"
		fi
		if [ -n "$keep" ]; then
			cp "$script" "$keep/random-$s.txt"
			[ ! -f "$tmp/short-$s.txt" ] ||
				cp "$tmp/short-$s.txt" "$keep/short-$s.txt"
		fi
	fi
	i=$((i + 1))
done

if [ "$failed" -gt 0 ]; then
	echo "$failed of $random random scripts differ (seeds:$failed_seeds)"
	exit 1
fi
echo "ok: $random random scripts of $ops operations match the kernel"
exit 0
