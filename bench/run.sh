#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The benchmark job: build (Release, build-bench/), then u32_rounds,
# threads_rounds, refill_parts, grndpool-bench, callgrind, seed_table and
# memlock_wall, then bench/results/summary.md (the issue 20 and issue 9
# targets, met or missed) and plots.
#
#   bash bench/run.sh [--full]
#
# --full runs every draw size at every thread count with Google Benchmark's
# default min time; the default (quick) matrix keeps the job under 10 minutes
# on 2 cores, build included. Every number in results/ is measured by this run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build-bench"
RESULTS="$ROOT/bench/results"
BENCH_ARGS=()
for arg in "$@"; do
  case "$arg" in
    --full) BENCH_ARGS+=(--full) ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument '$arg' (accepted: --full)" >&2; exit 2 ;;
  esac
done

START=$SECONDS
step() { echo "== run.sh [$((SECONDS - START)) s] $*" >&2; }

# --- 1. Debian packages --------------------------------------------------------
PACKAGES=(cmake g++ make python3 pkg-config liburcu-dev libssl-dev libgtest-dev libbenchmark-dev
          libsodium-dev libbsd-dev gnuplot-nox cargo librust-rand-dev valgrind)
missing=()
for p in "${PACKAGES[@]}"; do
  # The native package: a bare name installed for two architectures (the arm64
  # cross build's) is ambiguous to dpkg -s.
  dpkg -s "$p:$(dpkg --print-architecture)" >/dev/null 2>&1 || dpkg -s "$p" >/dev/null 2>&1 ||
    missing+=("$p")
done
if ((${#missing[@]})); then
  step "installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
else
  step "Debian packages present"
fi

# --- 2. build --------------------------------------------------------------------
step "configuring Release build in $BUILD"
configure_log=$(cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGRNDPOOL_BUILD_BENCH=ON \
  -DGRNDPOOL_BUILD_TESTS=OFF -DGRNDPOOL_BUILD_EXAMPLES=OFF -DGRNDPOOL_KERNEL_TESTS=OFF)
# What the bench's configure found (e.g. whether the Rust peers are built).
grep 'grndpool bench:' <<<"$configure_log" >&2 || true
step "building"
cmake --build "$BUILD" -j"$(nproc)" --target grndpool-bench u32_rounds threads_rounds refill_parts \
  callgrind_u32 seed_table memlock_wall grndpool-describe
# The static seed_table is for the QEMU guest; its failure must not stop the job.
if cmake --build "$BUILD" -j"$(nproc)" --target seed_table_static >/dev/null 2>&1; then
  step "seed_table_static built"
else
  step "WARNING: seed_table_static did not link (see: cmake --build $BUILD --target seed_table_static)"
fi
BIN="$BUILD/bench"

# --- 3. measure ------------------------------------------------------------------
mkdir -p "$RESULTS"
# Nothing from an earlier run may leak into this summary.
rm -f "$RESULTS"/{bench.json,bench.txt,seed_table.txt,memlock_wall.csv,memlock_wall.txt,describe.txt} \
      "$RESULTS"/{u32_rounds.json,u32_rounds.txt,callgrind.md} \
      "$RESULTS"/{threads_rounds.json,threads_rounds.txt,refill_parts.txt} \
      "$RESULTS"/summary.md "$RESULTS"/*.dat "$RESULTS"/*.gp "$RESULTS"/*.png

"$BIN/grndpool-describe" | tee "$RESULTS/describe.txt"

# u32_rounds first: grndpool-bench runs up to 1024 threads, whose load average
# would still be high when the next program starts and read as another tenant's.
step "u32_rounds (single thread head to head, rdtscp tail)"
"$BIN/u32_rounds" --json "$RESULTS/u32_rounds.json" | tee "$RESULTS/u32_rounds.txt"

# Draws/s at 1..4096 threads, every source interleaved in the same rounds
# (issue 20's table and plot). 4096 threads with 256 KiB stacks: ~1 GiB of
# address space, a few MiB touched; ~1-2 min here.
step "threads_rounds (1..4096 threads, interleaved rounds)"
"$BIN/threads_rounds" --json "$RESULTS/threads_rounds.json" | tee "$RESULTS/threads_rounds.txt"

step "refill_parts (the parts of a refill, natively)"
"$BIN/refill_parts" | tee "$RESULTS/refill_parts.txt"

step "grndpool-bench ${BENCH_ARGS[*]:-(quick matrix)}"
"$BIN/grndpool-bench" "${BENCH_ARGS[@]}" --benchmark_out="$RESULTS/bench.json" \
  --benchmark_out_format=json | tee "$RESULTS/bench.txt"

step "callgrind: where the instructions of a u32 draw go"
python3 "$ROOT/bench/where_time_goes.py" "$BIN" --out "$RESULTS/callgrind.md"

step "seed_table"
"$BIN/seed_table" | tee "$RESULTS/seed_table.txt"

step "memlock_wall"
"$BIN/memlock_wall" --csv "$RESULTS/memlock_wall.csv" | tee "$RESULTS/memlock_wall.txt"

# --- 4. summary ------------------------------------------------------------------
step "writing $RESULTS/summary.md and plots"
echo
python3 "$ROOT/bench/report.py" "$RESULTS"
echo
step "done in $((SECONDS - START)) s; results in $RESULTS"
