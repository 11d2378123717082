// SPDX-License-Identifier: Apache-2.0
// lib/draw: the slow path's recovery when the memory under a slice goes away.
// mlock is made to fail (MemoryOps), so slices live in MAP_DROPPABLE memory;
// MADV_DONTNEED then zeroes a slice's page the way the kernel's reclaim drops
// it. Draws must notice (the owner word reads zero), never serve the zeros,
// and carry on from a fresh slice.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "lib/slab_segment.h"
#include "lib/thread_state.h"
#include "test_util.h"

namespace grndpool::test {
namespace {

int FailLock(void *, size_t) {
  errno = EPERM;
  return -1;
}

bool KernelHasDroppable() {
  utsname u{};
  uname(&u);
  int major = 0, minor = 0;
  sscanf(u.release, "%d.%d", &major, &minor);
  return major > 6 || (major == 6 && minor >= 11);
}

TEST(Draw, DroppedPagesAreNeverServed) {
  if (!KernelHasDroppable()) GTEST_SKIP() << "MAP_DROPPABLE needs Linux >= 6.11";
  static MemoryOps ops = DefaultMemoryOps();
  ops.lock = FailLock;
  SetMemoryOpsForTesting(&ops);
  std::vector<uint64_t> words;
  words.push_back(grndpool_u64());
  ASSERT_GT(Stats().droppable_bytes, 0u) << grndpool_describe();
  const size_t page = PageBytes();
  for (int round = 0; round < 200; ++round) {
    SliceHeader *slice = ThisThread().owned;
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
  EXPECT_NE(std::string(grndpool_describe()).find("MAP_DROPPABLE"), std::string::npos);
}

}  // namespace
}  // namespace grndpool::test
