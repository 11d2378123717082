// SPDX-License-Identifier: Apache-2.0
// lib/shared_slices: the cursor/consumed protocol under contention, with the
// kernel model's tagged bytes so that a byte served twice or a zero is seen.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "lib/freshness.h"
#include "lib/shared_slices.h"
#include "lib/slice_directory.h"
#include "lib/stats.h"
#include "tests/emu/emu.h"

namespace grndpool::test {
namespace {

TEST(SharedSlices, ContendedDrawsNeverRepeatOrServeZeros) {
  emu::EmuConfig config;
  config.mode = kernel::GenerationMode::kPerRefill;
  static Process process;
  process.options = DefaultOptions();
  process.options.slab_bytes = 16 * 1024;
  process.options.slice_bytes = 1024;
  process.geometry = ComputeGeometry(process.options);
  process.kernel = emu::Ops(config);
  InitFreshness(*process.kernel);
  InitSliceDirectory(process);
  InitSharedSlices(process);
  constexpr int kThreads = 8, kDraws = 20000;
  std::vector<std::vector<uint64_t>> out(kThreads, std::vector<uint64_t>(kDraws));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      // Two tags per slice: every slice is contended.
      for (int i = 0; i < kDraws; ++i) SharedDraw(&out[t][i], 8, static_cast<uint32_t>(t % 2));
    });
  for (auto &th : threads) th.join();
  std::vector<uint64_t> all;
  for (auto &v : out) all.insert(all.end(), v.begin(), v.end());
  EXPECT_EQ(std::count(all.begin(), all.end(), 0u), 0);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
  EXPECT_GT(g_counters.refills.load(), 0u);
}

}  // namespace
}  // namespace grndpool::test
