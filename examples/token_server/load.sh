#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: examples/token_server/load.sh [BUILD_DIR] [SECONDS] [ROUNDS]
# Loads token_server with wrk on loopback with each token source (grndpool, the
# getrandom syscall, glibc arc4random), SECONDS per run (default 10, at most
# 20), ROUNDS times (default 1), the sources interleaved within each round so
# that a busy machine slows them alike. Prints requests per second and p50/p99
# latency per run, then the median over the rounds. Installs wrk (Debian
# package) if missing; builds the token_server target in BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
duration=${2:-10}
rounds=${3:-1}
((duration >= 1 && duration <= 20)) || { echo "SECONDS must be 1..20" >&2; exit 2; }
((rounds >= 1 && rounds <= 9)) || { echo "ROUNDS must be 1..9" >&2; exit 2; }
connections=${CONNECTIONS:-32}
wrk_threads=${WRK_THREADS:-2}
sources=(grndpool getrandom arc4random)

if ! command -v wrk >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk
fi
[[ -d $build ]] || cmake --preset default >/dev/null
cmake --build "$build" --target token_server -j2 >/dev/null
server_bin=$build/examples/token_server/token_server

tmp=$(mktemp -d)
server=
cleanup() { [[ -n $server ]] && kill "$server" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

# to_us VALUE: wrk's latency ("812.00us", "1.65ms", "1.02s") in microseconds.
to_us() {
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000;
                         else print n * 1000000 }'
}

echo "wrk -t$wrk_threads -c$connections -d${duration}s on 127.0.0.1, server threads=$connections," \
  "$rounds round(s), $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-11s %12s %10s %10s\n' round source "requests/s" "p50 (us)" "p99 (us)"
for ((round = 1; round <= rounds; round++)); do
  for source in "${sources[@]}"; do
    "$server_bin" --source "$source" --threads "$connections" >"$tmp/server.out" &
    server=$!
    for _ in $(seq 200); do grep -q listening "$tmp/server.out" && break; sleep 0.1; done
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/server.out")
    [[ -n $port ]] || { echo "token_server ($source) did not start: $(cat "$tmp/server.out")" >&2; exit 1; }
    # wrk stops itself after -d; timeout bounds a wedged run.
    timeout $((duration + 10)) wrk -t"$wrk_threads" -c"$connections" -d"${duration}s" --latency \
      "http://127.0.0.1:$port/token" >"$tmp/wrk.out"
    kill "$server"
    wait "$server" 2>/dev/null || true
    server=
    if grep -qE 'Non-2xx|Socket errors' "$tmp/wrk.out"; then
      echo "wrk reported errors ($source):" >&2
      cat "$tmp/wrk.out" >&2
      exit 1
    fi
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.out")
    p50=$(to_us "$(awk '$1 == "50%" { print $2 }' "$tmp/wrk.out")")
    p99=$(to_us "$(awk '$1 == "99%" { print $2 }' "$tmp/wrk.out")")
    printf '%-6s %-11s %12s %10s %10s\n' "$round" "$source" "$rps" "$p50" "$p99" |
      tee -a "$tmp/results"
  done
done

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "median of $rounds round(s):"
for source in "${sources[@]}"; do
  printf '%-6s %-11s %12s %10s %10s\n' "" "$source" \
    "$(awk -v s="$source" '$2 == s { print $3 }' "$tmp/results" | median)" \
    "$(awk -v s="$source" '$2 == s { print $4 }' "$tmp/results" | median)" \
    "$(awk -v s="$source" '$2 == s { print $5 }' "$tmp/results" | median)"
done
