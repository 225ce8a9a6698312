#!/bin/sh
# check_install.sh BUILD_DIR SOURCE_DIR - install the build into a fresh
# temporary prefix, then build examples/faults.c against that copy the two
# ways a user would, and run each program:
#   pkg-config   cc faults.c $(pkg-config --cflags --libs uvma)
#   CMake        find_package(uvma), uvma::uvma and uvma::uvma_static
#                (tests/install/CMakeLists.txt)
# Nothing of the build tree may leak into these builds: only the prefix.
set -eu
build=${1:?usage: check_install.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: check_install.sh BUILD_DIR SOURCE_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
libdir=$(dirname "$(find "$prefix" -name libuvma.so -print -quit)")
test -n "$libdir" || { echo "check_install: no libuvma.so installed"; exit 1; }
test -f "$prefix/include/uvma.h"

echo "== pkg-config"
PKG_CONFIG_PATH=$libdir/pkgconfig
export PKG_CONFIG_PATH
flags=$(pkg-config --cflags --libs uvma)
echo "cc faults.c $flags"
# shellcheck disable=SC2086
cc -std=gnu11 -Wall -Wextra -Werror -o "$tmp/faults_pc" \
	"$src/examples/faults.c" $flags
LD_LIBRARY_PATH=$libdir "$tmp/faults_pc" >"$tmp/run_pc.log"
LD_LIBRARY_PATH=$libdir ldd "$tmp/faults_pc" | grep -q "$libdir/libuvma.so" ||
	{ echo "check_install: faults_pc does not load the installed copy"; exit 1; }

echo "== find_package(uvma)"
cmake -S "$src/tests/install" -B "$tmp/consumer" \
	-DCMAKE_PREFIX_PATH="$prefix" \
	-DUVMA_EXAMPLE="$src/examples/faults.c" >"$tmp/consumer.log"
cmake --build "$tmp/consumer" >>"$tmp/consumer.log"
LD_LIBRARY_PATH=$libdir "$tmp/consumer/faults_cmake" >"$tmp/run_cmake.log"
"$tmp/consumer/faults_cmake_static" >"$tmp/run_static.log"
grep -q "uvma::uvma" "$libdir/cmake/uvma/uvmaTargets.cmake"

echo "check_install: passed: pkg-config, find_package (shared and static)"
