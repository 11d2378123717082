#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the module from python/ against a build tree (pip, offline, into a
# temporary folder) and runs bench.py: token_bytes(16) against os.urandom(16)
# and secrets, interleaved in one process.
#
#   bash python/bench.sh [BUILD_DIR] [ROUNDS] [CALLS]    default: build 61 20000
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
python=/usr/bin/python3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/grndpool-pybench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cp -r "$here" "$tmp/src"
rm -rf "$tmp/src/build" "$tmp/src/src"/*.egg-info
GRNDPOOL_BUILD_DIR=$build "$python" -m pip install --quiet --no-build-isolation --no-index \
  --target "$tmp/site" "$tmp/src" >"$tmp/pip.log" 2>&1 || { cat "$tmp/pip.log"; exit 1; }
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
PYTHONPATH=$tmp/site "$python" "$here/bench.py" "${@:2}"
