// SPDX-License-Identifier: Apache-2.0
// Fault injection through the library's seams, one process per fault: the
// library reads its options and probes the kernel once per process, so main()
// installs the fault named by GRNDPOOL_TEST_FAULT before the first draw (CTest
// runs every test once per fault, told apart by TEST_SUFFIX). For each fault:
// draws of 4, 8, 16, 1000 and 5000 bytes on several threads never fail, never
// return an all-zero 16-byte block and never repeat one; the fault is counted;
// and grndpool_describe() shows the fallback in force.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tests/fault_seams.h"
#include "tests/test_env.h"
#include "tests/test_util.h"

namespace grndpool::test {
namespace {

using StatsT = struct grndpool_stats;

struct Fault {
  const char *name;
  void (*install)();
  // Checks the counters and the describe line after the draws (EXPECT_*).
  void (*check)(const StatsT &s, const std::string &describe);
};

bool Has(const std::string &line, const char *what) {
  return line.find(what) != std::string::npos;
}

void GetrandomFails(GetrandomFault fault, int err = 0) {
  g_getrandom_fault = fault;
  g_getrandom_errno = err;
  g_vdso_fault = VdsoFault::kAbsent;  // so every fill goes through getrandom(2)
}

// getrandom retried after EINTR/EAGAIN: counted, never routed to /dev/urandom.
void ExpectRetried(const StatsT &s, const std::string &d) {
  EXPECT_GT(g_injected_errors.load(), 0u);
  EXPECT_GT(s.kernel_faults, 0u);
  EXPECT_EQ(s.urandom_fallbacks, 0u);
  EXPECT_TRUE(Has(d, "source=syscall")) << d;
}
// getrandom denied: every fill served by /dev/urandom, and describe says so.
void ExpectUrandom(const StatsT &s, const std::string &d) {
  EXPECT_GT(s.kernel_faults, 0u);
  EXPECT_GT(s.urandom_fallbacks, 0u);
  EXPECT_TRUE(Has(d, "urandom")) << "describe does not name the /dev/urandom fallback: " << d;
}
// The generation cannot be read: every refill takes a fresh kernel key.
void ExpectEveryRefillRekeyed(const StatsT &s, const std::string &d) {
  EXPECT_GT(s.refills, 0u);
  EXPECT_GE(s.rekeys, s.refills);
  EXPECT_TRUE(Has(d, "unknown") || Has(d, "unreadable")) << d;
}

const Fault kFaults[] = {
    {"none", [] {},
     [](const StatsT &s, const std::string &d) {
       EXPECT_EQ(s.kernel_faults, 0u);
       EXPECT_EQ(s.urandom_fallbacks, 0u);
       EXPECT_EQ(s.mmap_failures, 0u);
       EXPECT_TRUE(Has(d, "source=vdso")) << d;
     }},
    {"eintr_alternate", [] { GetrandomFails(GetrandomFault::kEintrAlternate); }, ExpectRetried},
    {"eagain_alternate", [] { GetrandomFails(GetrandomFault::kEagainAlternate); }, ExpectRetried},
    {"eintr_always", [] { GetrandomFails(GetrandomFault::kEintrAlways); },
     [](const StatsT &s, const std::string &d) {
       EXPECT_GE(s.kernel_faults, 100u);  // the retries were bounded, then /dev/urandom
       ExpectUrandom(s, d);
     }},
    {"enosys", [] { GetrandomFails(GetrandomFault::kError, ENOSYS); }, ExpectUrandom},
    {"eperm", [] { GetrandomFails(GetrandomFault::kError, EPERM); }, ExpectUrandom},
    {"efault", [] { GetrandomFails(GetrandomFault::kError, EFAULT); }, ExpectUrandom},
    {"short_reads", [] { GetrandomFails(GetrandomFault::kShortReads); },
     [](const StatsT &s, const std::string &d) {
       EXPECT_GT(g_short_reads.load(), 0u);
       EXPECT_EQ(s.kernel_faults, 0u);  // a short read is no error
       EXPECT_EQ(s.urandom_fallbacks, 0u);
       EXPECT_TRUE(Has(d, "source=syscall")) << d;
     }},
    {"no_vdso", [] { g_vdso_fault = VdsoFault::kAbsent; },
     [](const StatsT &s, const std::string &d) {
       EXPECT_TRUE(Has(d, "source=syscall")) << d;
       ExpectEveryRefillRekeyed(s, d);
     }},
    {"vdso_state_160", [] { g_vdso_fault = VdsoFault::kStateSize160; },
     [](const StatsT &s, const std::string &d) {
       // The generation offset is only known for the 144-byte layout.
       ExpectEveryRefillRekeyed(s, d);
       EXPECT_EQ(g_vdso_wrong_state_len.load(), 0u)
           << "vDSO fills passed an opaque_len other than the size the vDSO reported (160)";
     }},
    // A state layout the library does not recognise: its start-up check finds
    // no generation at the known offset and reads none.
    {"vdso_layout_moved", [] { g_vdso_fault = VdsoFault::kLayoutMoved; },
     [](const StatsT &s, const std::string &d) {
       EXPECT_GT(g_layout_overwrites.load(), 0u) << "the fault never ran";
       EXPECT_TRUE(Has(d, "source=vdso(generation unknown")) << d;
       ExpectEveryRefillRekeyed(s, d);
       EXPECT_EQ(s.generation_changes, 0u) << "a moved layout was read as generations";
     }},
    {"vdso_enosys", [] { g_vdso_fault = VdsoFault::kEnosys; },
     [](const StatsT &s, const std::string &d) {
       EXPECT_GT(s.kernel_faults, 0u);
       EXPECT_GT(s.generation_unknown, 0u);
       EXPECT_EQ(s.urandom_fallbacks, 0u);  // the syscall still works
       ExpectEveryRefillRekeyed(s, d);
     }},
    {"vdso_eintr_always", [] { g_vdso_fault = VdsoFault::kEintrAlways; },
     [](const StatsT &s, const std::string &d) {
       EXPECT_GT(s.kernel_faults, 0u);
       ExpectEveryRefillRekeyed(s, d);
     }},
    {"mmap_all", [] { g_map_fail_from = 1; },
     [](const StatsT &s, const std::string &d) {
       EXPECT_GT(s.mmap_failures, 0u);
       EXPECT_EQ(s.slab_bytes, 0u);
       EXPECT_TRUE(Has(d, "kernel-only")) << d;
     }},
    // Start-up maps, in order: 1 the MADV_WIPEONFORK probe's page, 2 the
    // slices' claim words, 3 the slice directory's array, 4 the canary; the
    // first draw then maps 5, the first slab segment.
    {"mmap_canary", [] { g_map_fail_from = g_map_fail_to = 4; },
     [](const StatsT &s, const std::string &d) {
       EXPECT_EQ(g_failed_maps.load(), 1u);
       EXPECT_TRUE(Has(d, "kernel-only")) << d;
       EXPECT_GT(s.mmap_failures, 0u) << "the canary's failed mapping is not counted";
       // Without a canary a raw-clone child is never reset: no buffer may be used.
       EXPECT_EQ(s.slab_bytes, 0u) << "the slab is in use while describe says kernel-only: " << d;
     }},
    // Calls 1-5 (see mmap_canary) succeed; the slab cannot grow after that.
    {"mmap_slab_after_first", [] { g_map_fail_from = 6; },
     [](const StatsT &s, const std::string &d) {
       EXPECT_EQ(s.slab_bytes, PageBytes());  // the first segment only
       EXPECT_GT(s.mmap_failures, 0u);
       EXPECT_TRUE(Has(d, "mmap-failures")) << d;
     }},
    // An 8 KiB budget (CTest adds GRNDPOOL_SLAB_BYTES=8K): one owned segment
    // (4 slices) and the overflow segment, which is every mapping after the
    // first five.
    {"mmap_overflow", [] { g_map_fail_from = 6; },
     [](const StatsT &s, const std::string &d) {
       EXPECT_EQ(s.slab_bytes, PageBytes());  // the owned segment, no overflow segment
       EXPECT_GT(s.mmap_failures, 0u);
       EXPECT_EQ(s.shared_draws, 0u);
       EXPECT_GT(s.kernel_draws, 0u);
       EXPECT_TRUE(Has(d, "mmap-failures")) << d;
     }},
    {"mlock", [] { g_lock_fails = true; },
     [](const StatsT &s, const std::string &d) {
       EXPECT_GT(s.mlock_failures, 0u);
       EXPECT_EQ(s.locked_bytes, 0u);
       if (KernelHasMapDroppable()) {
         EXPECT_GT(s.droppable_bytes, 0u);
         EXPECT_TRUE(Has(d, "MAP_DROPPABLE")) << d;
       } else {
         EXPECT_TRUE(Has(d, "unlocked")) << d;
       }
     }},
};

const Fault *g_fault = nullptr;

void OnHang(int) {
  static const char msg[] = "faults_test: the draws hung for 60 s (an unbounded retry?)\n";
  (void)!write(2, msg, sizeof msg - 1);
  _exit(3);
}

using Block = std::array<uint8_t, 16>;

// Eight threads, alive together, each draw 4, 8, 16, 1000 and 5000 bytes in
// turn (fast path, refills, the large path). Returns every thread's output.
std::vector<std::vector<uint8_t>> DrawOnThreads() {
  constexpr int kThreads = 8, kRounds = 40;
  constexpr size_t kSizes[] = {4, 8, 16, 1000, 5000};
  constexpr size_t kRoundBytes = 4 + 8 + 16 + 1000 + 5000;
  std::vector<std::vector<uint8_t>> out(kThreads, std::vector<uint8_t>(kRounds * kRoundBytes));
  std::barrier all_drew(kThreads);
  signal(SIGALRM, OnHang);
  alarm(60);
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&, t] {
      uint8_t *p = out[t].data();
      for (int r = 0; r < kRounds; ++r) {
        for (size_t n : kSizes) {
          grndpool_buf(p, n);
          p += n;
        }
        if (r == 0) all_drew.arrive_and_wait();  // every thread holds its slice at once
      }
    });
  for (auto &th : pool) th.join();
  alarm(0);
  return out;
}

