// SPDX-License-Identifier: Apache-2.0
// lib/slice_directory: claim, release, growth, exhaustion and concurrent
// claims, on a small budget, driven directly (no draw runs in this process).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "lib/slice_directory.h"
#include "lib/stats.h"

namespace grndpool::test {
namespace {

class SliceDirectory : public ::testing::Test {
 protected:
  // 32 KiB of 1 KiB slices: 8 page segments, one kept for the overflow, so
  // 7 * 4 = 28 slices can be owned.
  static void SetUpTestSuite() { InitSliceDirectory(ComputeGeometry(32 * 1024, 1024)); }
  static constexpr size_t kOwnable = 28;
};

TEST_F(SliceDirectory, GeometryIsComputedOnce) {
  const SlabGeometry &g = Geometry();
  EXPECT_EQ(g.capacity, 1024u - kSliceHeaderBytes);
  EXPECT_EQ(g.slices_per_segment * g.slice_bytes, g.segment_bytes);
  EXPECT_EQ(g.max_segments, 32 * 1024 / g.segment_bytes);
}

TEST_F(SliceDirectory, ClaimGrowExhaustReleaseReuse) {
  std::vector<SliceHeader *> owned;
  for (uint32_t tag = 1; tag <= 100; ++tag) {
    SliceHeader *s = ClaimSlice(tag);
    if (s == nullptr) break;
    EXPECT_EQ(s->owner.load(), tag);
    EXPECT_EQ(s->avail, 0) << "a claimed slice starts empty";
    owned.push_back(s);
  }
  EXPECT_EQ(owned.size(), kOwnable) << "the budget, less the overflow segment";
  EXPECT_LE(g_counters.slab_bytes.load(), 32u * 1024);
  EXPECT_EQ(std::set<SliceHeader *>(owned.begin(), owned.end()).size(), owned.size());
  // A released slice is wiped and is the next one handed out.
  SliceHeader *victim = owned[5];
  victim->avail = 100;
  memset(victim->data(), 0xee, Geometry().capacity);
  // Only its owner's tag frees it: a thread whose slice a fork or a dropped
  // page took away (and another thread may own now) leaves it alone.
  const uint32_t victim_tag = victim->owner.load();
  EXPECT_FALSE(RetireSlice(victim, Geometry().capacity, victim_tag + 1));
  EXPECT_EQ(victim->owner.load(), victim_tag);
  EXPECT_EQ(victim->data()[0], 0xee);
  ReleaseSlice(victim, victim_tag);
  EXPECT_EQ(victim->owner.load(), 0u);
  EXPECT_TRUE(std::all_of(victim->data(), victim->data() + Geometry().capacity,
                          [](uint8_t b) { return b == 0; }));
  EXPECT_EQ(ClaimSlice(777), victim);
  EXPECT_EQ(victim->avail, 0);
  EXPECT_EQ(ClaimSlice(778), nullptr) << "still exhausted";
  for (SliceHeader *s : owned) ReleaseSlice(s, s->owner.load());
  size_t count = 0;
  EXPECT_NE(OverflowSlices(&count), nullptr);
  EXPECT_EQ(count, Geometry().slices_per_segment);
}

TEST_F(SliceDirectory, ConcurrentClaimsNeverShareASlice) {
  std::atomic<int> shared{0};
  std::vector<std::thread> threads;
  std::vector<std::atomic<uint32_t>> holders(kOwnable);
  for (uint32_t t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 2000; ++round) {
        const uint32_t tag = 1000 + t;
        SliceHeader *s = ClaimSlice(tag);
        if (s == nullptr) continue;
        if (s->owner.load() != tag) shared.fetch_add(1);
        ReleaseSlice(s, tag);
      }
    });
  for (auto &th : threads) th.join();
  EXPECT_EQ(shared.load(), 0);
}

}  // namespace
}  // namespace grndpool::test
