#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: tools/cat-throughput.sh [GRNDPOOL_CAT] [BYTES]
# Times writing BYTES (default 1 GiB) of random bytes to /dev/null with
# grndpool-cat (1 and 2 threads, both refills), `openssl rand` and
# `head -c` from /dev/urandom, in one run, best of ROUNDS (default 3) each, and prints GB/s and
# the ratio to /dev/urandom.
set -euo pipefail
cat_bin=${1:-build/tools/grndpool-cat}
bytes=${2:-1073741824}
rounds=${ROUNDS:-3}

best=
seconds() {  # seconds CMD...: best wall time of $rounds runs, in $best
  best=
  local i t0 t1 t
  for ((i = 0; i < rounds; i++)); do
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
    if [[ -z $best ]] || awk -v t="$t" -v b="$best" 'BEGIN { exit !(t < b) }'; then best=$t; fi
  done
}

declare -a names times
run() { local name=$1; shift; seconds "$@"; names+=("$name"); times+=("$best"); }

run "head -c $bytes /dev/urandom" head -c "$bytes" /dev/urandom
run "openssl rand $bytes" openssl rand "$bytes"
run "grndpool-cat -n $bytes" "$cat_bin" -n "$bytes"
run "grndpool-cat -n $bytes --threads 2" "$cat_bin" -n "$bytes" --threads 2
run "GRNDPOOL_REFILL=direct grndpool-cat -n $bytes" env GRNDPOOL_REFILL=direct "$cat_bin" -n "$bytes"

echo "$(nproc) cores, $(uname -r), $(openssl version | cut -d' ' -f1-2), best of $rounds"
printf '%-48s %9s %8s %s\n' command seconds GB/s "x urandom"
for i in "${!names[@]}"; do
  awk -v n="${names[$i]}" -v t="${times[$i]}" -v b="$bytes" -v ref="${times[0]}" \
    'BEGIN { printf "%-48s %9.3f %8.2f %6.2fx\n", n, t, b / t / 1e9, ref / t }'
done
