// SPDX-License-Identifier: Apache-2.0
// lib/strategies/per_cpu.cc: per-CPU buffers under rseq. Threads crowded onto
// one CPU (every draw a race for the same buffer, preempted inside critical
// sections all the time) and threads moving between CPUs never get the same
// bytes, and the draws really come from the per-CPU buffers (not the
// per-thread fallback, which would pass the uniqueness check on its own).
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/rseq.h>

#include <algorithm>
#include <cstring>
#include <atomic>
#include <thread>
#include <vector>

#include "lib/freshness.h"
#include "lib/runtime.h"
#include "lib/strategies/registry.h"
#include "test_util.h"

namespace grndpool::test {
namespace {

const StrategyOps &PerCpu() {
  return StrategyFor(Strategy::kPerCpu);
}

// The draw under test: the strategy's table entry, or, when per-cpu is the
// process's strategy (the .lean variant), the public calls (the header's
// inline draw, which misses, then the library's draw and its lean entry).
void Draw(void *out, size_t n) {
  if (CurrentOptions().strategy != Strategy::kPerCpu) return PerCpu().draw(out, n);
  if (n == 8) {
    const uint64_t v = grndpool_u64();
    memcpy(out, &v, sizeof v);
  } else if (n == 16) {
    grndpool_buf(out, 16);
  } else if (n == 40) {
    grndpool_buf(out, 40);
  } else {
    grndpool_buf(out, n);
  }
}

// Sections the kernel cut in the public header's inline draws.
uint64_t InlineAborts() {
#if defined(__x86_64__)
  return __atomic_load_n(&grndpool_percpu_v1.grndpool_aborts, __ATOMIC_RELAXED);
#else
  return 0;
#endif
}

bool PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

// `threads` threads draw `words` u64 each (with a 16-byte and a 40-byte draw
// every few words, so both kinds of section and the word section race on the
// same buffer); pinned ones all run on CPU 0. Returns every u64 drawn.
void NoOp(int) {}

std::vector<uint64_t> DrawAll(int threads, int pinned, size_t words) {
  struct sigaction sa {};
  sa.sa_handler = NoOp;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGURG, &sa, nullptr);
  std::vector<std::vector<uint64_t>> out(threads);
  std::vector<std::thread> pool;
  std::atomic<int> pin_failures{0};
  // Wakers: pinned to CPU 0 when any drawer is, they sleep 2 us and draw a
  // few words, over and over. A thread that wakes preempts the one running
  // there at whatever instruction it is on, also inside a critical section:
  // tens of thousands of preemptions a second where the tick alone gives
  // hundreds.
  std::atomic<bool> stop{false};
  std::vector<std::vector<uint64_t>> woken(pinned > 0 ? 8 : 0);
  std::vector<std::thread> wakers;
  for (size_t w = 0; w < woken.size(); ++w)
    wakers.emplace_back([&, w] {
      if (!PinTo(0)) pin_failures.fetch_add(1);
      const struct timespec nap = {0, 2000};
      while (!stop.load(std::memory_order_relaxed)) {
        nanosleep(&nap, nullptr);
        for (int i = 0; i < 4; ++i) {
          uint64_t v;
          Draw(&v, sizeof v);
          woken[w].push_back(v);
        }
      }
    });
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      if (t < pinned && !PinTo(0)) pin_failures.fetch_add(1);
      // Pinned drawers also get a signal every 30 us on their own thread
      // (the handler does nothing): each one that lands inside a section
      // cuts it, which the kernel's preemptions alone do a few hundred times.
      timer_t storm;
      const bool storming =
          t < pinned && StartSignalStorm(SIGURG, nullptr, gettid(), 30000, &storm);
      if (t < pinned && !storming) pin_failures.fetch_add(1);
      std::vector<uint64_t> &mine = out[t];
      mine.reserve(words + words / 2);
      for (size_t i = 0; i < words; ++i) {
        uint64_t v[5];
        if (i % 7 == 3) {
          Draw(v, 16);
          mine.insert(mine.end(), v, v + 2);
        } else if (i % 11 == 5) {
          Draw(v, 40);
          mine.insert(mine.end(), v, v + 5);
        } else {
          Draw(v, 8);
          mine.push_back(v[0]);
        }
      }
      if (storming) timer_delete(storm);
    });
  for (auto &th : pool) th.join();
  stop.store(true);
  for (auto &th : wakers) th.join();
  EXPECT_EQ(pin_failures.load(), 0);
  for (auto &v : woken) out.push_back(std::move(v));
  std::vector<uint64_t> all;
  for (auto &v : out) all.insert(all.end(), v.begin(), v.end());
  return all;
}

