#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: tests/install/user-prefix.sh SOURCE_DIR
# README's "Install and link", run as a new user would: from a copy of the
# source tree, as an unprivileged user (nobody, when run as root), with
# GoogleTest, Google Benchmark and libsodium hidden.
#   1. A plain `cmake -B build` configures, says once each that the tests and
#      the benchmarks are off, and builds everything else.
#   2. README's three blocks, verbatim: the library-only install into
#      $HOME/.local, a find_package consumer and a pkg-config consumer. Both
#      consumers must start without LD_LIBRARY_PATH (the rpath note) and load
#      the library from the prefix; the CMake one also once installed.
set -euo pipefail
[[ $# == 1 && -f $1/CMakeLists.txt ]] || { echo "usage: $0 SOURCE_DIR" >&2; exit 2; }
src_root=$(cd "$1" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/grndpool-user.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The fenced blocks of README's "## Install and link" section, in order.
readme_block() {
  awk -v want="$1" '
    /^## / { inside = ($0 == "## Install and link") }
    inside && /^```/ { if (fence) { fence = 0; n++ } else fence = 1; next }
    inside && fence && n + 1 == want { print }
  ' "$src_root/README.md"
}
for i in 1 2 3; do
  readme_block "$i" >"$tmp/block$i"
  [[ -s $tmp/block$i ]] || fail "README.md has no block $i under '## Install and link'"
done

mkdir -p "$tmp/src" "$tmp/home" "$tmp/tmp"
tar -C "$src_root" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$tmp/src" -xf -
cp "$src_root/tests/install/main.c" "$tmp/home/app.c"

# Hidden packages: find_package refuses GTest and benchmark, and pkg-config
# searches a directory holding every system .pc file but libsodium's.
mkdir -p "$tmp/pc"
IFS=: read -ra pc_dirs <<<"$(pkg-config --variable pc_path pkg-config)"
for dir in "${pc_dirs[@]}"; do
  for pc in "$dir"/*.pc; do
    [[ -e $pc && $(basename "$pc") != libsodium.pc ]] && ln -sf "$pc" "$tmp/pc/"
  done
done
hide=(-DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON)

# Everything below runs as this user, with a clean environment.
as_user=(env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$tmp/home" TMPDIR="$tmp/tmp"
         PKG_CONFIG_LIBDIR="$tmp/pc")
if [[ $(id -u) == 0 ]]; then
  chown -R nobody:nogroup "$tmp"
  chmod 755 "$tmp"
  as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups "${as_user[@]}")
fi
run() { "${as_user[@]}" bash -euo pipefail -c "$1"; }
run 'test "$(id -u)" != 0' || fail "still root"

echo "== 1. plain cmake -B build, packages hidden"
run "cd '$tmp/src' && cmake -B plain ${hide[*]}" >"$tmp/plain.log" 2>&1 ||
  { cat "$tmp/plain.log"; fail "plain configure failed"; }
for part in "tests off: GoogleTest" "benchmarks off: Google Benchmark (libbenchmark-dev) and libsodium"; do
  [[ $(grep -c "grndpool: $part" "$tmp/plain.log") == 1 ]] ||
    { cat "$tmp/plain.log"; fail "configure did not say once: grndpool: $part"; }
done
grep 'grndpool: .* off' "$tmp/plain.log"
run "cd '$tmp/src' && nice cmake --build plain -j2" >"$tmp/plain-build.log" 2>&1 ||
  { tail -n 40 "$tmp/plain-build.log"; fail "plain build failed"; }
[[ -e $tmp/src/plain/lib/libgrndpool.so.0 ]] || fail "plain build made no libgrndpool.so.0"
echo "ok: configured and built without them"

echo "== 2. README block 1: library-only install into \$HOME/.local"
run "cd '$tmp/src' && $(cat "$tmp/block1")" >"$tmp/install.log" 2>&1 ||
  { tail -n 40 "$tmp/install.log"; fail "README block 1 failed"; }
prefix=$tmp/home/.local
[[ -e $prefix/lib/libgrndpool.so.0 && -e $prefix/lib/pkgconfig/grndpool.pc ]] ||
  fail "nothing installed in $prefix/lib"

# Loads libgrndpool.so.0 from the prefix with no help from the environment.
loads_from_prefix() {
  local deps loaded
  deps=$(run "ldd '$1'") || fail "ldd $1"
  loaded=$(awk '$1 == "libgrndpool.so.0" && $2 == "=>" { print $3 }' <<<"$deps")
  [[ -n $loaded && $(realpath "$loaded") == $(realpath "$prefix/lib/libgrndpool.so.0") ]] ||
    fail "$1 does not load $prefix/lib/libgrndpool.so.0: $deps"
  echo "ok: $1 loads $loaded"
  run "'$1'" || fail "$1 exited nonzero"
}

echo "== 3. README block 2: find_package consumer"
mkdir -p "$tmp/home/cmake-app"
{
  echo "cmake_minimum_required(VERSION 3.25)"
  echo "project(app C CXX)"
  echo "add_executable(app \${CMAKE_CURRENT_SOURCE_DIR}/../app.c)"
  cat "$tmp/block2"
  echo "install(TARGETS app)"
} >"$tmp/home/cmake-app/CMakeLists.txt"
chown -R --reference="$tmp/home" "$tmp/home/cmake-app"
run "cd '$tmp/home/cmake-app' && cmake -B build -DCMAKE_PREFIX_PATH=\"\$HOME/.local\" \
       -DCMAKE_INSTALL_PREFIX=\"\$HOME/installed\" && cmake --build build && cmake --install build" \
  >"$tmp/cmake-app.log" 2>&1 || { cat "$tmp/cmake-app.log"; fail "find_package consumer"; }
loads_from_prefix "$tmp/home/cmake-app/build/app"
loads_from_prefix "$tmp/home/installed/bin/app"

echo "== 4. README block 3: pkg-config consumer"
run "cd '$tmp/home' && $(cat "$tmp/block3")" >"$tmp/pc-app.log" 2>&1 ||
  { cat "$tmp/pc-app.log"; fail "README block 3 failed"; }
loads_from_prefix "$tmp/home/app"
echo "== user prefix install passed"