TEST(Faults, DrawsAreFilledAndNeverRepeat) {
  const auto out = DrawOnThreads();
  std::vector<Block> blocks;
  size_t zero_blocks = 0;
  for (const auto &v : out)
    for (size_t i = 0; i + 16 <= v.size(); i += 16) {
      Block b;
      memcpy(b.data(), v.data() + i, 16);
      zero_blocks += b == Block{};
      blocks.push_back(b);
    }
  EXPECT_EQ(zero_blocks, 0u) << g_fault->name << ": a draw returned unfilled bytes";
  std::sort(blocks.begin(), blocks.end());
  EXPECT_EQ(std::adjacent_find(blocks.begin(), blocks.end()), blocks.end())
      << g_fault->name << ": a 16-byte block was served twice";
}

TEST(Faults, FaultIsCountedAndDescribed) {
  (void)DrawOnThreads();
  struct grndpool_stats s;
  memset(&s, 0, sizeof s);
  s.size = sizeof s;
  grndpool_get_stats(&s);
  const std::string describe = grndpool_describe();
  g_fault->check(s, describe);
  if (HasFailure()) {
    std::string counters;
#define GRNDPOOL_TEST_PRINT(name, help) counters += " " #name "=" + std::to_string(s.name);
    GRNDPOOL_COUNTERS(GRNDPOOL_TEST_PRINT)
#undef GRNDPOOL_TEST_PRINT
    ADD_FAILURE() << g_fault->name << ":" << counters << "\n" << describe;
  }
}

