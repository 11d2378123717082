// SPDX-License-Identifier: Apache-2.0
// Hot slices (lib/hot_slices.h): a thread that refills often moves to a larger
// slice; one that draws little stays small; hot slices stay within their share
// of the slab budget, are freed at thread exit and reused, are never handed
// out unlocked, and the move serves no byte twice. Cases that need their own
// configuration run this program again as a child (`--child MODE`, the modes
// in tests/hot_slices_children.cc), since options are read once per process.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "lib/thread_state.h"
#include "tests/hot_slices_children.h"
#include "tests/test_env.h"
#include "tests/test_util.h"

namespace grndpool::test {
namespace {

// Runs this program as a child in MODE (hot_slices_children.h) with `env`;
// expects it to succeed and, unless `may_complain`, to report no bad value.
void ExpectChildPasses(const std::string &env, const char *mode, bool may_complain = true) {
  std::string out;
  EXPECT_EQ(RunCommand(env + " " + SelfPath() + " --child " + mode, &out), 0) << out;
  if (!may_complain) {
    EXPECT_EQ(out.find("ignoring"), std::string::npos) << out;
  }
}

TEST(HotSlices, BusyThreadMovesToAHotSliceAndGivesItBackAtExit) {
  const uint64_t hot_before = Stats().hot_slices_in_use;
  const uint64_t in_use_before = Stats().slices_in_use;
  uint64_t hot_while = 0, in_use_while = 0;
  std::thread([&] {
    DrawBusily();
    hot_while = Stats().hot_slices_in_use;
    in_use_while = Stats().slices_in_use;
  }).join();
  EXPECT_EQ(hot_while, hot_before + 1);
  // The small slice went back when the thread moved: one slice held, not two.
  EXPECT_EQ(in_use_while, in_use_before + 1);
  EXPECT_EQ(Stats().hot_slices_in_use, hot_before);
  EXPECT_EQ(Stats().slices_in_use, in_use_before);
}

TEST(HotSlices, ThreadThatDrawsLittleStaysSmall) {
  const uint64_t hot_before = Stats().hot_slices_in_use;
  uint64_t hot_while = 0, refills = 0;
  std::thread([&] {
    const uint64_t refills_before = Stats().refills;
    // A slice's worth every 12 ms: 8 refills take ~96 ms, far slower than the
    // 8 in 10 ms that make a thread hot.
    for (int round = 0; round < 32; ++round) {
      for (int i = 0; i < 256; ++i) (void)grndpool_u32();
      std::this_thread::sleep_for(std::chrono::milliseconds(12));
    }
    hot_while = Stats().hot_slices_in_use;
    refills = Stats().refills - refills_before;
  }).join();
  EXPECT_GE(refills, 24u);  // it did refill, often enough to be looked at
  EXPECT_EQ(hot_while, hot_before);
}

// A thread that goes hot on draws larger than a hot slice (so no slice
// serves them and the fast path is not pointed anywhere new) leaves no
// pointer to the small slice it gave back: another thread may claim and fill
// that slice, and a stale pointer would serve (and zero) its bytes.
TEST(HotSlices, AMoveByALargeDrawLeavesNoPointerToTheSmallSlice) {
  const uint64_t hot_before = Stats().hot_slices_in_use;
  bool went_hot = false;
  SliceHeader *small = nullptr, *serving = nullptr, *lane = nullptr;
  std::thread([&] {
    (void)grndpool_u32();
    small = ServingSlice();
    std::vector<uint8_t> big(20 * 1024);  // past the 16 KiB hot slice
    for (int i = 0; i < 4000 && !went_hot; ++i) {
      grndpool_buf(big.data(), big.size());
      went_hot = Stats().hot_slices_in_use > hot_before;
    }
    serving = ServingSlice();
    lane = LaneSlice();
  }).join();
  ASSERT_TRUE(went_hot) << "the thread never moved to a hot slice";
  EXPECT_NE(serving, small) << "the fast path still points at the slice given back";
  EXPECT_NE(lane, small) << "the lane still points at the slice given back";
}

// Two threads move to hot slices while drawing; every 64-bit word the two
// served, before, during and after the move, is distinct.
TEST(HotSlices, NoWordServedTwiceAcrossTheMove) {
  constexpr int kWords = 1 << 18;
  std::vector<uint64_t> a(kWords), b(kWords);
  std::thread ta([&] {
    for (auto &w : a) w = grndpool_u64();
  });
  std::thread tb([&] {
    for (auto &w : b) w = grndpool_u64();
  });
  ta.join();
  tb.join();
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end());
  EXPECT_EQ(std::adjacent_find(a.begin(), a.end()), a.end());
  EXPECT_EQ(std::count(a.begin(), a.end(), 0u), 0);
}

// A child of a parent whose thread is hot: its slices read free and wiped, it
// serves none of the parent's next words, and it can go hot itself (its hot
// slices are locked again there).
TEST(HotSlices, ChildOfAHotParent) {
  DrawBusily();
  ASSERT_GE(Stats().hot_slices_in_use, 1u);
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  constexpr int kWords = 4096;
  const int status = RunInChild([&] {
    close(pipefd[0]);
    std::vector<uint64_t> words(kWords);
    for (auto &w : words) w = grndpool_u64();
    const struct grndpool_stats s = Stats();
    bool ok = s.hot_slices_in_use <= 1 && s.locked_bytes > 0;
    for (int i = 0; i < kBusyDraws; ++i) (void)grndpool_u32();
    ok = ok && Stats().hot_slices_in_use == 1;
    if (write(pipefd[1], words.data(), words.size() * 8) != kWords * 8) return 3;
    return ok ? 0 : 2;
  });
  close(pipefd[1]);
  std::vector<uint64_t> child(kWords);
  size_t got = 0;
  while (got < child.size() * 8) {
    const ssize_t n =
        read(pipefd[0], reinterpret_cast<char *>(child.data()) + got, child.size() * 8 - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(pipefd[0]);
  ASSERT_EQ(status, 0);
  ASSERT_EQ(got, child.size() * 8);
  std::vector<uint64_t> parent(kWords);
  for (auto &w : parent) w = grndpool_u64();
  std::sort(child.begin(), child.end());
  for (uint64_t w : parent) EXPECT_FALSE(std::binary_search(child.begin(), child.end(), w));
}

// 12 busy threads at once with a 256 KiB slab: half of it, 8 hot slices of
// 16 KiB, is all that goes hot; the slab stays within budget; at exit the
// hot slices are freed and the next 12 threads reuse them without mapping more.
TEST(HotSlices, StayWithinTheirShareOfTheBudgetAndAreReused) {
  ExpectChildPasses("GRNDPOOL_SLAB_BYTES=256K", "share");
}

// Hot slices are never handed out unlocked: with mlock failing, busy threads
// stay on their small slices (which may be unlocked or droppable) and every
// draw still works.
TEST(HotSlices, NeverUnlocked) {
  ExpectChildPasses("", "mlock-fails");
}

TEST(HotSlices, OffWhenAskedFor) {
  ExpectChildPasses("GRNDPOOL_HOT_SLICE_BYTES=0", "off", /*may_complain=*/false);
}

// A hot slice already mapped and locked is still handed out after a later one
// failed to lock: one failure does not strand the others (and a thread that
// gets one serves from it at full capacity).
TEST(HotSlices, ALaterLockFailureStrandsNoneMappedBefore) {
  ExpectChildPasses("", "lock-fails-later");
}

// A fork landing inside the mapping of a hot slice (as one from a signal
// handler would): the child locks the slice again before serving from it.
TEST(HotSlices, ForkWhileMappingLocksTheChildsCopy) {
  ExpectChildPasses("", "fork-in-map");
}

// _Fork() (no atfork handlers) from a thread that never drew: the child's
// first thread is the forking one, so the slices held back for it are freed
// as soon as it draws, and a busy thread there gets a hot slice again.
TEST(HotSlices, RawForkFromAThreadThatNeverDrew) {
  ExpectChildPasses("GRNDPOOL_SLAB_BYTES=128K", "raw-fork");
}

}  // namespace
}  // namespace grndpool::test

int main(int argc, char **argv) {
  using namespace grndpool::test;
  if (argc == 3 && strcmp(argv[1], "--child") == 0) return RunHotSlicesChild(argv[2]);
  ApplyTestEnvironment();
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
