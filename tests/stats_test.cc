// SPDX-License-Identifier: Apache-2.0
// lib/stats: grndpool_get_stats() honours the caller's size, so a program built
// against an older, shorter struct grndpool_stats keeps working.
#include <gtest/gtest.h>

#include <cstring>

#include "grndpool/grndpool.h"

namespace grndpool::test {
namespace {

// What a caller built against a header with five counters passes in.
struct OldStats {
  uint32_t size;
  uint32_t version;
  uint64_t bytes_served, bytes_discarded, refills, rekeys, generation_changes;
};

TEST(Stats, AnOlderCallersStructIsNotOverrun) {
  (void)grndpool_u64();
  struct {
    OldStats stats;
    unsigned char guard[256];
  } buf;
  memset(&buf, 0xcc, sizeof buf);
  buf.stats.size = sizeof(OldStats);
  grndpool_get_stats(reinterpret_cast<struct grndpool_stats *>(&buf.stats));
  EXPECT_EQ(buf.stats.size, sizeof(OldStats));
  EXPECT_EQ(buf.stats.version, static_cast<uint32_t>(GRNDPOOL_STATS_VERSION));
  EXPECT_GE(buf.stats.bytes_served, 8u);
  EXPECT_GE(buf.stats.refills, 1u);
  for (unsigned char g : buf.guard) ASSERT_EQ(g, 0xcc) << "wrote past the caller's struct";
}

TEST(Stats, FullStructAndZeroSize) {
  (void)grndpool_u32();
  struct grndpool_stats s;
  memset(&s, 0, sizeof s);  // size 0: the whole struct
  grndpool_get_stats(&s);
  EXPECT_EQ(s.size, sizeof s);
  EXPECT_GE(s.threads_seen, 1u);
  EXPECT_GE(s.slices_in_use, 1u);
}

TEST(Stats, TooSmallForAnyCounterWritesNothing) {
  struct grndpool_stats s;
  memset(&s, 0xcc, sizeof s);
  s.size = 4;
  grndpool_get_stats(&s);
  EXPECT_EQ(s.version, 0xccccccccu);
}

}  // namespace
}  // namespace grndpool::test