size_t Zeros(const std::vector<uint64_t> &all) {
  size_t zeros = 0;
  for (uint64_t v : all) zeros += v == 0;
  return zeros;
}

size_t Repeats(std::vector<uint64_t> all) {
  std::sort(all.begin(), all.end());
  size_t repeats = 0;
  for (size_t i = 1; i < all.size(); ++i) repeats += all[i] == all[i - 1];
  return repeats;
}

// The uniqueness check finds bytes served twice (positive control): the same
// buffer of draws counted twice repeats every word.
TEST(PerCpu, RepeatCheckFindsPlantedRepeats) {
  std::vector<uint64_t> all = DrawAll(2, 0, 1000);
  ASSERT_EQ(Repeats(all), 0u);
  all.push_back(all[all.size() / 2]);
  EXPECT_EQ(Repeats(all), 1u);
}

#if defined(__x86_64__)
// Sixteen threads on one CPU, eight more free to move, eight wakers: no u64
// twice, and at least 99 % of the draws served by the per-CPU buffers.
TEST(PerCpu, ThreadsCrowdedOnOneCpuNeverShareBytes) {
  ASSERT_GT(__rseq_size, 0u) << "glibc registered no rseq area (glibc.pthread.rseq=0?)";
  uint64_t warm;
  PerCpu().draw(&warm, sizeof warm);  // start-up
  ASSERT_GT(PerCpuPoolBytes(), 0u);
  const struct grndpool_stats before = Stats();
  uint64_t serve_aborts_before, swap_aborts_before;
  PerCpuAbortsForTesting(&serve_aborts_before, &swap_aborts_before);
  const uint64_t inline_aborts_before = InlineAborts();
  constexpr int kThreads = 24, kPinned = 16, kRounds = 3;
  constexpr size_t kWords = 100000;
  // Three rounds: with the section left unregistered (no rseq_cs store) one
  // round found a repeat 4 times in 6; three, nearly always.
  std::vector<uint64_t> all;
  for (int round = 0; round < kRounds; ++round) {
    const std::vector<uint64_t> got = DrawAll(kThreads, kPinned, kWords);
    all.insert(all.end(), got.begin(), got.end());
  }
  const struct grndpool_stats after = Stats();
  uint64_t serve_aborts, swap_aborts;
  PerCpuAbortsForTesting(&serve_aborts, &swap_aborts);
  serve_aborts -= serve_aborts_before;
  swap_aborts -= swap_aborts_before;
  // The races were run, not only hoped for: sections were cut.
  EXPECT_GT(serve_aborts, 500u) << "too few serving sections were cut to test their restart";
  // The process's strategy: the u64 draws ran the public header's section,
  // inlined into this test, and the kernel cut it there too.
  const uint64_t inline_aborts = InlineAborts() - inline_aborts_before;
  if (CurrentOptions().strategy == Strategy::kPerCpu) {
    EXPECT_NE(grndpool_percpu_v1.grndpool_active, nullptr)
        << "the inline draws were not given the pool";
    EXPECT_GT(inline_aborts, 200u) << "too few inline sections were cut to test their restart";
  }
  EXPECT_EQ(Repeats(all), 0u) << "a u64 was served twice";
  // A lost cursor update serves bytes another draw already zeroed.
  EXPECT_EQ(Zeros(all), 0u) << "a zero u64 was served";
  const uint64_t draws = uint64_t{kRounds} * kThreads * kWords;
  const uint64_t fallbacks = after.percpu_fallbacks - before.percpu_fallbacks;
  EXPECT_LT(fallbacks, draws / 100) << "per-CPU buffers served too few draws to test them";
  // Each refill serves at most one 16 KiB buffer: the bytes drawn needed
  // that many refills at least (here, or of the other strategies'; the test
  // draws through this one only).
  const uint64_t bytes = all.size() * 8;
  EXPECT_GE(after.refills - before.refills, (bytes - fallbacks * 40) / 16384);
  printf(
      "per-cpu: %zu u64 drawn in %d rounds by %d threads (%d on CPU 0, with 8 wakers and "
      "a signal storm), %llu refills, %llu fallbacks, %llu serving (%llu of them inline) and %llu "
      "swapping sections cut\n",
      all.size(), kRounds, kThreads, kPinned, (unsigned long long)(after.refills - before.refills),
      (unsigned long long)fallbacks, (unsigned long long)serve_aborts,
      (unsigned long long)inline_aborts, (unsigned long long)swap_aborts);
}

