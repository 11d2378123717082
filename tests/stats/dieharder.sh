#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: tests/stats/dieharder.sh [BUILD_DIR] [--all]
# The long statistical run, not part of CI: feeds `grndpool-cat --threads 4`
# to dieharder (Debian package) through stdin, for each refill mode. By default
# it runs the tests dieharder rates "Good" (diehard 0-4, 8-13, 15-17; STS
# 100-102; RGB 200-205; DAB 206-209), one dieharder process per test;
# --all runs `dieharder -a` instead (hours on 2 cores). It counts the bytes each
# run consumed (grndpool-cat --stats) and fails if the total per refill is
# under 256 MiB or any test is FAILED. WEAK (p < 0.005 or > 0.995) is expected
# about once per hundred results from a perfect source and is only reported.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
all=0
[[ "${2:-}" == "--all" ]] && all=1
min_bytes=$((256 << 20))

if ! command -v dieharder >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dieharder
fi
[[ -d $build ]] || cmake --preset default >/dev/null
cmake --build "$build" --target grndpool-cat -j2 >/dev/null
cat_bin=$build/tools/grndpool-cat

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One dieharder invocation per entry. rgb_bitdist (200) and
# rgb_minimum_distance (201) need an ntuple size: without one, 200 refuses to
# run and 201 fails every source (p = 0 on /dev/urandom too); `dieharder -a`
# uses 1..12 and 2..5.
if ((all)); then runs=("-a"); else
  runs=()
  for d in 0 1 2 3 4 8 9 10 11 12 13 15 16 17 100 101 102; do runs+=("-d $d"); done
  runs+=("-d 200 -n 2" "-d 200 -n 8" "-d 201 -n 2" "-d 201 -n 3")
  for d in 202 203 204 205 206 207 208 209; do runs+=("-d $d"); done
fi

status=0
for refill in chacha20 direct; do
  bytes=0
  : >"$tmp/results"
  for run in "${runs[@]}"; do
    read -r -a args <<<"$run"
    # dieharder exits when done; grndpool-cat then sees EPIPE, exits 0 and prints
    # its counters (bytes_served) to stderr.
    if ! GRNDPOOL_REFILL=$refill "$cat_bin" --threads 4 --stats 2>"$tmp/stats" |
      dieharder -g 200 "${args[@]}" >"$tmp/out" 2>&1; then
      echo "dieharder ${args[*]} did not run:" >&2
      cat "$tmp/out" >&2
      exit 1
    fi
    grep -E 'PASSED|WEAK|FAILED' "$tmp/out" | tee -a "$tmp/results"
    served=$(sed -n 's/.*bytes_served=\([0-9]*\).*/\1/p' "$tmp/stats")
    bytes=$((bytes + served))
  done
  passed=$(grep -c PASSED "$tmp/results" || true)
  weak=$(grep -c WEAK "$tmp/results" || true)
  failed=$(grep -c FAILED "$tmp/results" || true)
  echo "== $refill: $((bytes >> 20)) MiB consumed; $passed PASSED, $weak WEAK, $failed FAILED"
  if ((failed > 0 || bytes < min_bytes)); then status=1; fi
done
exit $status
