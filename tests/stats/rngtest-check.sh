#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: tests/stats/rngtest-check.sh MIN_BYTES COMMAND [ARG...]
# Pipes COMMAND's output through rngtest (rng-tools5: the FIPS 140-2 tests on
# 20000-bit blocks) and passes when at least MIN_BYTES were tested and the
# number of failed blocks stays within what an ideal source produces.
#
# An ideal source fails a block with probability about 8.8e-4 (measured here:
# 37 of 41943 blocks of /dev/urandom); we take p = 1e-3 as an upper bound. With
# B blocks the failures are about Binomial(B, p) ~ Poisson(B p), and the bound K
# is the smallest k with P(Poisson(B p) > k) <= 1e-6: a sound source fails this
# check less than once in a million runs. For 20 MiB (8388 blocks) K = 25.
set -euo pipefail

if (($# < 2)); then
  echo "usage: $0 MIN_BYTES COMMAND [ARG...]" >&2
  exit 2
fi
min_bytes=$1
shift
command -v rngtest >/dev/null || { echo "rngtest not found (Debian package rng-tools5)" >&2; exit 1; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# rngtest exits 1 when any block fails; that alone is expected, so judge its counts.
set +e
"$@" | rngtest 2>"$log"
statuses=("${PIPESTATUS[@]}")
set -e
if ((statuses[0] != 0)); then
  echo "FAIL: generator exited with status ${statuses[0]}: $*" >&2
  exit 1
fi
if ((statuses[1] > 1)); then
  cat "$log" >&2
  echo "FAIL: rngtest error (status ${statuses[1]})" >&2
  exit 1
fi

field() { sed -n "s/^rngtest: $1: *\([0-9]*\).*/\1/p" "$log"; }
bits=$(field "bits received from input")
successes=$(field "FIPS 140-2 successes")
failures=$(field "FIPS 140-2 failures")
blocks=$((successes + failures))
bound=$(awk -v lambda="$blocks" 'BEGIN {
  lambda *= 0.001; term = exp(-lambda); cdf = term
  for (k = 0; 1 - cdf > 1e-6; ) { k++; term *= lambda / k; cdf += term }
  print k }')

grep -E 'Monobit|Poker|Runs|Long run|Continuous run' "$log" | sed 's/^rngtest: /  /'
echo "rngtest: $((bits / 8)) bytes, $blocks blocks, $failures failed (bound $bound at p=1e-3, tail 1e-6)"
if ((bits / 8 < min_bytes)); then
  echo "FAIL: only $((bits / 8)) bytes tested, wanted $min_bytes" >&2
  exit 1
fi
if ((failures > bound)); then
  echo "FAIL: $failures failed blocks > $bound" >&2
  exit 1
fi
echo "PASS"
