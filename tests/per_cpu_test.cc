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
#include <fcntl.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <sys/rseq.h>

#include <algorithm>
#include <cstring>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "lib/fast_path.h"
#include "lib/fork.h"
#include "lib/freshness.h"
#include "lib/runtime.h"
#include "lib/slice_directory.h"
#include "lib/stats.h"
#include "lib/strategies/registry.h"
#include "lib/thread_slice.h"
#include "tests/sandbox/filter.h"
#include "test_util.h"

namespace grndpool::test {
namespace {

const StrategyOps &PerCpu() {
  return StrategyFor(Strategy::kPerCpu);
}

// The public calls: under per-cpu (the .lean variant) the header's inline
// draw, which misses, then the library's draw and its lean entry; under the
// slab (.reservoir) the thread's small slice, refilled from the reservoir.
void PublicDraw(void *out, size_t n) {
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

// The draw under test: the strategy's table entry, or the public calls when
// per-cpu is the process's strategy.
void Draw(void *out, size_t n) {
  if (CurrentOptions().strategy != Strategy::kPerCpu) return PerCpu().draw(out, n);
  PublicDraw(out, n);
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
// same buffer, and with `big` > 0 a draw of `big` bytes every kBigEvery
// words); pinned ones all run on CPU 0. Returns every u64 drawn.
void NoOp(int) {}

constexpr size_t kBigEvery = 499;

// The u64 the big draws of one DrawAll call return.
size_t BigWords(int threads, size_t words, size_t big) {
  return big == 0 ? 0 : threads * ((words + kBigEvery - 1 - 17) / kBigEvery) * (big / 8);
}

std::vector<uint64_t> DrawAll(int threads, int pinned, size_t words,
                              void (*draw)(void *, size_t) = Draw, size_t big = 0) {
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
          draw(&v, sizeof v);
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
      mine.reserve(words + words / 2 + BigWords(1, words, big));
      std::vector<uint64_t> big_out(big / 8);
      for (size_t i = 0; i < words; ++i) {
        uint64_t v[5];
        if (big > 0 && i % kBigEvery == 17) {
          draw(big_out.data(), big);
          mine.insert(mine.end(), big_out.begin(), big_out.end());
        } else if (i % 7 == 3) {
          draw(v, 16);
          mine.insert(mine.end(), v, v + 2);
        } else if (i % 11 == 5) {
          draw(v, 40);
          mine.insert(mine.end(), v, v + 5);
        } else {
          draw(v, 8);
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
  // Draws of kMaxPiece bytes (lib/strategies/per_cpu.cc): one section each,
  // the longest, so the kernel cuts long string moves too; under per-cpu the
  // lean entry's largest size.
  constexpr size_t kBig = 1024;
  // Three rounds: with the section left unregistered (no rseq_cs store) one
  // round found a repeat 4 times in 6; three, nearly always.
  std::vector<uint64_t> all;
  for (int round = 0; round < kRounds; ++round) {
    const std::vector<uint64_t> got = DrawAll(kThreads, kPinned, kWords, Draw, kBig);
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
  // In a slab process with chacha20 refills the pool is the slices'
  // reservoir, of 2 x CPUs + 2 buffers: 24 threads refilling it find none
  // free more often (3.7 % of the draws seen) than in the strategy's pool of
  // the whole budget.
  const uint64_t most_fallbacks = PerCpuPoolIsReservoir() ? draws / 10 : draws / 100;
  EXPECT_LT(fallbacks, most_fallbacks) << "per-CPU buffers served too few draws to test them";
  // Each refill serves at most one 16 KiB buffer: the bytes drawn needed
  // that many refills at least (here, or of the other strategies'; the test
  // draws through this one only). Counted without the big draws, so that a
  // fallback (at most 40 bytes of the rest) cannot hide one.
  const uint64_t bytes = (all.size() - kRounds * BigWords(kThreads, kWords, kBig)) * 8;
  EXPECT_GE(after.refills - before.refills, (bytes - fallbacks * 40) / 16384);
  printf(
      "per-cpu: %zu u64 drawn in %d rounds by %d threads (%d on CPU 0, with 8 wakers and "
      "a signal storm; a %zu-byte draw every %zu), %llu refills, %llu fallbacks, %llu serving "
      "(%llu of them inline) and %llu "
      "swapping sections cut\n",
      all.size(), kRounds, kThreads, kPinned, kBig, kBigEvery,
      (unsigned long long)(after.refills - before.refills), (unsigned long long)fallbacks,
      (unsigned long long)serve_aborts, (unsigned long long)inline_aborts,
      (unsigned long long)swap_aborts);
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
  if (CurrentOptions().strategy == Strategy::kPerCpu) {
    ASSERT_NE(grndpool_percpu_v1.grndpool_active, nullptr)
        << "the inline draws were not given the pool";
  }
  Draw(&v, sizeof v);  // from a buffer of this epoch, inline in .lean
  const uint64_t refills = Stats().refills;
  NewEpoch();
  Draw(&v, sizeof v);
  EXPECT_GT(Stats().refills, refills) << "a buffer of the old epoch served";
}

// The reservoir (the .reservoir variant: the slab strategy, chacha20 from the
// first refill, no hot slices, 256-byte slices: every thread refills its
// small slice from the per-CPU buffers every 192 bytes).
void ExpectReservoir() {
  uint64_t v;
  PublicDraw(&v, sizeof v);  // start-up
  ASSERT_GT(__rseq_size, 0u) << "glibc registered no rseq area (glibc.pthread.rseq=0?)";
  ASSERT_TRUE(PerCpuPoolIsReservoir())
      << "the per-CPU pool is not the slab's reservoir in this process";
  ASSERT_GT(CurrentProcess().geometry.reservoir_bytes, 0u);
}

// Threads crowded onto one CPU, each refilling its small slice from the
// reservoir every 24 u64 (.reservoir; every 120, one 960-byte section, in
// .reservoir-1k) in a section that preemptions, wakers and a signal storm
// keep cutting: no u64 twice, none zero, and the refills really came
// from the reservoir (a refill keyed by its thread would pass the uniqueness
// check on its own).
TEST(Reservoir, CrowdedSmallSlicesNeverShareBytes) {
  ExpectReservoir();
  const struct grndpool_stats before = Stats();
  uint64_t serve_aborts_before, swap_aborts_before;
  PerCpuAbortsForTesting(&serve_aborts_before, &swap_aborts_before);
  std::vector<uint64_t> all;
  for (int round = 0; round < 3; ++round) {
    const std::vector<uint64_t> got = DrawAll(24, 16, 50000, PublicDraw);
    all.insert(all.end(), got.begin(), got.end());
  }
  const struct grndpool_stats after = Stats();
  uint64_t serve_aborts, swap_aborts;
  PerCpuAbortsForTesting(&serve_aborts, &swap_aborts);
  serve_aborts -= serve_aborts_before;
  EXPECT_EQ(Repeats(all), 0u) << "a u64 was served twice";
  EXPECT_EQ(Zeros(all), 0u) << "a zero u64 was served";
  const uint64_t capacity = CurrentProcess().geometry.capacity;
  const uint64_t small_refills = all.size() * 8 / capacity;
  const uint64_t from_reservoir = after.reservoir_refills - before.reservoir_refills;
  EXPECT_GT(from_reservoir, small_refills / 2) << "most small refills did not use the reservoir";
  // 192-byte slices: 369 cut in one run; 960-byte ones (a quarter of the
  // sections, each longer): 79-197 over ten runs.
  EXPECT_GT(serve_aborts, capacity <= 256 ? 50u : 20u)
      << "too few reservoir sections were cut to test their restart";
  printf(
      "reservoir: %zu u64 drawn by 24 threads (16 on CPU 0, with 8 wakers and a signal storm) "
      "from %llu-byte slices: %llu refills, %llu of them from the reservoir, %llu sections "
      "cut\n",
      all.size(), (unsigned long long)capacity,
      (unsigned long long)(after.refills - before.refills), (unsigned long long)from_reservoir,
      (unsigned long long)serve_aborts);
}

// Draws u32 until a small refill came from the reservoir, then empties the
// slice: the next draw refills it. False if that never happened.
bool EmptyAfterAReservoirRefill(size_t capacity) {
  const uint64_t before = Stats().reservoir_refills;
  for (int i = 0; i < 100000 && Stats().reservoir_refills == before; ++i) (void)grndpool_u32();
  if (Stats().reservoir_refills == before) return false;
  for (size_t i = 4; i < capacity; i += 4) (void)grndpool_u32();
  return true;
}

// Draws one slice's worth of u32 from an empty slice (a refill, two when a
// new epoch stales the first one's slice) and counts how many of them are
// somewhere in the `window` bytes of `seen`.
size_t DrawnFound(const uint8_t *seen, size_t window, size_t capacity) {
  size_t found = 0;
  for (size_t i = 0; i < capacity; i += 4) {
    const uint32_t w = grndpool_u32();
    for (size_t k = 0; k + 4 <= window; ++k) found += memcmp(seen + k, &w, 4) == 0;
  }
  return found;
}

// A reseed makes what the reservoir holds stale: the refills after it do
// not serve any of the next kWindow bytes CPU 0's buffer held before it
// (read there beforehand). The control: without a reseed, the refill serves
// its words from those bytes, so the read looked in the right place.
TEST(Reservoir, ReseedDiscardsTheBytesItHeld) {
  ExpectReservoir();
  if (geteuid() != 0) GTEST_SKIP() << "RNDRESEEDCRNG needs root; not root here";
  const int urandom = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(urandom, 0);
  cpu_set_t affinity;
  ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof affinity, &affinity), 0);
  ASSERT_TRUE(PinTo(0));
  const size_t capacity = CurrentProcess().geometry.capacity;
  ASSERT_LE(capacity, 256u);
  constexpr size_t kWindow = 2048;  // the next refills' bytes, several times over
  uint8_t next[kWindow];
  // The control, then the reseed; each from an empty slice whose CPU's
  // buffer has a refill's worth left (else the refill swaps buffers).
  size_t control_found = 0, reseed_found = 0;
  uint64_t generations = 0, from_reservoir = 0;
  bool control_done = false, reseed_done = false;
  for (int attempt = 0; attempt < 100 && !reseed_done; ++attempt) {
    ASSERT_TRUE(EmptyAfterAReservoirRefill(capacity)) << "no small refill used the reservoir";
    if (!PerCpuPeekForTesting(0, next, kWindow)) continue;
    if (!control_done) {
      control_found = DrawnFound(next, kWindow, capacity);
      control_done = true;
      continue;
    }
    const struct grndpool_stats before = Stats();
    ASSERT_EQ(ioctl(urandom, RNDRESEEDCRNG), 0) << strerror(errno);
    reseed_found = DrawnFound(next, kWindow, capacity);
    generations = Stats().generation_changes - before.generation_changes;
    from_reservoir = Stats().reservoir_refills - before.reservoir_refills;
    reseed_done = true;
  }
  pthread_setaffinity_np(pthread_self(), sizeof affinity, &affinity);
  close(urandom);
  ASSERT_TRUE(reseed_done) << "CPU 0's buffer never had a refill's worth left";
  EXPECT_EQ(control_found, capacity / 4) << "the control: the refill did not serve what was read";
  EXPECT_GE(generations, 1u) << "the refill did not notice the reseed";
  EXPECT_GE(from_reservoir, 1u) << "the refill after the reseed did not use the reservoir";
  EXPECT_EQ(reseed_found, 0u) << "bytes the reservoir held before the reseed were served";
}

// The pool mapped is the share the slab's geometry left to it, and the
// locked total stays within the budget.
TEST(Reservoir, PoolIsTheShareTheSlabLeft) {
  ExpectReservoir();
  for (int i = 0; i < 10000; ++i) (void)grndpool_u64();  // small refills: the pool is mapped
  ASSERT_GT(Stats().reservoir_refills, 0u);
  EXPECT_EQ(PerCpuPoolBytes(), CurrentProcess().geometry.reservoir_bytes);
  EXPECT_NE(strstr(grndpool_describe(), " reservoir="), nullptr);
  EXPECT_EQ(strstr(grndpool_describe(), "(not-yet)"), nullptr) << grndpool_describe();
  EXPECT_LE(Stats().locked_bytes, CurrentOptions().slab_bytes);
}

// Each byte a small slice serves is counted served once: when its slice is
// refilled, not also when the reservoir's buffer it came from is retired.
TEST(Reservoir, ServedBytesCountedOnce) {
  ExpectReservoir();
  const uint64_t capacity = CurrentProcess().geometry.capacity;
  const uint64_t before = Stats().bytes_served;
  constexpr uint64_t kBytes = 400000;  // buffers' worth: several retired
  for (uint64_t i = 0; i < kBytes; i += 8) (void)grndpool_u64();
  const uint64_t served = Stats().bytes_served - before;
  EXPECT_LE(served, kBytes + capacity);
  EXPECT_GE(served, kBytes - 2 * capacity);
}

// The public calls on a thread past the slab budget: its first draw gives its
// slice back for good (a test hook), so every draw takes the overflow path.
void GoPastTheBudget() {
  thread_local bool overflow = false;
  if (!overflow) {
    (void)grndpool_u32();  // the thread is set up, with a slice
    StayInOverflowForTesting();
    overflow = true;
  }
}
void OverflowDraw(void *out, size_t n) {
  GoPastTheBudget();
  PublicDraw(out, n);
}
// The same, with 4 bytes drawn as a u32: word draws past the budget spend
// their lean grant on the miss path (ThreadState::lean), byte draws do not.
void OverflowWordDraw(void *out, size_t n) {
  if (n != 4) return OverflowDraw(out, n);
  GoPastTheBudget();
  const uint32_t w = grndpool_u32();
  memcpy(out, &w, sizeof w);
}
// What a thread past the budget may still serve from reservoir bytes before
// it reads the generation again: its window and its lean grant.
uint32_t OverflowAllowance() {
  const ThreadState &t = ThisThread();
  return t.reservoir.unread + LeanBytes(LoadLean(t));
}

// Threads past the budget crowded onto one CPU: their draws (u64, 16 and 40
// bytes) come from the reservoir's sections, which preemptions, wakers and a
// signal storm keep cutting: no u64 twice, none zero, and most draws really
// came from the reservoir (the shared overflow slices would pass the
// uniqueness check on their own).
TEST(Reservoir, CrowdedOverflowDrawsNeverShareBytes) {
  ExpectReservoir();
  const struct grndpool_stats before = Stats();
  uint64_t serve_aborts_before, swap_aborts_before;
  PerCpuAbortsForTesting(&serve_aborts_before, &swap_aborts_before);
  const std::vector<uint64_t> all = DrawAll(24, 16, 30000, OverflowDraw);
  const struct grndpool_stats after = Stats();  // the drawers exited: their counts flushed
  uint64_t serve_aborts, swap_aborts;
  PerCpuAbortsForTesting(&serve_aborts, &swap_aborts);
  serve_aborts -= serve_aborts_before;
  EXPECT_EQ(Repeats(all), 0u) << "a u64 was served twice";
  EXPECT_EQ(Zeros(all), 0u) << "a zero u64 was served";
  const uint64_t draws = after.reservoir_draws - before.reservoir_draws;
  const uint64_t shared = after.shared_draws - before.shared_draws;
  const uint64_t kernel = after.kernel_draws - before.kernel_draws;
  // Each drawer makes 30000 draws (u64, 16 or 40 bytes), each waker 4 a
  // nap: at least 24 x 30000 in all.
  EXPECT_GT(draws, 24u * 30000 / 2) << "most overflow draws did not use the reservoir";
  EXPECT_GT(serve_aborts, 50u) << "too few reservoir sections were cut to test their restart";
  printf(
      "overflow: %zu u64 in %llu draws from the reservoir (%llu from shared slices, %llu from "
      "the kernel) by 24 threads past the budget (16 on CPU 0, with 8 wakers and a signal "
      "storm), %llu sections cut\n",
      all.size(), (unsigned long long)draws, (unsigned long long)shared, (unsigned long long)kernel,
      (unsigned long long)serve_aborts);
}

// A thread past the budget reads the kernel's generation once per smallest
// slice's capacity of reservoir bytes (192 here): after a reseed it serves at
// most that many bytes the reservoir held before it, as a small slice does,
// and none after. Read first: the next kWindow bytes of CPU 0's buffer. The
// control: without a reseed the same draws come from those bytes, so the
// read looked in the right place. Three reseeds: with the thread's allowance
// part spent, spent, and just renewed (the most it can serve from before).
void ServesOneSmallSliceAfterAReseed(void (*overflow_draw)(void *, size_t)) {
  ExpectReservoir();
  if (geteuid() != 0) GTEST_SKIP() << "RNDRESEEDCRNG needs root; not root here";
  const size_t window_bytes = CurrentProcess().geometry.min_slice_bytes - kSliceHeaderBytes;
  ASSERT_LE(window_bytes, 256u);
  constexpr size_t kWindow = 2048, kWords = 128;  // 512 bytes drawn, from a 2 KiB read
  const struct grndpool_stats before = Stats();
  enum Case { kPartSpent, kSpent, kRenewed, kCases };
  const char *const names[kCases] = {"part spent", "spent", "just renewed"};
  size_t control_found = 0, allowance[kCases] = {}, found[kCases] = {}, late[kCases] = {};
  uint64_t generations[kCases] = {};
  int done = 0;
  std::thread([&] {
    const int urandom = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (urandom < 0 || !PinTo(0)) return;
    uint32_t w;
    overflow_draw(&w, sizeof w);
    uint8_t next[kWindow];
    // Draws kWords u32 and counts those that are `next`'s words in the order
    // the buffer serves them (from its top down): draw i at the i-th word
    // from the top, or lower by one word per section cut since (a cut
    // section's bytes are served to nobody). Within the first `allowance`
    // bytes in *early, after them in *after. (Any offset of the 2 KiB would
    // match a random word by chance in about one run in ten thousand.)
    const auto draw_found = [&](size_t allowance_bytes, size_t *early, size_t *after) {
      uint64_t cut_before = 0, swaps = 0;
      PerCpuAbortsForTesting(&cut_before, &swaps);
      for (size_t i = 0; i < kWords; ++i) {
        overflow_draw(&w, sizeof w);
        uint64_t cut = 0;
        PerCpuAbortsForTesting(&cut, &swaps);
        cut -= cut_before;
        size_t hits = 0;
        for (size_t back = 0; back <= cut && 4 * (i + 1 + back) <= kWindow; ++back)
          hits += memcmp(next + kWindow - 4 * (i + 1 + back), &w, 4) == 0;
        (i * 4 < allowance_bytes ? *early : *after) += hits;
      }
    };
    for (int attempt = 0; attempt < 300 && done < kCases; ++attempt) {
      const Case c = static_cast<Case>(done);
      if (c == kSpent || c == kRenewed)
        while (OverflowAllowance() >= 4) overflow_draw(&w, sizeof w);
      if (c == kRenewed) overflow_draw(&w, sizeof w);  // reads the generation
      if (!PerCpuPeekForTesting(0, next, kWindow)) {
        overflow_draw(&w, sizeof w);  // nothing active, or too little left: move on
        continue;
      }
      if (control_found == 0) {
        // Again if another process reseeded meanwhile (the buffer then went).
        const uint64_t changes = Stats().generation_changes;
        size_t early = 0;
        draw_found(0, &early, &control_found);
        if (Stats().generation_changes != changes) control_found = 0;
        continue;
      }
      allowance[c] = OverflowAllowance();
      const uint64_t changes = Stats().generation_changes;
      if (ioctl(urandom, RNDRESEEDCRNG) != 0) break;
      draw_found(allowance[c], &found[c], &late[c]);
      generations[c] = Stats().generation_changes - changes;
      ++done;
    }
    close(urandom);
  }).join();
  ASSERT_EQ(done, kCases) << "CPU 0's buffer never had 2 KiB left, or the reseed failed";
  EXPECT_EQ(control_found, kWords) << "the control: the draws did not serve what was read";
  EXPECT_GT(Stats().reservoir_draws - before.reservoir_draws, 4 * kWords)
      << "the draws did not come from the reservoir";
  EXPECT_GT(allowance[kPartSpent], 0u);
  EXPECT_LT(allowance[kPartSpent], window_bytes);
  EXPECT_EQ(allowance[kSpent], 0u);
  for (int c = 0; c < kCases; ++c) {
    EXPECT_GE(generations[c], 1u) << names[c] << ": no draw noticed the reseed";
    // The allowance is all it serves from before (its bytes are the next
    // ones of the buffer: found, each), and never more than a smallest
    // slice's capacity; nothing after it.
    EXPECT_EQ(found[c], allowance[c] / 4) << names[c];
    EXPECT_LE(found[c] * 4, window_bytes) << names[c];
    EXPECT_EQ(late[c], 0u) << names[c] << ": bytes the reservoir held before the reseed "
                           << "were served past the thread's allowance";
    printf(
        "after the reseed (allowance %s): %zu u32 from before it (allowance %zu bytes), %zu "
        "after\n",
        names[c], found[c], allowance[c], late[c]);
  }
  // Just renewed: a smallest slice's capacity less the word that renewed it.
  EXPECT_EQ(found[kRenewed] * 4, window_bytes - 4);
}

TEST(Reservoir, OverflowDrawsServeOneSmallSliceAfterAReseed) {
  ServesOneSmallSliceAfterAReseed(OverflowDraw);
}

// The same through grndpool_u32(), whose draws past the budget take the
// reservoir on the miss path out of a lean grant: the grant is part of the
// allowance, never more.
TEST(Reservoir, OverflowWordDrawsServeOneSmallSliceAfterAReseed) {
  ServesOneSmallSliceAfterAReseed(OverflowWordDraw);
}

// What a signal handler that forks in the middle of a lean draw's update
// leaves the child: its reset window and back-off, and the grant the parent
// was writing (a wrapped byte count, the parent's fork count). The child's
// next slow draw drops that grant instead of giving it back, and a window
// count above the span is taken as spent: the child still reads the
// generation once per smallest slice, and still retries claims. The
// interleaving is a few instructions wide, so the state is set up directly.
TEST(Reservoir, AGrantOrWindowLeftTornByAForkStaysWithinTheWindow) {
  ExpectReservoir();
  const uint32_t span =
      static_cast<uint32_t>(CurrentProcess().geometry.min_slice_bytes - kSliceHeaderBytes);
  uint32_t after_grant = 0, after_window = 0, backoff = 0;
  std::thread([&] {
    uint32_t w = 0;
    OverflowWordDraw(&w, sizeof w);
    ThreadState &t = ThisThread();
    // A torn grant of another fork count, then a byte draw (the slow path).
    // (A back-off left at 100, not a child's 0: the thread stays past the
    // budget for these draws instead of claiming a slice.)
    t.reservoir.unread = 0;
    t.claim_backoff = 100;
    StoreLean(t, MakeLean(0xFFFFFFFCu, fork::ForkCount() + 2));
    OverflowDraw(&w, sizeof w);
    after_grant = OverflowAllowance();
    backoff = t.claim_backoff;
    // A wrapped window count: the next reservoir draw reads the generation.
    StoreLean(t, 0);
    t.claim_backoff = 100;
    t.reservoir.unread = 0xFFFFFFF0u;
    OverflowDraw(&w, sizeof w);
    after_window = OverflowAllowance();
    explicit_bzero(&w, sizeof w);
  }).join();
  EXPECT_LE(after_grant, span) << "a torn grant was given back to the window";
  EXPECT_LE(backoff, 256u) << "a torn grant was given back to the claim back-off";
  EXPECT_LE(after_window, span) << "a wrapped window was kept (no generation read renewed it)";
}

// A thread past the budget takes the slow path once per window for its u32
// draws (the lean grant serves the rest on the miss path), and for every one
// of its byte draws, which the grant does not serve: the control that the
// count sees the slow path.
TEST(Reservoir, OverflowWordDrawsTakeTheSlowPathOncePerWindow) {
  ExpectReservoir();
  const size_t window_bytes = CurrentProcess().geometry.min_slice_bytes - kSliceHeaderBytes;
  constexpr uint64_t kDraws = 20000;
  uint64_t word_slow = 0, byte_slow = 0, reservoir = 0;
  std::thread([&] {
    uint32_t w = 0;
    OverflowWordDraw(&w, sizeof w);
    const uint64_t before = Stats().reservoir_draws;
    uint64_t slow = SlowDrawsForTesting();
    for (uint64_t i = 0; i < kDraws; ++i) OverflowWordDraw(&w, sizeof w);
    word_slow = SlowDrawsForTesting() - slow;
    slow = SlowDrawsForTesting();
    for (uint64_t i = 0; i < kDraws; ++i) OverflowDraw(&w, sizeof w);
    byte_slow = SlowDrawsForTesting() - slow;
    FlushTally();
    reservoir = Stats().reservoir_draws - before;
    explicit_bzero(&w, sizeof w);
  }).join();
  // One slow draw per window's worth of u32, give or take the claim back-off
  // (256 draws) and a renewed read that failed.
  EXPECT_LE(word_slow, 2 * kDraws * 4 / window_bytes + 2 * kDraws / 256 + 10)
      << "u32 draws past the budget took the slow path " << word_slow << " times";
  EXPECT_EQ(byte_slow, kDraws) << "the control: byte draws take the slow path every time";
  EXPECT_GT(reservoir, kDraws) << "the draws did not come from the reservoir";
  printf("past the budget, %llu u32 draws: %llu slow; %llu 4-byte draws: %llu slow\n",
         (unsigned long long)kDraws, (unsigned long long)word_slow, (unsigned long long)kDraws,
         (unsigned long long)byte_slow);
}

// A thread past the budget that can no longer read the kernel's generation
// (getrandom denied to it by seccomp after start-up, then a reseed: the
// vDSO needs the syscall to rekey) tries again once per smallest slice's
// capacity of bytes, not at every draw: each try is a failed vDSO call and
// a shared counter. Its draws still work (the shared overflow slices).
TEST(Reservoir, OverflowDrawsRetryAnUnreadableGenerationOncePerWindow) {
  ExpectReservoir();
  if (geteuid() != 0) GTEST_SKIP() << "RNDRESEEDCRNG needs root; not root here";
  const size_t window_bytes = CurrentProcess().geometry.min_slice_bytes - kSliceHeaderBytes;
  constexpr size_t kWords = 20000;
  std::string error;
  uint64_t unknown = 0, reservoir = 0, shared_draws = 0;
  std::vector<uint64_t> drawn;
  std::thread([&] {
    uint64_t v;
    OverflowDraw(&v, sizeof v);
    for (int i = 0; i < 1000; ++i) OverflowDraw(&v, sizeof v);
    // This thread only (no TSYNC): the test process's other threads keep getrandom.
    char a0[] = "per_cpu_test", a1[] = "--deny", a2[] = "getrandom:EPERM";
    char *argv[] = {a0, a1, a2, nullptr};
    if (SandboxApply(3, argv) < 0) {
      error = "the seccomp filter could not be installed";
      return;
    }
    const int urandom = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (urandom < 0 || ioctl(urandom, RNDRESEEDCRNG) != 0) {
      error = std::string("RNDRESEEDCRNG: ") + strerror(errno);
      return;
    }
    close(urandom);
    // This thread's reads add its tally first: its own overflow draws are in them.
    const struct grndpool_stats before = Stats();
    for (size_t i = 0; i < kWords; ++i) {
      OverflowDraw(&v, sizeof v);
      drawn.push_back(v);
    }
    const struct grndpool_stats after = Stats();
    unknown = after.generation_unknown - before.generation_unknown;
    reservoir = after.reservoir_draws - before.reservoir_draws;
    shared_draws = after.shared_draws - before.shared_draws;
  }).join();
  ASSERT_TRUE(error.empty()) << error;
  EXPECT_EQ(Repeats(drawn), 0u);
  EXPECT_EQ(Zeros(drawn), 0u);
  // The allowance left from before the reseed, then shared slices.
  EXPECT_LE(reservoir * 8, window_bytes) << "reservoir bytes served with the generation unknown";
  EXPECT_GT(shared_draws, kWords / 2) << "the draws did not fall back to the shared slices";
  // One failed read per window, and one per refill of the shared slice the
  // draws then take (which serves as much as a small slice): per draw, 20000
  // and more.
  const uint64_t most = 2 * (kWords * 8 / window_bytes) + kWords / 64;
  EXPECT_LE(unknown, most) << "the generation was read at more than one draw per window";
  EXPECT_GT(unknown, 0u) << "the generation never failed to read: the test did not test";
  printf(
      "generation unreadable: %llu failed reads over %zu overflow draws (at most %llu), %llu "
      "from the reservoir, %llu from shared slices\n",
      (unsigned long long)unknown, kWords, (unsigned long long)most, (unsigned long long)reservoir,
      (unsigned long long)shared_draws);
}

// A pool with no spare buffer (the .reservoir-small variant: a budget whose
// eighth holds two buffers, no more than the CPUs that draw): a thread on
// each CPU draws many buffers' worth, and the reservoir keeps serving (each
// CPU's empty buffer is retired and refilled: nothing else would free it).
TEST(ReservoirSmallPool, KeepsServingWithoutASpareBuffer) {
  ExpectReservoir();
  cpu_set_t allowed;
  ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  const size_t buffers = CurrentProcess().geometry.reservoir_bytes / 16384;
  ASSERT_GE(CPU_COUNT(&allowed), 2);
  ASSERT_LE(buffers, static_cast<size_t>(CPU_COUNT(&allowed)))
      << "the pool has a spare buffer: its absence is not tested";
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE && cpus.size() < buffers; ++c)
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  const struct grndpool_stats before = Stats();
  constexpr size_t kWords = 20 * 16384 / 8;  // 20 buffers' worth on each CPU
  std::atomic<int> pin_failures{0};
  std::vector<std::thread> threads;
  for (int c : cpus)
    threads.emplace_back([&, c] {
      if (!PinTo(c)) pin_failures.fetch_add(1);
      for (size_t i = 0; i < kWords; ++i) (void)grndpool_u64();
    });
  for (auto &t : threads) t.join();
  ASSERT_EQ(pin_failures.load(), 0);
  const struct grndpool_stats after = Stats();
  const uint64_t small_refills = cpus.size() * kWords * 8 / CurrentProcess().geometry.capacity;
  const uint64_t from_reservoir = after.reservoir_refills - before.reservoir_refills;
  printf("reservoir of %zu buffers, %zu CPUs drawing: %llu small refills, %llu from it\n", buffers,
         cpus.size(), (unsigned long long)small_refills, (unsigned long long)from_reservoir);
  EXPECT_GT(from_reservoir, small_refills * 3 / 4) << "the reservoir stopped serving";
}
// A thread whose hot slice is parked (claims failed) and that then draws
// past the budget takes its first reservoir byte under a generation read made
// after it left the slice, never under what is left of a window from an
// earlier time past the budget: a slice may be owned for hours, across any
// number of reseeds, while such a window waits (.reservoir-hot: the reservoir
// and hot slices both on). The states take long to reach, so they are set:
// every small slice taken under tags no thread has (the claim that then fails
// makes a park wanted), a window of kOld bytes left as an earlier overflow
// leaves it, and a claim back-off as a lost claim race leaves it (the parker
// then draws past the budget at once). A window kept shows as kOld less the
// draw; one renewed by a read, as the span less the draw; a slice claimed
// after the park, as nothing left.
TEST(ReservoirHot, AParkedHotSliceLeavesNoWindowFromBeforeIt) {
  ExpectReservoir();
  const SlabGeometry &g = CurrentProcess().geometry;
  ASSERT_GT(g.hot_capacity, 0u) << "hot slices are off in this variant";
  const uint32_t span = static_cast<uint32_t>(g.min_slice_bytes - kSliceHeaderBytes);
  constexpr uint32_t kOld = 100;
  ASSERT_LT(kOld, span - 4) << "a kept window must read apart from a renewed one";
  bool went_hot = false, parked = false;
  uint32_t allowance = 0;
  std::vector<std::pair<Claim, uint32_t>> taken;
  std::thread([&] {
    ThreadState &t = ThisThread();
    alignas(64) uint8_t chunk[1024];
    for (int n = 0; n < 4096 && !t.hot; ++n) grndpool_buf(chunk, sizeof chunk);
    explicit_bzero(chunk, sizeof chunk);
    went_hot = t.hot;
    if (!went_hot) return;
    for (uint32_t tag = 0x7d000000; taken.size() < 100000; ++tag) {
      const Claim claim = ClaimSlice(tag);
      if (!claim) break;
      taken.emplace_back(claim, tag);
    }
    t.reservoir = ReservoirWindow{kOld, 0};
    t.claim_backoff = 1;
    // Until the hot slice runs empty: that refill parks it.
    for (size_t i = 0; i <= g.hot_capacity / 4 && t.hot; ++i) (void)grndpool_u32();
    parked = !t.hot;
    allowance = OverflowAllowance();
  }).join();
  for (const auto &[claim, tag] : taken) ReleaseSlice(claim, tag);
  ASSERT_TRUE(went_hot) << "the thread never moved to a hot slice";
  ASSERT_FALSE(taken.empty());
  ASSERT_TRUE(parked) << "the hot slice was not parked (no failed claim?)";
  printf("after the park: %u bytes of window (kept: %u, renewed: %u, a slice: 0)\n", allowance,
         kOld - 4, span - 4);
  EXPECT_NE(allowance, kOld - 4) << "reservoir bytes served under a window older than the slice";
  EXPECT_TRUE(allowance == 0 || allowance == span - 4) << allowance;
}

// The same window, left by a time past the budget that ended in a claim: the
// claimed slice starts with no window (one kept would wait under the slice
// for as long as it is owned). The thread is put past the budget by the test
// hook, then its back-off is cleared, so its next draw claims.
TEST(ReservoirHot, AClaimedSliceKeepsNoWindowFromBeforeIt) {
  ExpectReservoir();
  constexpr uint32_t kOld = 100;
  bool claimed = false;
  uint32_t allowance = 0;
  std::thread([&] {
    StayInOverflowForTesting();
    ThreadState &t = ThisThread();
    t.reservoir = ReservoirWindow{kOld, 0};
    t.claim_backoff = 0;
    t.claim_frees = 0;
    (void)grndpool_u32();
    claimed = static_cast<bool>(t.owned);
    allowance = OverflowAllowance();
  }).join();
  ASSERT_TRUE(claimed) << "the draw did not claim a slice";
  EXPECT_EQ(allowance, 0u) << "a window from before the claim was kept";
}

#else
// Elsewhere the slab keeps its whole budget: there is no reservoir.
TEST(Reservoir, NoneOffX86) {
  uint64_t v;
  PublicDraw(&v, sizeof v);
  EXPECT_FALSE(PerCpuPoolIsReservoir());
  EXPECT_EQ(CurrentProcess().geometry.reservoir_bytes, 0u);
  EXPECT_EQ(Stats().reservoir_refills, 0u);
}

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
