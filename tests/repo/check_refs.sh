#!/bin/sh
# check_refs.sh ROOT - pass only if nothing in the repository at ROOT cites
# a document that is not in it. The design lives in docs/design.md; the
# mailing-list threads it came from are summarised there (H0-H4), so no
# file may point at the outside design reference or at the thread files
# it was written from (the patterns below), and every
# repository path a file names (under src/, docs/, tests/ and so on)
# must exist.
root=${1:?usage: check_refs.sh ROOT}
cd "$root" || exit 2
dirs="include src tests bench tools examples docs cmake README.md CMakeLists.txt Makefile uvma.pc.in .ci"
bad=0

# Spelled in two halves so that this file does not match itself.
design_ref="DESIG""N[.]md"
thread_ref="seed""s/"
outside=$(grep -rnI -e "$design_ref" -e "$thread_ref" $dirs 2>/dev/null)
if [ -n "$outside" ]; then
	echo "check_refs: files cite documents outside the repository:"
	printf '%s\n' "$outside"
	bad=1
fi

# Paths under the repository's top folders, without wildcards or
# placeholders (src/*.c, race_<name>.c), and not build outputs.
# A path starts a word: not "$src/x.c" (a variable) nor "a/src/x.c".
paths=$(grep -rhoIE \
	'(^|[^A-Za-z0-9_$./-])(include|src|tests|bench|tools|examples|docs)/[A-Za-z0-9_./-]+\.(c|h|md|sh|gp|pml|txt|in)' \
	$dirs 2>/dev/null | sed -E 's#^[^a-z]##' | sort -u)
for p in $paths; do
	case "$p" in
	*/build/* | build/*) continue ;;
	esac
	if [ ! -e "$p" ]; then
		echo "check_refs: names a file that does not exist: $p"
		grep -rnIF "$p" $dirs 2>/dev/null | head -3 | sed 's/^/  /'
		bad=1
	fi
done
if [ "$bad" -ne 0 ]; then
	echo "check_refs: FAILED"
	exit 1
fi
echo "check_refs: passed: no reference outside the repository"
