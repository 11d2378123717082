#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the option parser's libFuzzer target with Debian's clang (ASan+UBSan)
# and runs it for a bounded time on the corpus beside this script.
#
#   bash tests/fuzz/run.sh [SECONDS]     default 60
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SECONDS_TO_RUN=${1:-60}
CXX=$(command -v clang++-14 || command -v clang++ || true)
if [[ -z $CXX ]] || ! dpkg -s libclang-rt-14-dev >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev
  CXX=$(command -v clang++-14)
fi
OUT="$ROOT/build-fuzz"
mkdir -p "$OUT/corpus"
"$CXX" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I"$ROOT" "$ROOT/lib/options.cc" "$ROOT/tests/fuzz/options_fuzz.cc" -o "$OUT/options_fuzz"
# New inputs go to build-fuzz/corpus; the committed seeds are only read.
"$OUT/options_fuzz" -max_total_time="$SECONDS_TO_RUN" -print_final_stats=1 \
  "$OUT/corpus" "$ROOT/tests/fuzz/corpus" 2>&1 | tail -n 12
echo "options_fuzz: ${SECONDS_TO_RUN} s, no crash"
