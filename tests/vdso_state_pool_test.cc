// SPDX-License-Identifier: Apache-2.0
// lib/kernel/vdso_state_pool: distinct states, never straddling a page, reused
// after release, and lock-free acquisition from many threads at once.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <thread>
#include <vector>

#include "lib/kernel/vdso_state_pool.h"

namespace grndpool::test {
namespace {

kernel::VdsoStateParams Params() {
  return {144, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS};
}

TEST(VdsoStatePool, DistinctStatesWithinPages) {
  kernel::VdsoStatePool pool;
  pool.Init(Params());
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  std::set<void *> seen;
  for (int i = 0; i < 300; ++i) {
    void *s = pool.Acquire();
    ASSERT_NE(s, nullptr);
    const auto a = reinterpret_cast<uintptr_t>(s);
    EXPECT_EQ(a / page, (a + 143) / page) << "a state straddles a page";
    EXPECT_TRUE(seen.insert(s).second);
  }
  void *victim = *seen.begin();
  memset(victim, 0x5a, 144);
  pool.Release(victim);
  EXPECT_EQ(*static_cast<unsigned char *>(victim), 0) << "released states are wiped";
  EXPECT_EQ(pool.Acquire(), victim);
}

TEST(VdsoStatePool, ConcurrentAcquireRelease) {
  kernel::VdsoStatePool pool;
  pool.Init(Params());
  std::vector<std::vector<void *>> held(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        held[t].push_back(pool.Acquire());
        if (i % 3 == 0) {
          pool.Release(held[t].back());
          held[t].pop_back();
        }
      }
    });
  for (auto &th : threads) th.join();
  std::vector<void *> all;
  for (auto &v : held) all.insert(all.end(), v.begin(), v.end());
  EXPECT_EQ(std::count(all.begin(), all.end(), nullptr), 0);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "a state held twice";
}

TEST(VdsoStatePool, NoStateWhenTheVdsoDidNotAnswer) {
  kernel::VdsoStatePool pool;
  pool.Init({0, 0, 0});
  EXPECT_EQ(pool.Acquire(), nullptr);
}

}  // namespace
}  // namespace grndpool::test
