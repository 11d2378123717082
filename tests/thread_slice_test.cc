// SPDX-License-Identifier: Apache-2.0
// lib/thread_slice: a thread that found no free slice (the slab budget spent)
// draws from the overflow slices and looks for a slice of its own again only
// once one may have been freed, and then finds it. Runs this program again as
// a child (`--child MODE`) with a budget of 12 slices, since options are read
// once per process.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "lib/slice_directory.h"
#include "lib/thread_state.h"
#include "tests/test_env.h"
#include "tests/test_util.h"

namespace grndpool::test {
namespace {

std::string Self() {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  return n > 0 ? std::string(path, static_cast<size_t>(n)) : std::string();
}

// 16 KiB of slab in 4 KiB segments: 3 segments of 1 KiB slices (12 slices),
// the last one for the overflow slices; no hot slices.
constexpr const char *kTwelveSlices =
    "GRNDPOOL_SLAB_BYTES=16K GRNDPOOL_SLICE_BYTES=1K "
    "GRNDPOOL_HOT_SLICE_BYTES=0";

TEST(ThreadSlice, OverflowThreadsRetryClaimsOnlyAfterAFree) {
  std::string out;
  EXPECT_EQ(RunCommand(std::string(kTwelveSlices) + " " + Self() + " --child overflow", &out), 0)
      << out;
}

// --- child modes -------------------------------------------------------------

// Out of line: GCC 12's UBSan reported a null member access on the inlined
// thread-local read inside the lambda below (the address is never null).
[[gnu::noinline]] bool OwnsSlice() {
  return ThisThread().owned.slice != nullptr;
}

constexpr int kThreads = 24;
constexpr int kDraws = 256 * 16;  // 16 claim retry intervals of overflow draws

int Overflow() {
  // `counted` holds the threads until the main thread has read the scan count:
  // one of them leaving (and the others rescanning) must come after it.
  std::barrier claimed(kThreads + 1), drawn(kThreads + 1), counted(kThreads + 1),
      one_left(kThreads), redrawn(kThreads);
  std::vector<int> owns(kThreads, 0), owns_after(kThreads, 0);
  std::atomic<int> leaver{-1};
  std::vector<std::thread> pool;
  for (int i = 0; i < kThreads; ++i) {
    pool.emplace_back([&, i] {
      (void)grndpool_u32();  // claims a slice, or finds none
      owns[i] = OwnsSlice();
      claimed.arrive_and_wait();
      for (int d = 0; d < kDraws; ++d) (void)grndpool_u32();
      drawn.arrive_and_wait();
      counted.arrive_and_wait();
      // One slice owner leaves; everyone else draws on and may take its slice.
      if (leaver.load() == i) {
        one_left.arrive_and_drop();
        redrawn.arrive_and_drop();
        return;
      }
      one_left.arrive_and_wait();
      for (int d = 0; d < kDraws; ++d) (void)grndpool_u32();
      owns_after[i] = OwnsSlice();
      redrawn.arrive_and_wait();
    });
  }
  claimed.arrive_and_wait();
  int owners = 0;
  for (int i = 0; i < kThreads; ++i) {
    owners += owns[i];
    if (owns[i] && leaver.load() < 0) leaver.store(i);
  }
  const uint64_t scans_claimed = ClaimScansForTesting();
  drawn.arrive_and_wait();
  const uint64_t scans_drawn = ClaimScansForTesting();
  counted.arrive_and_wait();
  pool[static_cast<size_t>(leaver.load())].join();
  for (size_t i = 0; i < pool.size(); ++i)
    if (static_cast<int>(i) != leaver.load()) pool[i].join();
  const uint64_t scans_end = ClaimScansForTesting();
  int owners_after = 0;
  for (int i = 0; i < kThreads; ++i) owners_after += owns_after[i];
  const struct grndpool_stats s = Stats();
  printf(
      "child: %d owners of %d threads; claim scans: %llu at first draws, %llu while nothing "
      "was freed, %llu after one owner left; then %d owners; shared_draws=%llu\n",
      owners, kThreads, (unsigned long long)scans_claimed,
      (unsigned long long)(scans_drawn - scans_claimed),
      (unsigned long long)(scans_end - scans_drawn), owners_after,
      (unsigned long long)s.shared_draws);
  fflush(stdout);
  bool ok = owners == 12 && owners_after == 12 && s.shared_draws > 0;
  // Without the free count each of the 12 overflow threads scanned every 256
  // slow draws: ~16 times each.
  ok = ok && scans_drawn == scans_claimed;
  // One slice was freed: overflow threads looked again, one of them took it,
  // and the others scanned at most once more each.
  ok = ok && scans_end > scans_drawn && scans_end - scans_drawn <= 12;
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace grndpool::test

int main(int argc, char **argv) {
  using namespace grndpool::test;
  if (argc == 3 && strcmp(argv[1], "--child") == 0) {
    if (strcmp(argv[2], "overflow") == 0) return Overflow();
    fprintf(stderr, "thread_slice_test: unknown child mode '%s' (overflow)\n", argv[2]);
    return 2;
  }
  ApplyTestEnvironment();
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
