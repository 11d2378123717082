// SPDX-License-Identifier: Apache-2.0
// leak_test's NextOutput suite (the file comment of tests/leak_test.cc says
// what it proves): the next 4 KiB a thread of each kind serves after an image
// was taken are nowhere in that image.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/rseq.h>

#include <atomic>
#include <chrono>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "lib/thread_slice.h"
#include "lib/runtime.h"
#include "lib/strategies/registry.h"
#include "lib/thread_count.h"
#include "tests/leak_check.h"
#include "tests/memory_search.h"

namespace grndpool::test {
namespace {

enum class Kind {
  kSmallSlice,
  kHotSlice,
  kOverflowSlice,
  kPerThread,
  kShared,
  kMutex,
  kVdso,
  kPerCpu
};

// In the order of enum Kind: the name of each and the strategy its thread draws from.
constexpr struct {
  const char *name;
  Strategy strategy;
} kKinds[] = {
    {"small_slice", Strategy::kSlab},    {"hot_slice", Strategy::kSlab},
    {"overflow_slice", Strategy::kSlab}, {"per_thread", Strategy::kPerThread},
    {"shared", Strategy::kShared},       {"mutex", Strategy::kMutex},
    {"vdso", Strategy::kVdso},           {"per_cpu", Strategy::kPerCpu},
};

const char *KindName(Kind k) {
  return kKinds[static_cast<int>(k)].name;
}

// The draw a thread of this kind makes.
void DrawAs(Kind k, void *out, size_t n) {
  StrategyFor(kKinds[static_cast<int>(k)].strategy).draw(out, n);
}

uint64_t Refills() {
  return Snapshot().refills;
}

class NextOutput : public ::testing::TestWithParam<LeakCase<Kind>> {};

TEST_P(NextOutput, IsNowhereInAnImage) {
  const Kind kind = GetParam().row;
  const ImageKind image_kind = GetParam().image;
  SKIP_CORE_DUMPS_UNDER_SANITIZERS(image_kind);
  if ((kind == Kind::kOverflowSlice) != OverflowProcess())
    GTEST_SKIP() << "runs in the other process configuration";  // CTest registers each apart
  // The small slice's next output in the .reservoir process comes from the
  // per-CPU buffers (x86_64), which held it when the image was taken.
  const bool from_reservoir = kind == Kind::kSmallSlice && ReservoirProcess();
#if defined(__x86_64__)
  if (from_reservoir) {
    ASSERT_GT(__rseq_size, 0u) << "glibc registered no rseq area";
  }
#endif
  // Overflow: with an 8 KiB budget one segment of four slices is owned; four
  // threads hold them, so the worker shares the overflow slices. In the
  // .overflow-reservoir process (x86_64) the worker gives its slice back
  // instead (a test hook) and draws from the per-CPU reservoir, which holds
  // its next output when the image is taken.
  const bool overflow_reservoir = kind == Kind::kOverflowSlice && ReservoirProcess();
  const struct grndpool_stats at_start = Snapshot();
  std::atomic<bool> release{false};
  std::vector<std::thread> holders;
  if (kind == Kind::kOverflowSlice && !overflow_reservoir) {
    // Slices sized by index: the segment keeps four slices of 1 KiB however
    // many threads wait for one (sized from the waiting threads it would
    // split into eight, and the worker would own one).
    SetProcessThreadsForTesting([]() -> size_t { return 0; });
    std::atomic<int> holding{0};
    for (int i = 0; i < 4; ++i)
      holders.emplace_back([&] {
        (void)grndpool_u32();
        holding.fetch_add(1);
        while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      });
    while (holding.load() < 4) std::this_thread::yield();
  }
  Vault next(4096);
  std::string setup_error;
  MemoryImage image;
  std::thread worker([&] {
    uint32_t w;
    DrawAs(kind, &w, sizeof w);
    if (overflow_reservoir) StayInOverflowForTesting();
    const struct grndpool_stats before = Snapshot();
    if (kind == Kind::kHotSlice) {
      // A thread that refills often moves to a hot slice.
      for (int i = 0; i < 64 * 1024 && Snapshot().hot_slices_in_use == before.hot_slices_in_use;
           ++i)
        for (int k = 0; k < 256; ++k) DrawAs(kind, &w, sizeof w);
      if (Snapshot().hot_slices_in_use == before.hot_slices_in_use)
        setup_error = "the thread never moved to a hot slice";
    }
    if (kind == Kind::kOverflowSlice && Snapshot().slices_in_use != before.slices_in_use)
      setup_error = "the worker got a slice of its own";
    // Right after a refill: the next bytes of the buffer are what a leak of
    // libcrypto's partial block would hold.
    if (kind != Kind::kVdso) {
      const uint64_t refills = Refills();
      for (int i = 0; i < 1 << 22 && Refills() == refills; ++i) DrawAs(kind, &w, sizeof w);
      if (Refills() == refills) setup_error = "no refill happened";
    }
    raise(SIGURG);  // saves the registers the refill used on this stack
    image = TakeImage(image_kind);
    const uint64_t reservoir_refills = Snapshot().reservoir_refills;
    for (size_t i = 0; i < next.size(); i += 16) DrawAs(kind, next.bytes() + i, 16);
#if defined(__x86_64__)
    // Most of its refills: 4 KiB of 16-byte draws from 192-byte slices.
    const uint64_t refills = next.size() / CurrentProcess().geometry.capacity;
    if (from_reservoir && Snapshot().reservoir_refills - reservoir_refills < refills * 3 / 4)
      setup_error = "the next output did not come from the reservoir";
#endif
  });
  worker.join();
  release = true;
  for (auto &t : holders) t.join();
  ASSERT_TRUE(setup_error.empty()) << setup_error;
  if (overflow_reservoir) {
    // The worker's overflow counts reach the counters at its exit: all of
    // its draws, the next output's 256 included, from the reservoir.
    const struct grndpool_stats after = Snapshot();
    ASSERT_GE(after.reservoir_draws - at_start.reservoir_draws, next.size() / 16)
        << "the overflow draws did not come from the reservoir";
    ASSERT_EQ(after.shared_draws - at_start.shared_draws, 0u);
  }
  ExpectAbsentWithControl(image_kind, image, next.bytes(), next.size(),
                          std::string("the next output of a ") + KindName(kind) + " thread");
}

INSTANTIATE_TEST_SUITE_P(Kinds, NextOutput,
                         ::testing::ValuesIn(EveryImageKind<Kind>(std::size(kKinds))),
                         [](const auto &info) {
                           return CaseName(KindName(info.param.row), info.param.image);
                         });

}  // namespace
}  // namespace grndpool::test
