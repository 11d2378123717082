#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# RAND_bytes of 4 and 16 bytes, 1 and 2 threads: stock OpenSSL against the
# grndpool provider, interleaved in one process (provider/bench/rand_bench.c),
# with the issue 18 targets marked met or missed.
#
#   bash provider/bench/run.sh [BUILD_DIR] [ROUNDS] [CALLS]    default: build 61 1000
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
rounds=${2:-61}
calls=${3:-1000}
cmake --build "$build" --target provider_bench grndpool_ossl_provider >/dev/null
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "OpenSSL: $(openssl version)"
"$build/provider/provider_bench" "$root/provider/grndpool-provider.cnf" "$build/provider/modules" \
  "$rounds" "$calls"
