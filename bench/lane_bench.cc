// SPDX-License-Identifier: Apache-2.0
// lane_bench: grndpool_u32() with GRND_TIMESTAMP checked before every draw
// (issue 17's per-draw lane), on the userspace kernel model (tests/emu/), in
// one Google Benchmark run beside its baselines:
//   grndpool_u32-emu        the header's inline draw, as C and C++ callers get it
//   grndpool_u32-call-emu   the exported function (FFI, dlsym, GRNDPOOL_NO_INLINE)
//   emu-vdso-branch-call    the same vDSO-branch copy called directly, nothing served
//   seed-pool-emu           the seed's 4 KiB pool checking the same branch per draw
// Each loop is the draw inline in Google Benchmark's loop, its result kept.
//
//   lane_bench [--no-lane | --per-refill] [benchmark flags]
// --no-lane publishes no vDSO entry (every per-draw draw then goes out of
// line, as before the lane); --per-refill installs the model as a stock
// kernel instead (no check per draw: grndpool_u32-emu is then the plain fast
// path, for what the check itself costs). Ratios are only meaningful within
// one run:
//   lane_bench --benchmark_repetitions=15 --benchmark_enable_random_interleaving=true
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>

#include "emu_paths.h"
#include "grndpool/grndpool.h"

namespace grndpool_bench {
namespace {

template <uint32_t (*kDraw)()>
void BM_U32(benchmark::State &state) {
  for (auto _ : state) benchmark::DoNotOptimize(kDraw());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

uint32_t GrndpoolU32Inline() {
  return grndpool_u32();
}

BENCHMARK_TEMPLATE(BM_U32, GrndpoolU32Inline)->Name("u32/grndpool_u32-emu");
BENCHMARK_TEMPLATE(BM_U32, grndpool_u32_outline)->Name("u32/grndpool_u32-call-emu");
BENCHMARK_TEMPLATE(BM_U32, EmuVdsoBranchCall)->Name("u32/emu-vdso-branch-call");
BENCHMARK_TEMPLATE(BM_U32, SeedPoolEmuU32)->Name("u32/seed-pool-emu");

}  // namespace
}  // namespace grndpool_bench

int main(int argc, char **argv) {
  bool lane = true, per_refill = false;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--no-lane") == 0)
      lane = false;
    else if (strcmp(argv[i], "--per-refill") == 0)
      per_refill = true;
    else
      argv[kept++] = argv[i];
  }
  argc = kept;
  grndpool_bench::InstallPerDrawEmu(lane, per_refill);
  fprintf(stderr, "lane_bench: %s\n", grndpool_describe());  // start-up outside the loops
  (void)grndpool_u32();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
