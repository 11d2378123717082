#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds grndpool and runs every test: the plain build (unit tests per module,
# edge attacks, fault injection, seccomp, the 60 s soak, real-kernel, fork,
# signal, churn, memlock, env, statistics, token server, man pages, Debian
# packages, install, and the QEMU boot of the patched 6.12 kernel with the
# VM-clone test, label "kernel"), 60 s of fuzzing the option parser, then the
# same suites under ASan+UBSan and under TSan. The 10-minute soak
# (label "soak") and the arm64 kernel test (label "arm64": a cross build, an
# arm64 kernel and an emulated arm64 guest) are left out:
# `ctest --preset default -L soak`, `ctest --preset default -L arm64`.
# Installs its own Debian 12 packages.
#
#   bash scripts/test-all.sh [--quick]    --quick: plain build only, no kernel, no fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[[ "${1:-}" == "--quick" ]] && quick=1

need=(cmake g++ make pkg-config liburcu-dev libssl-dev libgtest-dev libbenchmark-dev
      libsodium-dev libbsd-dev gnuplot-nox
      rng-tools5 libcpp-httplib-dev man-db debhelper lintian  # stats, token_server, man, deb
      clang-14 libclang-rt-14-dev)                             # the option parser's fuzzer
missing=()
# The native package: with arm64 added for the cross build, a bare name
# installed for both architectures is ambiguous to dpkg -s.
native=$(dpkg --print-architecture)
for p in "${need[@]}"; do
  dpkg -s "$p:$native" >/dev/null 2>&1 || dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "test-all: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

status=0 passed=0 failed=0
run() {  # run NAME COMMAND...: keep going, remember failures
  local name=$1; shift
  echo "=== ${name}"
  if "$@"; then
    passed=$((passed + 1))
  else
    echo "=== ${name}: FAILED"; status=1; failed=$((failed + 1))
  fi
}
summary() { echo "test-all: ${passed} passed, ${failed} failed"; }

cmake --preset default >/dev/null
cmake --build --preset default
if ((quick)); then
  run "tests (plain, no kernel)" ctest --preset default -LE 'kernel|soak|arm64'
  summary
  exit $status
fi
run "tests (plain, with the QEMU kernel boot)" ctest --preset default -LE 'soak|arm64'
run "fuzzing the option parser (60 s)" bash tests/fuzz/run.sh 60
for preset in asan-ubsan tsan; do
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  run "tests ($preset)" ctest --preset "$preset" -LE 'soak|arm64'
done
summary
exit $status
