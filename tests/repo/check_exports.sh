#!/bin/sh
# check_exports.sh LIB - pass only if the shared library LIB exports nothing
# but the uvma_* calls of include/uvma.h (docs/building.md): the library is
# built with hidden visibility, and a program that links it must never meet
# one of our internal names (tree_find, rcu_defer, ...) in its own space.
if [ $# -ne 1 ] || [ ! -f "$1" ]; then
	echo "usage: $0 libuvma.so" >&2
	exit 2
fi
syms=$(nm -D --defined-only "$1" | awk 'NF >= 3 { print $3 }') || exit 2
n=$(printf '%s\n' "$syms" | grep -c '^uvma_')
other=$(printf '%s\n' "$syms" | grep -v -e '^uvma_' -e '^$')
if [ -n "$other" ]; then
	echo "check_exports: FAILED: $1 exports names outside uvma_*:"
	printf '  %s\n' $other
	exit 1
fi
if [ "$n" -eq 0 ]; then
	echo "check_exports: FAILED: $1 exports no uvma_* call at all"
	exit 1
fi
echo "check_exports: passed: $n symbols, all uvma_*"
