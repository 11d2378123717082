#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CTest's python.pytest: installs the module from a copy of python/ with pip
# (offline: --no-build-isolation --no-index, Debian's setuptools) into a
# temporary target against the build tree's libgrndpool, then runs pytest on it.
#
#   python/tests/ctest.sh PYTHON BUILD_DIR
set -euo pipefail
(($# == 2)) || { echo "usage: $0 PYTHON BUILD_DIR" >&2; exit 2; }
python=$1 build=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/grndpool-python.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# A copy: pip builds in the source folder and leaves build/ and *.egg-info there.
cp -r "$here" "$tmp/src"
rm -rf "$tmp/src/build" "$tmp/src"/*.egg-info "$tmp/src/src"/*.egg-info
GRNDPOOL_BUILD_DIR=$build "$python" -m pip install --quiet --no-build-isolation --no-index \
  --target "$tmp/site" "$tmp/src" >"$tmp/pip.log" 2>&1 || { cat "$tmp/pip.log"; exit 1; }
# It must load the build tree's library (RPATH), not one installed on the system.
so=$(ls "$tmp"/site/grndpool/_grndpool*.so)
# Into a file first: with pipefail, grep -q quitting at the match would kill ldd
# (SIGPIPE) and fail the pipe after all.
ldd "$so" >"$tmp/ldd.txt"
grep -q "libgrndpool.so.0 => $build/lib/libgrndpool.so.0" "$tmp/ldd.txt" ||
  { echo "$so does not load $build/lib/libgrndpool.so.0:"; cat "$tmp/ldd.txt"; exit 1; }
# A wrong GRNDPOOL_BUILD_DIR is one clear line, not a compiler error.
msg=$(cd "$tmp/src" && GRNDPOOL_BUILD_DIR=$tmp "$python" setup.py --name 2>&1) &&
  { echo "setup.py accepted a build dir without CMakeCache.txt"; exit 1; }
[[ $msg == "grndpool setup.py: GRNDPOOL_BUILD_DIR=$tmp has no CMakeCache.txt (not a CMake build dir)" ]] ||
  { echo "setup.py's message for a bad build dir: $msg"; exit 1; }
cd "$tmp"
PYTHONPATH=$tmp/site "$python" -m pytest -p no:cacheprovider -q "$here/tests"
