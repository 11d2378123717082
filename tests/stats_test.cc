// SPDX-License-Identifier: Apache-2.0
// lib/stats: grndpool_get_stats() honours the caller's size, so a program built
// against an older, shorter struct grndpool_stats keeps working; a child
// after fork counts its own work; a thread's tally of refills and overflow
// draws reaches the counters when it reads them and when it exits, a signal
// handler that reads them mid-count counts nothing twice, and one that counts
// while its thread flushes counts once.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "grndpool/grndpool.h"
#include "lib/stats.h"
#include "lib/thread_slice.h"
#include "probe_util.h"
#include "test_util.h"

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

// Parent's counters after a busy start, for the fork cases.
struct grndpool_stats BusyParent() {
  std::vector<unsigned char> big(100000);
  grndpool_buf(big.data(), big.size());
  for (int i = 0; i < 20000; ++i) (void)grndpool_u32();
  return Stats();
}

// 0 when `child` (read in a child after its reset and one u32) counts only its
// own work: monotonic counters from zero, the gauges of what it still maps
// recounted; otherwise prints what is wrong and returns 1.
int ChildCountsItsOwn(const struct grndpool_stats &parent, const struct grndpool_stats &child) {
  int bad = 0;
  auto check = [&](bool ok, const char *what, unsigned long long got, unsigned long long want) {
    if (ok) return;
    fprintf(stderr, "child: %s = %llu (parent %llu; generation changes %llu)\n", what, got, want,
            (unsigned long long)child.generation_changes);
    bad = 1;
  };
  // One refill, and one more for each reseed it saw (other tests force them,
  // machine-wide): a refill the generation moved under is redone.
  const uint64_t redone = child.generation_changes;
  check(child.refills >= 1 && child.refills <= 1 + redone, "refills", child.refills,
        parent.refills);
  check(child.fork_resets == 1, "fork_resets", child.fork_resets, parent.fork_resets);
  check(child.bytes_served < 1024, "bytes_served", child.bytes_served, parent.bytes_served);
  check(child.vdso_fills + child.syscall_fills + child.urandom_fallbacks <= 2 * (1 + redone),
        "kernel fills", child.vdso_fills + child.syscall_fills,
        parent.vdso_fills + parent.syscall_fills);
  check(child.slab_bytes == parent.slab_bytes, "slab_bytes", child.slab_bytes, parent.slab_bytes);
  check(child.locked_bytes == parent.locked_bytes, "locked_bytes", child.locked_bytes,
        parent.locked_bytes);
  check(child.slices_in_use == 1, "slices_in_use", child.slices_in_use, parent.slices_in_use);
  return bad;
}

// Counters are per process (issue 19): glibc's fork() resets the child's in
// its atfork handler, before it draws.
TEST(Stats, AForkedChildCountsItsOwnWork) {
  const struct grndpool_stats parent = BusyParent();
  ASSERT_GT(parent.refills, 10u);
  EXPECT_EQ(RunInChild([&] {
              const struct grndpool_stats before = Stats();
              if (before.refills != 0 || before.bytes_served != 0 || before.threads_seen != 0) {
                fprintf(stderr, "child before any draw: refills=%llu bytes_served=%llu\n",
                        (unsigned long long)before.refills,
                        (unsigned long long)before.bytes_served);
                return 1;
              }
              (void)grndpool_u32();
              return ChildCountsItsOwn(parent, Stats());
            }),
            0);
  EXPECT_GE(Stats().refills, parent.refills) << "the parent's counters are its own";
}