// A section entered with another CPU's number (a thread that moved between
// reading its CPU and the section) never touches that CPU's buffer: the
// CPU check is its first instruction, and it aborts.
TEST(PerCpu, SectionOnAnotherCpuAborts) {
  const long cpus = sysconf(_SC_NPROCESSORS_CONF);
  ASSERT_GE(cpus, 2) << "needs a second CPU to name";
  cpu_set_t before;
  ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof before, &before), 0);
  ASSERT_TRUE(PinTo(0));
  // The control: on the CPU it runs on, the section serves (a preemption
  // inside it may abort one attempt; a refill may be due).
  int served = 0;
  for (int i = 0; i < 10 && served == 0; ++i) {
    uint64_t v;
    PerCpu().draw(&v, sizeof v);  // start-up; CPU 0 gets a full buffer
    served += PerCpuSectionOnCpuForTesting(0) == 0;
  }
  EXPECT_EQ(served, 1) << "the control: never served on the CPU it runs on";
  int wrong = 0;
  for (int i = 0; i < 100; ++i) wrong += PerCpuSectionOnCpuForTesting(1) != 1;
  EXPECT_EQ(wrong, 0) << "sections entered as CPU 1 on CPU 0 did not abort";
  pthread_setaffinity_np(pthread_self(), sizeof before, &before);
}

// A reseed noticed by one thread makes every CPU's buffer stale at once.
// In the .lean variant the u64 draws are the public header's inline section,
// whose own epoch check is then what is tested.
TEST(PerCpu, NewEpochStalesEveryBuffer) {
  uint64_t v;
  Draw(&v, sizeof v);
  if (CurrentOptions().strategy == Strategy::kPerCpu)
    ASSERT_NE(grndpool_percpu_v1.grndpool_active, nullptr)
        << "the inline draws were not given the pool";
  Draw(&v, sizeof v);  // from a buffer of this epoch, inline in .lean
  const uint64_t refills = Stats().refills;
  NewEpoch();
  Draw(&v, sizeof v);
  EXPECT_GT(Stats().refills, refills) << "a buffer of the old epoch served";
}
#else
// Elsewhere the strategy is the per-thread one, and says so in its counter.
TEST(PerCpu, FallsBackToPerThreadOffX86) {
  const uint64_t before = Stats().percpu_fallbacks;
  uint64_t v;
  for (int i = 0; i < 10; ++i) PerCpu().draw(&v, sizeof v);
  EXPECT_EQ(Stats().percpu_fallbacks - before, 10u);
  EXPECT_EQ(PerCpuPoolBytes(), 0u);
}
#endif

}  // namespace
}  // namespace grndpool::test
