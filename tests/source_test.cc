// SPDX-License-Identifier: Apache-2.0
// lib/kernel/source on the real kernel: vDSO discovery, the source picked, and
// a real forced reseed.
#include <gtest/gtest.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "lib/kernel/kernel_ops.h"
#include "lib/kernel/syscall.h"
#include "lib/kernel/source.h"
#include "lib/kernel/vdso_names.h"
#include "lib/kernel/vdso_symbol.h"
#include "test_util.h"

namespace grndpool::test {
namespace {

bool KernelAtLeast(int major, int minor) {
  utsname u{};
  uname(&u);
  int ma = 0, mi = 0;
  sscanf(u.release, "%d.%d", &ma, &mi);
  return ma > major || (ma == major && mi >= minor);
}

// This architecture's names (lib/kernel/vdso_names.h): __vdso_getrandom on
// x86_64, __kernel_getrandom on arm64, ...
const grndpool_vdso_names &Names() {
  const grndpool_vdso_names *names = kernel::NativeVdsoNames();
  EXPECT_NE(names, nullptr) << "vdso_names.h has no row for this architecture";
  static const grndpool_vdso_names kNone{"none", 0, "", "", "", "99.0", 0};
  return names != nullptr ? *names : kNone;
}

TEST(Vdso, FindsGetrandomOnNewKernels) {
  const grndpool_vdso_names &names = Names();
  void *fn = kernel::FindVdsoFunction(names.getrandom, names.version);
  int since_major = 0, since_minor = 0;
  ASSERT_EQ(sscanf(names.since, "%d.%d", &since_major, &since_minor), 2);
  if (KernelAtLeast(since_major, since_minor)) {
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

TEST(Syscall, GrndTimestampIsEinvalOrWorks) {
  uint64_t cookie = 0;
  long r = kernel::SyscallGetrandom(&cookie, 8, kernel::kGrndTimestamp);
  if (r == -EINVAL) GTEST_SKIP() << "this kernel lacks GRND_TIMESTAMP (stock kernel)";
  ASSERT_EQ(r, 8);
  EXPECT_NE(cookie, 0u);
  EXPECT_EQ(kernel::SyscallGetrandom(&cookie, 8, kernel::kGrndTimestamp), 0);
}

// With no configuration the library picks the best source this kernel has.
TEST(Source, AutoPicksTheBestPath) {
  const std::string line = grndpool_describe();
  uint64_t cookie = 0;
  const bool has_ts = kernel::SyscallGetrandom(&cookie, 8, kernel::kGrndTimestamp) == 8;
  if (has_ts) {
    EXPECT_NE(line.find("source=grnd_timestamp"), std::string::npos) << line;
  } else if (KernelAtLeast(6, 11)) {
    EXPECT_NE(line.find("source=vdso"), std::string::npos) << line;
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

// On a kernel with GRND_TIMESTAMP in the vDSO, every buffering strategy sees a
// forced reseed at the very next draw: a window of 0 bytes.
class ReseedWindow : public ::testing::TestWithParam<Strategy> {};

TEST_P(ReseedWindow, NextDrawSeesAForcedReseed) {
  if (geteuid() != 0) GTEST_SKIP() << "RNDRESEEDCRNG needs root; not root here";
  const std::string line = grndpool_describe();
  if (line.find("checked every draw") == std::string::npos)
    GTEST_SKIP() << "no GRND_TIMESTAMP in this kernel's vDSO: " << line;
  const StrategyOps &ops = StrategyFor(GetParam());
  for (int round = 0; round < 5; ++round) {
    uint32_t v;
    for (int i = 0; i < 64; ++i) ops.draw(&v, sizeof v);  // warm buffer
    const struct grndpool_stats before = Stats();
    ASSERT_EQ(kernel::ForceKernelReseed(), 0);
    ops.draw(&v, sizeof v);
    EXPECT_GT(Stats().generation_changes, before.generation_changes) << ops.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Strategies, ReseedWindow, ::testing::ValuesIn(kBufferingStrategies),
                         [](const auto &info) { return StrategyParamName(info.param); });

}  // namespace
}  // namespace grndpool::test
