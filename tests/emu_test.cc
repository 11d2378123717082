// SPDX-License-Identifier: Apache-2.0
// The GRND_TIMESTAMP contract through kernel/emu: proves, byte by byte, that no
// byte made under an old generation is served after the generation moves.
//
// The process is configured before its first draw: GRNDPOOL_TEST_EMU_MODE
// (per-draw: GRND_TIMESTAMP in the vDSO; per-refill: a stock kernel) and
// GRNDPOOL_REFILL (direct: tagged bytes; chacha20: the key chain).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "tests/emu/emu.h"
#include "tests/test_env.h"
#include "runtime.h"
#include "lib/slice_directory.h"
#include "test_util.h"

extern bool g_emu_per_draw;
extern bool g_emu_tagged;

namespace grndpool::test {
namespace {

bool Tagged() {
  return g_emu_tagged;
}

class TaggedBytes : public ::testing::TestWithParam<Strategy> {};

// Readers record the generation before each draw; every byte they get must carry
// a tag of that generation or a later one. A bumper thread moves the generation
// while they draw.
TEST_P(TaggedBytes, NoByteFromAnOldGenerationIsServed) {
  // CTest registers this in the per-draw direct variant only (tests/CMakeLists.txt).
  if (!Tagged() || !g_emu_per_draw) GTEST_SKIP() << "needs per-draw mode and tagged (direct) bytes";
  const StrategyOps &ops = StrategyFor(GetParam());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> stale{0}, draws{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t)
    readers.emplace_back([&] {
      uint8_t buf[24];
      while (!stop.load(std::memory_order_relaxed)) {
        const uint64_t before = emu::Generation();
        ops.draw(buf, sizeof buf);
        const uint64_t after = emu::Generation();
        for (uint8_t b : buf) {
          bool ok = false;
          for (uint64_t g = before; g <= after && !ok; ++g) ok = b == emu::Tag(g);
          if (!ok) stale.fetch_add(1);
        }
        draws.fetch_add(1, std::memory_order_relaxed);
      }
    });
  for (int bump = 0; bump < 100; ++bump) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    emu::BumpGeneration();
  }
  stop = true;
  for (auto &t : readers) t.join();
  EXPECT_GT(draws.load(), 1000u);
  EXPECT_EQ(stale.load(), 0u) << ops.name << " served bytes of an old generation";
}

INSTANTIATE_TEST_SUITE_P(Strategies, TaggedBytes,
                         ::testing::Values(Strategy::kPerThread, Strategy::kSlab, Strategy::kShared,
                                           Strategy::kMutex, Strategy::kVdso),
                         [](const auto &info) { return StrategyParamName(info.param); });

// With GRND_TIMESTAMP in the vDSO the window is 0 bytes: the first draw after a
// bump discards the slice, and the change is counted before that draw returns.
TEST(Window, NextDrawSeesTheBump) {
  if (!g_emu_per_draw) GTEST_SKIP() << "needs per-draw mode";  // CTest registers it there only
  for (int i = 0; i < 10; ++i) (void)grndpool_u32();
  for (int round = 0; round < 20; ++round) {
    const struct grndpool_stats before = Stats();
    emu::BumpGeneration();
    (void)grndpool_u32();
    const struct grndpool_stats after = Stats();
    EXPECT_EQ(after.generation_changes, before.generation_changes + 1);
    if (Tagged()) {
      uint8_t b[4];
      grndpool_buf(b, sizeof b);
      for (uint8_t x : b) EXPECT_EQ(x, emu::Tag(emu::Generation()));
    }
  }
}

// On a stock kernel (the generation read at each refill) the window is one
// slice: the change is counted by the time a slice's worth of draws refilled
// (a hot slice's, once the thread draws enough to have one).
TEST(Window, NextRefillSeesTheBump) {
  if (g_emu_per_draw) GTEST_SKIP() << "needs per-refill mode";  // CTest registers it there only
  for (int i = 0; i < 10; ++i) (void)grndpool_u32();
  const uint32_t window =
      std::max(CurrentProcess().geometry.capacity, CurrentProcess().geometry.hot_capacity);
  for (int round = 0; round < 20; ++round) {
    const struct grndpool_stats before = Stats();
    emu::BumpGeneration();
    uint32_t draws = 0;
    while (Stats().generation_changes == before.generation_changes && draws <= window / 4)
      (void)grndpool_u32(), ++draws;
    EXPECT_EQ(Stats().generation_changes, before.generation_changes + 1)
        << "not seen within one slice (" << window << " bytes) of draws";
    if (Tagged()) {  // the refill that saw it took bytes of the new generation
      uint8_t b[4];
      grndpool_buf(b, sizeof b);
      for (uint8_t x : b) EXPECT_EQ(x, emu::Tag(emu::Generation()));
    }
  }
}

// Every refill takes a fresh kernel key, and a generation change is seen at
// the next draw with GRND_TIMESTAMP, at the next refill otherwise.
TEST(Chain, GenerationChangeRekeys) {
  if (Tagged()) GTEST_SKIP() << "needs chacha20 refills";  // CTest registers it there only
  for (int i = 0; i < 1000; ++i) (void)grndpool_u32();
  for (int round = 0; round < 10; ++round) {
    const struct grndpool_stats before = Stats();
    emu::BumpGeneration();
    // One slice's worth of draws reaches the next refill in per-refill mode.
    const int draws =
        g_emu_per_draw ? 1 : static_cast<int>(CurrentProcess().geometry.capacity / 4) + 1;
    for (int i = 0; i < draws; ++i) (void)grndpool_u32();
    const struct grndpool_stats after = Stats();
    EXPECT_EQ(after.generation_changes, before.generation_changes + 1);
    EXPECT_GE(after.rekeys, before.rekeys + 1);
  }
}

}  // namespace
}  // namespace grndpool::test

bool g_emu_per_draw = true;
bool g_emu_tagged = false;

int main(int argc, char **argv) {
  grndpool::test::ApplyTestEnvironment();
  ::testing::InitGoogleTest(&argc, argv);
  const char *mode = getenv("GRNDPOOL_TEST_EMU_MODE");
  g_emu_per_draw = mode == nullptr || strcmp(mode, "per-refill") != 0;
  const char *refill = getenv("GRNDPOOL_REFILL");
  grndpool::emu::EmuConfig config;
  config.tagged = g_emu_tagged = refill != nullptr && strcmp(refill, "direct") == 0;
  config.mode = g_emu_per_draw ? grndpool::kernel::GenerationMode::kPerDraw
                               : grndpool::kernel::GenerationMode::kPerRefill;
  grndpool::SetKernelOpsForTesting(grndpool::emu::Ops(config));
  printf("%s\n", grndpool_describe());
  return RUN_ALL_TESTS();
}
