#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds grndpool and runs every test: the plain build (unit, real-kernel,
# kernel/emu, fork, signal, churn, memlock, env, examples, install, and the
# QEMU boot of the patched kernel, label "kernel"), then the same suite under
# ASan+UBSan and under TSan. Installs its own Debian 12 packages.
#
#   bash scripts/test-all.sh [--quick]    --quick: plain build only, no kernel
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[[ "${1:-}" == "--quick" ]] && quick=1

need=(cmake g++ make pkg-config liburcu-dev libssl-dev libgtest-dev libbenchmark-dev
      libsodium-dev libbsd-dev gnuplot-nox
      rng-tools5 libcpp-httplib-dev man-db debhelper lintian)  # stats, token_server, man, deb
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "test-all: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

status=0
run() {  # run NAME COMMAND...: keep going, remember failures
  local name=$1; shift
  echo "=== ${name}"
  if ! "$@"; then echo "=== ${name}: FAILED"; status=1; fi
}

cmake --preset default >/dev/null
cmake --build --preset default
if ((quick)); then
  run "tests (plain, no kernel)" ctest --preset default -LE kernel
  exit $status
fi
run "tests (plain, with the QEMU kernel boot)" ctest --preset default
for preset in asan-ubsan tsan; do
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  run "tests ($preset)" ctest --preset "$preset"
done
exit $status