// A raw fork (no atfork handlers) resets at the child's first draw.
TEST(Stats, ARawForkChildCountsItsOwnWorkFromItsFirstDraw) {
  const struct grndpool_stats parent = BusyParent();
  ASSERT_GT(parent.refills, 10u);
  const pid_t pid = static_cast<pid_t>(syscall(SYS_fork));
  if (pid == 0) {
    (void)grndpool_u32();
    _exit(ChildCountsItsOwn(parent, Stats()));
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// u32 draws that refill a thread's 1 KiB slice about `refills` times (no
// more than kRefillTally: the tally does not flush on its own).
void DrawRefills(int refills) {
  for (int i = 0; i < refills * 240; ++i) (void)grndpool_u32();
}

// A small slice's refills are tallied on its thread; reading the counters
// there adds them first.
TEST(Stats, ThisThreadsTallyIsCountedWhenItReadsThem) {
  (void)grndpool_u32();  // the thread's slice, and its first refill
  const struct grndpool_stats before = Stats();
  DrawRefills(3);
  const struct grndpool_stats after = Stats();
  EXPECT_GE(after.refills - before.refills, 2u);
  EXPECT_GE(after.bytes_served - before.bytes_served, 3u * 240 * 4 - 1024);
}

// ... and its exit adds them too.
TEST(Stats, AnExitingThreadsTallyIsCounted) {
  (void)grndpool_u32();
  const struct grndpool_stats before = Stats();
  std::thread([] { DrawRefills(4); }).join();
  const struct grndpool_stats after = Stats();
  EXPECT_GE(after.refills - before.refills, 3u) << "the exiting thread's refills were lost";
}

// A live thread's tally lags by at most kRefillTally refills.
TEST(Stats, ALiveThreadsTallyLagsByLessThanAFlush) {
  (void)grndpool_u32();
  const struct grndpool_stats before = Stats();
  std::atomic<bool> drawn{false}, done{false};
  std::thread t([&] {
    for (uint32_t i = 0; i < 3 * kRefillTally; ++i) CountRefill(1, 0, false, true);
    drawn.store(true);
    while (!done.load()) usleep(1000);
  });
  while (!drawn.load()) usleep(1000);
  const struct grndpool_stats live = Stats();
  done.store(true);
  t.join();
  const struct grndpool_stats after = Stats();
  EXPECT_GE(live.refills - before.refills, 2u * kRefillTally);
  EXPECT_EQ(after.refills - before.refills, 3u * kRefillTally);
}

// A thread past the slab budget tallies its overflow draws as it tallies its
// refills: reading the counters there adds them first, so its own read is
// exact (fewer draws than the tally holds before it flushes on its own).
TEST(Stats, ThisThreadsOverflowDrawsAreCountedWhenItReadsThem) {
  constexpr uint64_t kDraws = 100;
  uint64_t draws = 0, overflow = 0, served = 0;
  std::thread([&] {
    (void)grndpool_u32();  // the thread is set up, with a slice
    StayInOverflowForTesting();
    const struct grndpool_stats before = Stats();
    for (uint64_t i = 0; i < kDraws; ++i) (void)grndpool_u64();
    const struct grndpool_stats after = Stats();
    overflow =
        after.shared_draws + after.reservoir_draws - before.shared_draws - before.reservoir_draws;
    // The shared slices send a draw to the kernel (counted at once) while
    // their slice is refilled.
    draws = overflow + after.kernel_draws - before.kernel_draws;
    served = after.bytes_served - before.bytes_served;
  }).join();
  EXPECT_GT(overflow, 0u) << "no draw took the overflow path: the test did not test";
  EXPECT_EQ(draws, kDraws);
  EXPECT_EQ(served, kDraws * 8);
}

std::atomic<uint64_t> g_handler_reads{0};
void ReadStats(int) {
  struct grndpool_stats st;
  st.size = sizeof st;
  grndpool_get_stats(&st);  // flushes this thread's tally, unless it is mid-count
  g_handler_reads.fetch_add(1, std::memory_order_relaxed);
}

// A signal handler that reads the counters (and so flushes the tally)
// interrupts CountRefill over and over, also while it adds the tally: every
// count lands exactly once.
// Runs `body` on a new thread under a 20 us SIGURG storm at it whose
// handler is `handler` (which counts its calls in `calls`), the thread's
// tally flushed before and after: the counters around it, and how many
// times the handler ran. (No storm: nothing runs, handler_calls is 0.)
struct Stormed {
  struct grndpool_stats before {
  }, after{};
  uint64_t handler_calls = 0;
};
Stormed UnderStorm(void (*handler)(int), const std::atomic<uint64_t> &calls,
                   const std::function<void()> &body) {
  Stormed s;
  std::thread([&] {
    FlushTally();
    s.before = Stats();
    timer_t storm;
    if (!StartSignalStorm(SIGURG, handler, static_cast<pid_t>(gettid()), 20000, &storm)) return;
    body();
    timer_delete(storm);
    s.handler_calls = calls.load();
    FlushTally();
    s.after = Stats();
  }).join();
  return s;
}

TEST(Stats, AHandlerReadingMidCountCountsNothingTwice) {
  (void)grndpool_u32();
  constexpr uint64_t kCalls = 3000000;
  const Stormed s = UnderStorm(ReadStats, g_handler_reads, [] {
    for (uint64_t i = 0; i < kCalls; ++i) CountRefill(1, 0, false, true);
  });
  EXPECT_GT(s.handler_calls, 100u) << "the storm did not interrupt the counting";
  EXPECT_EQ(s.after.refills - s.before.refills, kCalls);
  EXPECT_EQ(s.after.bytes_served - s.before.bytes_served, kCalls);
}

// The other way round: the thread flushes its tally (as a read of the
// counters does) in a loop while a storm's handler counts a refill and an
// overflow draw on it, so handlers land mid-flush: each count reaches the
// counters once, none is lost to the flush's zeroing or double counted.
std::atomic<uint64_t> g_handler_counts{0};
void CountInHandler(int) {
  CountRefill(1, 0, false, true);
  CountOverflowDraw(8, true);
  g_handler_counts.fetch_add(1, std::memory_order_relaxed);
}

TEST(Stats, AHandlerCountingMidFlushCountsOnce) {
  (void)grndpool_u32();
  constexpr uint64_t kFlushes = 2000000;
  const Stormed s = UnderStorm(CountInHandler, g_handler_counts, [] {
    for (uint64_t i = 0; i < kFlushes; ++i) {
      CountOverflowDraw(8, true);
      FlushTally();
    }
  });
  const uint64_t handler = s.handler_calls;
  EXPECT_GT(handler, 100u) << "the storm did not interrupt the flushing";
  EXPECT_EQ(s.after.refills - s.before.refills, handler);
  EXPECT_EQ(s.after.reservoir_draws - s.before.reservoir_draws, kFlushes + handler);
  EXPECT_EQ(s.after.bytes_served - s.before.bytes_served, 8 * (kFlushes + handler) + handler);
}

}  // namespace
}  // namespace grndpool::test
