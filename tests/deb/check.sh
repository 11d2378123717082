#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: tests/deb/check.sh DEB_DIR
# Extracts libgrndpool0, libgrndpool-dev, grndpool-tools and
# grndpool-openssl-provider from DEB_DIR into a
# temporary root and builds and runs tests/install/'s consumer against them with
# pkg-config and with find_package, then runs the packaged tools and man pages.
set -euo pipefail
[[ $# == 1 && -d $1 ]] || { echo "usage: $0 DEB_DIR" >&2; exit 2; }
debs=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")/../install" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/grndpool-debcheck.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root

for pkg in libgrndpool0 libgrndpool-dev grndpool-tools grndpool-openssl-provider; do
  deb=$(ls "$debs"/${pkg}_*.deb)
  echo "== extract $(basename "$deb")"
  dpkg-deb -x "$deb" "$root"
done
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
libdir=$root/usr/lib/$multiarch
[[ -L $libdir/libgrndpool.so ]] || { echo "libgrndpool.so symlink missing" >&2; exit 1; }
soname=$(objdump -p "$libdir/libgrndpool.so" | awk '$1 == "SONAME" { print $2 }')
[[ $soname == libgrndpool.so.0 ]] || { echo "SONAME is '$soname'" >&2; exit 1; }
# The packaged libraries export what the version scripts say, no more.
src=$(cd "$here/../.." && pwd)
bash "$src/tests/abi/check-symbols.sh" "$libdir/libgrndpool.so.0" "$src/lib/grndpool.map" \
  "$root/usr/include/grndpool/grndpool.h"
bash "$src/tests/abi/check-symbols.sh" "$libdir/grndpool/libgrndpool-arc4random.so" \
  "$src/compat/arc4random.map"

# Each consumer must load the extracted library, not one installed on the system.
check_loads_extracted() {
  local deps
  deps=$(LD_LIBRARY_PATH=$libdir ldd "$1")
  [[ $deps == *"libgrndpool.so.0 => $libdir/libgrndpool.so.0 "* ]] ||
    { echo "$1 does not load $libdir/libgrndpool.so.0: $deps" >&2; exit 1; }
  LD_LIBRARY_PATH=$libdir "$1"
}

echo "== consumer via pkg-config"
pc_flags=$(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --cflags --libs grndpool)
# The .pc file locates itself (${pcfiledir}), so it must point into the extracted root.
pc_includedir=$(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --variable=includedir grndpool)
[[ $(realpath "$pc_includedir") == "$root/usr/include" ]] ||
  { echo "pkg-config includedir is $pc_includedir" >&2; exit 1; }
# shellcheck disable=SC2086  # word splitting of the flags is intended
cc -o "$tmp/consumer-pc" "$here/main.c" $pc_flags
check_loads_extracted "$tmp/consumer-pc"

echo "== consumer via find_package(grndpool)"
cmake -S "$here" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$root/usr" >"$tmp/configure.log" ||
  { cat "$tmp/configure.log"; exit 1; }
grep -q "^grndpool_DIR:PATH=$libdir/cmake/grndpool" "$tmp/cmake-build/CMakeCache.txt" ||
  { echo "find_package did not use the extracted package" >&2; exit 1; }
cmake --build "$tmp/cmake-build" >"$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
check_loads_extracted "$tmp/cmake-build/consumer"
"$tmp/cmake-build/consumer_static"

echo "== grndpool-tools"
bytes=$(LD_LIBRARY_PATH=$libdir "$root/usr/bin/grndpool-cat" -n 4K --threads 2 | wc -c)
[[ $bytes == 4096 ]] || { echo "grndpool-cat wrote $bytes bytes" >&2; exit 1; }
LD_LIBRARY_PATH=$libdir "$root/usr/bin/grndpool-env" --check
# The drop-in takes over glibc's arc4random in a program that never linked it.
cat >"$tmp/arc4.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) { (void)arc4random(); puts("ok"); return 0; }
C
cc -o "$tmp/arc4" "$tmp/arc4.c"
LD_LIBRARY_PATH=$libdir LD_PRELOAD=$libdir/grndpool/libgrndpool-arc4random.so GRNDPOOL_STATS=1 \
  "$tmp/arc4" 2>"$tmp/arc4.err" >/dev/null
grep -q 'bytes_served=[1-9]' "$tmp/arc4.err" ||
  { echo "the arc4random drop-in did not draw from grndpool" >&2; cat "$tmp/arc4.err"; exit 1; }
# Every page renders without a warning, and `man NAME` finds every function.
bash "$src/tests/man/check-names.sh" "$root/usr/share/man" "$root/usr/include/grndpool/grndpool.h"
echo "== grndpool-openssl-provider"
module=$libdir/ossl-modules/grndpool.so
[[ $(pkg-config --variable=modulesdir libcrypto) == /usr/lib/$multiarch/ossl-modules ]] ||
  { echo "libcrypto's modulesdir is not /usr/lib/$multiarch/ossl-modules" >&2; exit 1; }
[[ -f $module ]] || { echo "$module missing" >&2; exit 1; }
cnf=$root/usr/share/grndpool/grndpool-provider.cnf
listed=$(LD_LIBRARY_PATH=$libdir OPENSSL_MODULES=$libdir/ossl-modules OPENSSL_CONF=$cnf \
  openssl list -random-generators)
grep -q 'GRNDPOOL @ grndpool' <<<"$listed" || { echo "the packaged provider is not listed: $listed" >&2; exit 1; }
LD_LIBRARY_PATH=$libdir OPENSSL_MODULES=$libdir/ossl-modules OPENSSL_CONF=$cnf GRNDPOOL_STATS=1 \
  openssl rand -hex 16 2>"$tmp/ossl.err" >/dev/null
grep -q 'bytes_served=[1-9]' "$tmp/ossl.err" ||
  { echo "openssl rand did not draw from the packaged provider" >&2; cat "$tmp/ossl.err"; exit 1; }
echo "== deb check passed"
