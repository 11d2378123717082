// SPDX-License-Identifier: Apache-2.0
// The GRND_TIMESTAMP contract through kernel/emu: proves, byte by byte, that no
// byte made under an old generation is served after the generation moves.
//
// The process is configured before its first draw: GRNDPOOL_TEST_EMU_MODE
// (per-draw: GRND_TIMESTAMP in the vDSO, whose entry the draws' inline lane
// calls; per-draw-no-entry: the same answered only through timestamp(), so
// every draw takes the slow path; per-refill: a stock kernel) and
// GRNDPOOL_REFILL (direct: tagged bytes; chacha20: the key chain). The
// model's answers are counted per thread (the lane's vDSO calls apart from
// the slow path's timestamp() calls), and the vDSO entry can be broken on
// purpose (it then calls every cookie current) for the positive controls.
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
extern bool g_emu_vdso_entry;
extern thread_local uint64_t t_entry_calls;
extern thread_local uint64_t t_timestamp_calls;
extern std::atomic<bool> g_entry_broken;

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
                                           Strategy::kMutex, Strategy::kVdso, Strategy::kPerCpu),
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

// The lane (issue 17): with the vDSO entry published, every draw the header
// inlines either calls the entry exactly once and is served inline, or finds
// its slice empty and refills out of line; the slow path's timestamp() runs
// only around those refills. Without the lane every draw is a timestamp()
// call out of line and the entry is never called.
TEST(Lane, OneVdsoCallPerInlineDraw) {
  if (!g_emu_per_draw || !g_emu_vdso_entry) GTEST_SKIP() << "needs per-draw mode with the entry";
  for (int i = 0; i < 10; ++i) (void)grndpool_u32();  // start-up, the thread's slice
  const struct grndpool_stats before = Stats();
  t_entry_calls = t_timestamp_calls = 0;
  constexpr uint64_t kRounds = 30000;  // 4 draws each: hot slices refill several times
  uint64_t acc = 0;
  for (uint64_t i = 0; i < kRounds; ++i) {
    uint8_t token[16];
    grndpool_buf(token, sizeof token);  // constant size: inline too
    acc += grndpool_u32() + grndpool_u64() + grndpool_u32() + token[0];
  }
  const uint64_t draws = 4 * kRounds;
  const uint64_t refills = Stats().refills - before.refills;
  EXPECT_GT(refills, 0u) << "the loop never reached a refill: the test proves less";
  EXPECT_EQ(t_entry_calls + refills, draws)
      << "each draw: one vDSO call served inline, or a refill out of line (acc " << acc << ")";
  EXPECT_LE(t_timestamp_calls, 2 * refills) << "draws took the slow path's check";
  EXPECT_EQ(Stats().generation_changes, before.generation_changes);
}

// The library's exported functions (FFI, dlsym, GRNDPOOL_NO_INLINE callers)
// take the same lane.
TEST(Lane, ExportedFunctionsTakeTheLane) {
  if (!g_emu_per_draw || !g_emu_vdso_entry) GTEST_SKIP() << "needs per-draw mode with the entry";
  for (int i = 0; i < 10; ++i) (void)grndpool_u32_outline();
  const struct grndpool_stats before = Stats();
  t_entry_calls = t_timestamp_calls = 0;
  constexpr uint64_t kDraws = 60000;
  for (uint64_t i = 0; i < kDraws; ++i) (void)grndpool_u32_outline();
  const uint64_t refills = Stats().refills - before.refills;
  EXPECT_EQ(t_entry_calls + refills, kDraws);
  EXPECT_LE(t_timestamp_calls, 2 * refills);
}

// Without the entry, per-draw mode checks every draw out of line, as before
// the lane: the entry is never called, timestamp() once per draw or more.
TEST(Lane, OffWithoutTheEntry) {
  if (!g_emu_per_draw || g_emu_vdso_entry) GTEST_SKIP() << "needs per-draw mode without the entry";
  for (int i = 0; i < 10; ++i) (void)grndpool_u32();
  t_entry_calls = t_timestamp_calls = 0;
  constexpr uint64_t kDraws = 10000;
  for (uint64_t i = 0; i < kDraws; ++i) (void)grndpool_u32();
  EXPECT_EQ(t_entry_calls, 0u);
  EXPECT_GE(t_timestamp_calls, kDraws);
}

