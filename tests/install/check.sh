#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Usage: tests/install/check.sh BUILD_DIR
# Installs BUILD_DIR into a temporary prefix, then builds and runs the consumer in
# tests/install/ against it twice: via find_package (CMake) and via pkg-config.
set -eu

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/grndpool-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

echo "== install $build -> $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || {
  cat "$tmp/install.log"; exit 1; }

# The library directory is lib/ or lib/<multiarch>/ depending on GNUInstallDirs.
pc=$(find "$prefix" -name grndpool.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || { echo "grndpool.pc not installed" >&2; exit 1; }
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
[ -e "$libdir/libgrndpool.so" ] || { echo "libgrndpool.so not in $libdir" >&2; exit 1; }
[ -e "$libdir/libgrndpool.a" ] || { echo "libgrndpool.a not in $libdir" >&2; exit 1; }

# Build the consumer with the library's own compiler flags: a sanitizer build of
# grndpool (CMakePresets.json) can only be linked by a sanitizer build.
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
cflags=$(cache CMAKE_C_FLAGS)
cxxflags=$(cache CMAKE_CXX_FLAGS)
ldflags=$(cache CMAKE_EXE_LINKER_FLAGS)

echo "== consumer via find_package(grndpool)"
cmake -S "$here" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_FLAGS="$cflags" -DCMAKE_CXX_FLAGS="$cxxflags" \
  -DCMAKE_EXE_LINKER_FLAGS="$ldflags" >"$tmp/configure.log" || {
  cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/cmake-build" >"$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
LD_LIBRARY_PATH=$libdir "$tmp/cmake-build/consumer"
"$tmp/cmake-build/consumer_static"

echo "== consumer via pkg-config"
# shellcheck disable=SC2046,SC2086  # word splitting of the flags is intended
${CC:-cc} $cflags $ldflags -o "$tmp/consumer-pc" "$here/main.c" \
  $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs grndpool)
LD_LIBRARY_PATH=$libdir "$tmp/consumer-pc"

echo "== arc4random drop-in in LIBDIR/grndpool, as in the .deb"
dropin=$libdir/grndpool/libgrndpool-arc4random.so
[ -e "$dropin" ] || { echo "libgrndpool-arc4random.so not in $libdir/grndpool" >&2; exit 1; }
# Preloaded into a program that never linked grndpool, with no LD_LIBRARY_PATH:
# its run path ($ORIGIN/..) finds libgrndpool.so.0.
${CC:-cc} $cflags $ldflags -o "$tmp/dropin" "$here/../../examples/arc4random_dropin.c" -ldl
# (In an ASan build the preload precedes libasan, which ASan refuses by default.)
out=$(env -u LD_LIBRARY_PATH LD_PRELOAD="$dropin" \
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" "$tmp/dropin")
echo "$out"
case $out in
  *"arc4random from $dropin"*) ;;
  *) echo "the drop-in did not serve arc4random" >&2; exit 1 ;;
esac

echo "== install check passed"