// A raw-clone child (no atfork handlers run) whose forking thread and a new
// thread draw at the same time: they must not share a slice, which would serve
// bytes twice or hand out bytes the other thread just zeroed.
TEST(Faults, RawForkChildThreadsDrawDistinctWords) {
  uint64_t warm;
  grndpool_buf(&warm, sizeof warm);  // this thread holds a slice in the parent
  constexpr size_t kWords = 100000;
  std::vector<uint64_t> words(2 * kWords);
  const pid_t pid = static_cast<pid_t>(syscall(SYS_fork));
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The parent has one thread: malloc (std::thread) is safe here.
    std::thread other([&] {
      for (size_t i = 0; i < kWords; ++i) grndpool_buf(&words[kWords + i], 8);
    });
    for (size_t i = 0; i < kWords; ++i) grndpool_buf(&words[i], 8);
    other.join();
    if (std::count(words.begin(), words.end(), 0u) != 0) _exit(1);
    std::sort(words.begin(), words.end());
    _exit(std::adjacent_find(words.begin(), words.end()) != words.end() ? 2 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child died of signal " << WTERMSIG(status);
  EXPECT_NE(WEXITSTATUS(status), 1) << g_fault->name << ": the child drew an all-zero word";
  EXPECT_NE(WEXITSTATUS(status), 2) << g_fault->name << ": the child served a word twice";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace grndpool::test

int main(int argc, char **argv) {
  using namespace grndpool::test;
  ApplyTestEnvironment();
  ::testing::InitGoogleTest(&argc, argv);
  const char *name = getenv("GRNDPOOL_TEST_FAULT");
  if (name == nullptr) name = "none";
  for (const Fault &f : kFaults)
    if (strcmp(f.name, name) == 0) g_fault = &f;
  if (g_fault == nullptr) {
    fprintf(stderr, "faults_test: unknown GRNDPOOL_TEST_FAULT=%s\n", name);
    return 2;
  }
  InstallFaultSeams();
  g_fault->install();
  return RUN_ALL_TESTS();
}
