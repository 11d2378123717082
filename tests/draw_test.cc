// SPDX-License-Identifier: Apache-2.0
// lib/draw: the slow path's recovery when the memory under a slice goes away.
// mlock is made to fail (MemoryOps), so slices live in MAP_DROPPABLE memory;
// MADV_DONTNEED and MADV_PAGEOUT then zero a slice's page the way the
// kernel's reclaim drops it. Draws must notice (the stamp reads zero), never
// serve the zeros, keep the slice (its claim is elsewhere) and refill it.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <thread>
#include <vector>

#include "lib/kernel/uapi.h"
#include "lib/slab_segment.h"
#include "lib/thread_state.h"
#include "test_util.h"

namespace grndpool::test {
namespace {

int FailLock(void *, size_t) {
  errno = EPERM;
  return -1;
}

// The library's own answer: whether MAP_DROPPABLE was in force after the
// first draw with mlock failing. (No kernel version stands in for it.)
bool SlabIsDroppable() {
  static MemoryOps ops = DefaultMemoryOps();
  ops.lock = FailLock;
  SetMemoryOpsForTesting(&ops);
  (void)grndpool_u64();
  return Stats().droppable_bytes > 0;
}

TEST(Draw, DroppedPagesAreNeverServed) {
  if (!KernelHasMapDroppable()) GTEST_SKIP() << "no MAP_DROPPABLE on this kernel";
  ASSERT_TRUE(SlabIsDroppable()) << "mmap(MAP_DROPPABLE) works but the slab did not use it: "
                                 << grndpool_describe();
  std::vector<uint64_t> words;
  words.push_back(grndpool_u64());
  const size_t page = PageBytes();
  for (int round = 0; round < 200; ++round) {
    SliceHeader *slice = ThisThread().owned.slice;
    ASSERT_NE(slice, nullptr);
    // Drop the page under the slice part-way through its fill.
    for (int i = 0; i < round % 50; ++i) words.push_back(grndpool_u64());
    auto *base = reinterpret_cast<void *>(reinterpret_cast<uintptr_t>(slice) & ~(page - 1));
    ASSERT_EQ(madvise(base, page, MADV_DONTNEED), 0);
    for (int i = 0; i < 20; ++i) words.push_back(grndpool_u64());
  }
  EXPECT_EQ(std::count(words.begin(), words.end(), 0u), 0) << "a dropped page was served";
  std::sort(words.begin(), words.end());
  EXPECT_EQ(std::adjacent_find(words.begin(), words.end()), words.end());
  EXPECT_GE(Stats().slices_dropped, 200u) << "every dropped slice is noticed and counted";
  EXPECT_NE(std::string(grndpool_describe()).find("MAP_DROPPABLE"), std::string::npos);
}

// What memory pressure does to several threads at once: four threads draw
// u64 from slices that share a page while a fifth keeps dropping their pages
// (MADV_PAGEOUT, as reclaim does, and MADV_DONTNEED). A dropped page wipes
// four slices at once; none of them may become another thread's while its
// owner still copies from it, or that owner's zeroing lands in the new
// owner's fresh bytes, which are then served as zeros.
TEST(Draw, PagesDroppedUnderFourThreadsAreNeverServed) {
  if (!KernelHasMapDroppable()) GTEST_SKIP() << "no MAP_DROPPABLE on this kernel";
  ASSERT_TRUE(SlabIsDroppable()) << grndpool_describe();
  constexpr int kThreads = 4;
  constexpr size_t kWords = 3u << 20;
  std::vector<std::vector<uint64_t>> words(kThreads, std::vector<uint64_t>(kWords));
  std::atomic<uintptr_t> slices[kThreads] = {};
  std::atomic<bool> done{false};
  std::atomic<uint64_t> drops{0};
  const size_t page = PageBytes();
  std::thread pager([&] {
    for (int round = 0; !done.load(); ++round) {
      for (auto &s : slices) {
        const uintptr_t at = s.load(std::memory_order_relaxed);
        if (at == 0) continue;
        void *base = reinterpret_cast<void *>(at & ~(page - 1));
        if (madvise(base, page, (round & 1) != 0 ? MADV_PAGEOUT : MADV_DONTNEED) == 0)
          drops.fetch_add(1, std::memory_order_relaxed);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  });
  std::vector<std::thread> drawers;
  for (int t = 0; t < kThreads; ++t)
    drawers.emplace_back([&, t] {
      for (size_t i = 0; i < kWords; ++i) {
        words[t][i] = grndpool_u64();
        if ((i & 1023) == 0)
          slices[t].store(reinterpret_cast<uintptr_t>(ThisThread().owned.slice),
                          std::memory_order_relaxed);
      }
    });
  for (auto &d : drawers) d.join();
  done = true;
  pager.join();
  std::vector<uint64_t> all;
  for (auto &w : words) all.insert(all.end(), w.begin(), w.end());
  const auto zeros = std::count(all.begin(), all.end(), 0u);
  EXPECT_EQ(zeros, 0) << zeros << " all-zero words served from dropped pages";
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "a word was served twice";
  EXPECT_GT(drops.load(), 100u);
  EXPECT_GT(Stats().slices_dropped, 0u) << "no drop was noticed: the pager reached nothing";
}

}  // namespace
}  // namespace grndpool::test
