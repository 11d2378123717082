#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: examples/token_server/load.sh [BUILD_DIR] [SECONDS]
# Loads token_server with wrk on loopback, once per token source (grndpool, the
# getrandom syscall, glibc arc4random), SECONDS each (default 10, at most 20),
# and prints requests per second and p99 latency for each. Installs wrk (Debian
# package) if missing; builds the token_server target in BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
duration=${2:-10}
((duration >= 1 && duration <= 20)) || { echo "SECONDS must be 1..20" >&2; exit 2; }
connections=${CONNECTIONS:-32}
wrk_threads=${WRK_THREADS:-2}

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

echo "wrk -t$wrk_threads -c$connections -d${duration}s on 127.0.0.1, server threads=$connections," \
  "$(nproc) cores, $(uname -r)"
printf '%-11s %12s %10s %10s\n' source "requests/s" "p50" "p99"
for source in grndpool getrandom arc4random; do
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
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.out")
  p50=$(awk '$1 == "50%" { print $2 }' "$tmp/wrk.out")
  p99=$(awk '$1 == "99%" { print $2 }' "$tmp/wrk.out")
  errors=$(grep -E 'Non-2xx|Socket errors' "$tmp/wrk.out" || true)
  printf '%-11s %12s %10s %10s %s\n' "$source" "$rps" "$p50" "$p99" "$errors"
done
