// SPDX-License-Identifier: Apache-2.0
// lib/kernel/source on the real kernel: vDSO discovery, the source picked, and
// a real forced reseed.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "lib/kernel/kernel_ops.h"
#include "lib/kernel/syscall.h"
#include "lib/kernel/source.h"
#include "lib/kernel/vdso_names.h"
#include "lib/kernel/vdso_symbol.h"
#include "test_util.h"

namespace grndpool::test {
namespace {

// This architecture's names (lib/kernel/vdso_names.h): __vdso_getrandom on
// x86_64, __kernel_getrandom on arm64, ...
const grndpool_vdso_names &Names() {
  const grndpool_vdso_names *names = kernel::NativeVdsoNames();
  EXPECT_NE(names, nullptr) << "vdso_names.h has no row for this architecture";
  static const grndpool_vdso_names kNone{"none", 0, "", "", "", "99.0", 0};
  return names != nullptr ? *names : kNone;
}

// The library's ELF walk finds what glibc's loader finds in the same vDSO. A
// static program (the QEMU guest's) has no loader handle on the vDSO: there
// the walk must find getrandom, which every kernel this suite boots has.
TEST(Vdso, FindsWhatTheLoaderFinds) {
  const grndpool_vdso_names &names = Names();
  void *fn = kernel::FindVdsoFunction(names.getrandom, names.version);
  if (dlopen("linux-vdso.so.1", RTLD_NOW | RTLD_NOLOAD) != nullptr) {
    EXPECT_EQ(fn, VdsoSymbolByLoader(names.getrandom, names.version)) << names.getrandom;
    EXPECT_EQ(kernel::FindVdsoFunction(names.clock_gettime, names.version),
              VdsoSymbolByLoader(names.clock_gettime, names.version))
        << names.clock_gettime;
  } else {
    EXPECT_NE(fn, nullptr) << names.getrandom << "@" << names.version << " on " << names.arch;
  }
  // clock_gettime is in every vDSO: the positive control of the lookup.
  EXPECT_NE(kernel::FindVdsoFunction(names.clock_gettime, names.version), nullptr)
      << names.clock_gettime << "@" << names.version;
}

TEST(Vdso, RejectsWrongNamesAndVersions) {
  const grndpool_vdso_names &names = Names();
  EXPECT_EQ(kernel::FindVdsoFunction(names.getrandom, "LINUX_9.9"), nullptr);
  EXPECT_EQ(kernel::FindVdsoFunction("__vdso_no_such_function", names.version), nullptr);
  // Another architecture's name for the same entry is not this one's.
  for (const grndpool_vdso_names &other : kernel::VdsoNamesTable())
    if (strcmp(other.getrandom, names.getrandom) != 0) {
      EXPECT_EQ(kernel::FindVdsoFunction(other.getrandom, other.version), nullptr) << other.arch;
    }
}

TEST(Syscall, FillsAndRejectsUnknownFlags) {
  uint8_t buf[64] = {};
  kernel::SyscallFill(buf, sizeof buf);
  int nonzero = 0;
  for (uint8_t b : buf) nonzero += b != 0;
  EXPECT_GT(nonzero, 48);
  EXPECT_EQ(kernel::SyscallGetrandom(buf, 8, 0x4000), -EINVAL);
}

// Either the flag is unknown (stock kernel: EINVAL, and the library did not
// pick it) or it keeps the contract (the library picked it).
TEST(Syscall, GrndTimestampIsEinvalOrWorks) {
  const bool picked =
      std::string(grndpool_describe()).find("source=grnd_timestamp") != std::string::npos;
  uint64_t cookie = 0;
  const long r = kernel::SyscallGetrandom(&cookie, 8, kernel::kGrndTimestamp);
  if (!picked) {
    EXPECT_EQ(r, -EINVAL) << "the kernel answers GRND_TIMESTAMP but the library did not use it";
    return;
  }
  ASSERT_EQ(r, 8);
  EXPECT_NE(cookie, 0u);
  const long again = kernel::SyscallGetrandom(&cookie, 8, kernel::kGrndTimestamp);
  EXPECT_TRUE(again == 0 || (again == 8 &&  // a reseed may land between the calls
                             kernel::SyscallGetrandom(&cookie, 8, kernel::kGrndTimestamp) == 0));
}

// With no configuration the library picks the best source this kernel has.
TEST(Source, AutoPicksTheBestPath) {
  const std::string line = grndpool_describe();
  uint64_t cookie = 0;
  const bool has_ts = kernel::SyscallGetrandom(&cookie, 8, kernel::kGrndTimestamp) == 8;
  if (has_ts) {
    EXPECT_NE(line.find("source=grnd_timestamp"), std::string::npos) << line;
  } else if (kernel::FindVdsoFunction(Names().getrandom, Names().version) != nullptr) {
    EXPECT_NE(line.find("source=vdso"), std::string::npos) << line;
  } else {
    EXPECT_NE(line.find("source=syscall"), std::string::npos) << line;
  }
}

// The size in bytes after `key` in a describe line ("slice=1024B"), or 0.
size_t SizeIn(const std::string &line, const std::string &key) {
  const size_t at = line.find(" " + key);
  return at == std::string::npos ? 0 : strtoull(line.c_str() + at + 1 + key.size(), nullptr, 10);
}

// A real reseed (root only): the generation moves, the library notices at its
// next refill (stock kernel) or next draw (GRND_TIMESTAMP), and the chacha20
// chain is rekeyed from the kernel.
TEST(Reseed, ForcedReseedIsNoticedAndRekeys) {
  if (geteuid() != 0) GTEST_SKIP() << "RNDRESEEDCRNG needs root; not root here";
  const std::string line = grndpool_describe();
  if (line.find("generation unknown") != std::string::npos)
    GTEST_SKIP() << "this source cannot see the generation: " << line;
  for (int i = 0; i < 65536; ++i) (void)grndpool_u32();  // a warm (hot) slice and chain
  struct grndpool_stats before = Stats();
  ASSERT_EQ(kernel::ForceKernelReseed(), 0);
  // At most one slice later (the stock-kernel window), the change is seen: a
  // busy thread's slice is a hot slice.
  const size_t window = std::max(SizeIn(line, "slice="), SizeIn(line, "hot-slice="));
  ASSERT_GT(window, 0u) << line;
  for (size_t i = 0; i < window / 4; ++i) (void)grndpool_u32();
  struct grndpool_stats after = Stats();
  EXPECT_GT(after.generation_changes, before.generation_changes);
  if (line.find("checked every draw") != std::string::npos) {
    // Window of 0 bytes: the very next draw after a reseed sees it.
    struct grndpool_stats one_before = Stats();
    ASSERT_EQ(kernel::ForceKernelReseed(), 0);
    (void)grndpool_u32();
    EXPECT_GT(Stats().generation_changes, one_before.generation_changes);
  }
  if (line.find("refill=chacha20") != std::string::npos) {
    EXPECT_GT(after.rekeys, before.rekeys);
  }
}

// One thread's news of a reseed reaches every thread (lib/freshness.h): eight
// threads each hold a partly used slice; after a forced reseed one of them
// draws until it has seen the change (at its next refill on a stock kernel),
// then each of the other seven draws until its own next refill. Every word it
// draws before that refill was made before the reseed. Goal: none.
TEST(Reseed, OneThreadsNewsReachesEveryThread) {
  if (geteuid() != 0) GTEST_SKIP() << "RNDRESEEDCRNG needs root; not root here";
  const std::string line = grndpool_describe();
  ASSERT_EQ(line.find("generation unknown"), std::string::npos) << line;
  const size_t window_draws = SizeIn(line, "hot-slice=") / 4 + SizeIn(line, "slice=") / 4 + 2;
  constexpr int kThreads = 8;
  std::atomic<int> turn{-1}, done{0};
  std::vector<uint64_t> stale_words(kThreads, 0);
  std::vector<std::thread> threads;
  for (int id = 0; id < kThreads; ++id)
    threads.emplace_back([&, id] {
      for (int i = 0; i < 100; ++i) (void)grndpool_u32();  // a partly used slice
      done.fetch_add(1);
      while (turn.load() != id) std::this_thread::yield();
      if (id == 0) {
        const uint64_t changes = Stats().generation_changes;
        for (size_t i = 0; i < window_draws && Stats().generation_changes == changes; ++i)
          (void)grndpool_u32();
      } else {
        const uint64_t refills = Stats().refills;
        for (size_t i = 0; i < window_draws && Stats().refills == refills; ++i) {
          (void)grndpool_u32();
          if (Stats().refills == refills) ++stale_words[id];  // served from the old fill
        }
      }
      turn.store(id + 1);
    });
  while (done.load() < kThreads) std::this_thread::yield();
  const uint64_t changes = Stats().generation_changes;
  ASSERT_EQ(kernel::ForceKernelReseed(), 0);
  turn.store(0);
  for (auto &t : threads) t.join();
  EXPECT_GT(Stats().generation_changes, changes) << "thread 0 never saw the reseed";
  uint64_t stale = 0;
  std::string per_thread;
  for (int id = 1; id < kThreads; ++id) {
    stale += stale_words[id];
    per_thread += " " + std::to_string(stale_words[id] * 4);
  }
  printf("pre-reseed bytes served by the other seven threads:%s (total %llu)\n", per_thread.c_str(),
         static_cast<unsigned long long>(stale * 4));
  EXPECT_EQ(stale, 0u) << "bytes made before the reseed were served after another thread saw it";
}

// Every buffering strategy sees a forced reseed: on a kernel with
// GRND_TIMESTAMP in the vDSO at the very next draw (a window of 0 bytes), on
// a stock kernel within one buffer of draws (the largest: a hot slice; for
// per-cpu, one per CPU).
class ReseedWindow : public ::testing::TestWithParam<Strategy> {};

TEST_P(ReseedWindow, ForcedReseedIsSeenWithinTheWindow) {
  if (geteuid() != 0) GTEST_SKIP() << "RNDRESEEDCRNG needs root; not root here";
  const std::string line = grndpool_describe();
  ASSERT_EQ(line.find("generation unknown"), std::string::npos)
      << "this kernel's vDSO state layout was not recognised: " << line;
  const bool per_draw = line.find("checked every draw") != std::string::npos;
  // per-cpu: a thread that moves between CPUs drains each CPU's buffer, and
  // only a refill asks the stock kernel: one 16 KiB buffer per CPU it may run on.
  cpu_set_t allowed;
  ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  const size_t buffers = GetParam() == Strategy::kPerCpu ? CPU_COUNT(&allowed) : 1;
  const size_t window_draws = per_draw ? 1 : buffers * (SizeIn(line, "hot-slice=") / 4) + 1;
  ASSERT_GT(window_draws, 0u) << line;
  const StrategyOps &ops = StrategyFor(GetParam());
  for (int round = 0; round < 5; ++round) {
    uint32_t v;
    for (int i = 0; i < 64; ++i) ops.draw(&v, sizeof v);  // warm buffer
    const struct grndpool_stats before = Stats();
    ASSERT_EQ(kernel::ForceKernelReseed(), 0);
    size_t draws = 0;
    while (Stats().generation_changes == before.generation_changes && draws < window_draws)
      ops.draw(&v, sizeof v), ++draws;
    EXPECT_GT(Stats().generation_changes, before.generation_changes)
        << ops.name << ": not seen within " << window_draws << " draws (" << line << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(Strategies, ReseedWindow, ::testing::ValuesIn(kBufferingStrategies),
                         [](const auto &info) { return StrategyParamName(info.param); });

}  // namespace
}  // namespace grndpool::test