// Tagged bytes of an older generation served after each of 50 bumps, over
// the 32 draws that follow it: inline u32, u64 and 16-byte token, and the
// exported u32 (the library's own copy of the lane), in turn. Between bumps
// the thread draws enough for its lane to serve most draws.
uint64_t StaleBytesAfterBumps() {
  uint64_t stale = 0;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 100; ++i) (void)grndpool_u32();
    emu::BumpGeneration();
    const uint8_t tag = emu::Tag(emu::Generation());
    for (int i = 0; i < 32; ++i) {
      uint8_t bytes[16];
      size_t n = 0;
      if (i % 4 == 0) {
        const uint32_t v = grndpool_u32();
        memcpy(bytes, &v, n = sizeof v);
      } else if (i % 4 == 1) {
        const uint64_t v = grndpool_u64();
        memcpy(bytes, &v, n = sizeof v);
      } else if (i % 4 == 2) {
        grndpool_buf(bytes, n = sizeof bytes);
      } else {
        const uint32_t v = grndpool_u32_outline();
        memcpy(bytes, &v, n = sizeof v);
      }
      for (size_t k = 0; k < n; ++k) stale += bytes[k] != tag;
    }
  }
  return stale;
}

// The window stays 0 bytes with the lane: no inline draw after a bump serves
// a byte made before it (the lane's vDSO call sees the new cookie and sends
// the draw out of line, which throws the slice away).
TEST(Lane, NoStaleDrawAfterBump) {
  if (!Tagged() || !g_emu_per_draw) GTEST_SKIP() << "needs per-draw mode and tagged bytes";
  t_entry_calls = 0;
  EXPECT_EQ(StaleBytesAfterBumps(), 0u);
  if (g_emu_vdso_entry) EXPECT_GT(t_entry_calls, 50u * 100u) << "the lane served nothing";
}

// Positive control: the same count with the lane's check broken (the entry
// calls every cookie current, as a lane that skipped it would) finds the
// stale bytes, so NoStaleDrawAfterBump can see a lane that does not check.
TEST(Lane, BrokenCheckIsCaught) {
  if (!Tagged() || !g_emu_per_draw || !g_emu_vdso_entry)
    GTEST_SKIP() << "needs per-draw mode with the entry and tagged bytes";
  (void)grndpool_u32();
  g_entry_broken = true;
  const uint64_t stale = StaleBytesAfterBumps();
  g_entry_broken = false;
  EXPECT_GT(stale, 0u) << "a lane that does not check served no stale byte: the test is blind";
}

}  // namespace
}  // namespace grndpool::test

bool g_emu_per_draw = true;
bool g_emu_tagged = false;
bool g_emu_vdso_entry = true;
thread_local uint64_t t_entry_calls = 0;
thread_local uint64_t t_timestamp_calls = 0;
std::atomic<bool> g_entry_broken{false};

namespace {

// The model's ops, each answer counted on the calling thread.
grndpool::kernel::KernelOps g_counted_ops;
const grndpool::kernel::KernelOps *g_emu_ops = nullptr;

long CountedTimestamp(uint64_t *cookie) {
  ++t_timestamp_calls;
  return g_emu_ops->timestamp(cookie);
}
long CountedEntry(void *buf, size_t len, unsigned flags, void *state, size_t state_len) {
  ++t_entry_calls;
  if (g_entry_broken.load(std::memory_order_relaxed)) return 0;
  return g_emu_ops->vgetrandom(buf, len, flags, state, state_len);
}

}  // namespace

int main(int argc, char **argv) {
  grndpool::test::ApplyTestEnvironment();
  ::testing::InitGoogleTest(&argc, argv);
  const char *mode = getenv("GRNDPOOL_TEST_EMU_MODE");
  g_emu_per_draw = mode == nullptr || strcmp(mode, "per-refill") != 0;
  g_emu_vdso_entry = mode == nullptr || strcmp(mode, "per-draw-no-entry") != 0;
  const char *refill = getenv("GRNDPOOL_REFILL");
  grndpool::emu::EmuConfig config;
  config.tagged = g_emu_tagged = refill != nullptr && strcmp(refill, "direct") == 0;
  config.mode = g_emu_per_draw ? grndpool::kernel::GenerationMode::kPerDraw
                               : grndpool::kernel::GenerationMode::kPerRefill;
  config.vdso_entry = g_emu_vdso_entry;
  g_emu_ops = grndpool::emu::Ops(config);
  g_counted_ops = *g_emu_ops;
  g_counted_ops.timestamp = CountedTimestamp;
  if (g_emu_ops->vgetrandom != nullptr) g_counted_ops.vgetrandom = CountedEntry;
  grndpool::SetKernelOpsForTesting(&g_counted_ops);
  printf("%s\n", grndpool_describe());
  return RUN_ALL_TESTS();
}
