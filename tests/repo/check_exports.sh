#!/bin/sh
# check_exports.sh LIB... - pass only if each library exports nothing but
# the uvma_* calls of include/uvma.h (docs/building.md): libuvma.so is
# built with hidden visibility, and libuvma.a is one object whose hidden
# symbols were made local, so a program that links either never meets one
# of our internal names (tree_find, rcu_defer, ...) in its own space.
if [ $# -lt 1 ]; then
	echo "usage: $0 libuvma.so [libuvma.a ...]" >&2
	exit 2
fi
status=0
for lib in "$@"; do
	if [ ! -f "$lib" ]; then
		echo "check_exports: $lib: no such file" >&2
		exit 2
	fi
	case "$lib" in
	*.a) syms=$(nm -g --defined-only "$lib" |
		awk 'NF >= 3 { print $3 }') || exit 2 ;;
	*) syms=$(nm -D --defined-only "$lib" |
		awk 'NF >= 3 { print $3 }') || exit 2 ;;
	esac
	n=$(printf '%s\n' "$syms" | grep -c '^uvma_')
	other=$(printf '%s\n' "$syms" | grep -v -e '^uvma_' -e '^$')
	if [ -n "$other" ]; then
		echo "check_exports: FAILED: $lib exports names outside uvma_*:"
		printf '  %s\n' $other
		status=1
	elif [ "$n" -eq 0 ]; then
		echo "check_exports: FAILED: $lib exports no uvma_* call at all"
		status=1
	else
		echo "check_exports: passed: $lib: $n symbols, all uvma_*"
	fi
done
exit $status
