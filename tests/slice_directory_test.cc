// SPDX-License-Identifier: Apache-2.0
// lib/slice_directory: claim, release, growth, exhaustion and concurrent
// claims, on a small budget, driven directly (no draw runs in this process).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "lib/fork.h"
#include "lib/segment_directory.h"
#include "lib/slab_segment.h"
#include "lib/slice_directory.h"
#include "lib/stats.h"
#include "lib/thread_count.h"

namespace grndpool::test {
namespace {

class SliceDirectory : public ::testing::Test {
 protected:
  // 32 KiB of 1 KiB slices: 8 page segments, one kept for the overflow, 7
  // for owned slices, which shrink as threads multiply. Claimed here one at
  // a time (by one thread, under many tags), so each grow finds no other
  // thread waiting and keeps the promise of sizing by index: the first two
  // thirds of the 7 (segments 0-4) hold 1 KiB slices, the rest (5, 6) 256 B:
  // 20 + 32 = 52 slices.
  static void SetUpTestSuite() {
    process_.options = DefaultOptions();
    process_.options.slab_bytes = 32 * 1024;
    process_.options.slice_bytes = 1024;
    process_.geometry = ComputeGeometry(process_.options);
    InitSliceDirectory(process_);
  }
  static const SlabGeometry &Geometry() { return process_.geometry; }
  static constexpr size_t kOwnable = 52;
  static inline Process process_;
};

TEST_F(SliceDirectory, GeometryIsComputedOnce) {
  const SlabGeometry &g = Geometry();
  EXPECT_EQ(g.capacity, 1024u - kSliceHeaderBytes);
  EXPECT_EQ(g.slices_per_segment * g.slice_bytes, g.segment_bytes);
  EXPECT_EQ(g.max_segments, 32 * 1024 / g.segment_bytes);
  EXPECT_EQ(g.min_slice_bytes, 256u);
  EXPECT_EQ(g.max_slices_per_segment, g.segment_bytes / 256);
  EXPECT_EQ(g.max_owned_slices, 7u * 16) << "all at 256 B";
  EXPECT_EQ(g.promised_slices, kOwnable);
}

// Hot slices: at most half the budget, each charged whole pages, and only on
// a slab that holds four (so one can be mapped while a quarter is left).
TEST(SliceGeometry, HotSlicesTakeAtMostHalfAndNeedFourInTheSlab) {
  Options o = DefaultOptions();
  o.slice_bytes = 256;
  o.hot_slice_bytes = 4096;
  o.slab_bytes = 2 * 1024 * 1024;
  SlabGeometry g = ComputeGeometry(o);
  const size_t span = std::max<size_t>(4096, PageBytes());
  EXPECT_EQ(g.hot_slice_bytes, span);
  EXPECT_EQ(g.hot_capacity, 4096u - kSliceHeaderBytes) << "capacity is the option, not the span";
  EXPECT_EQ(g.max_hot_slices, o.slab_bytes / 2 / span);
  o.slab_bytes = 4 * span;
  EXPECT_EQ(ComputeGeometry(o).max_hot_slices, 2u);
  o.slab_bytes = 4 * span - 1024;  // three and a bit: off, as describe() says
  g = ComputeGeometry(o);
  EXPECT_EQ(g.max_hot_slices, 0u);
  EXPECT_EQ(g.hot_slice_bytes, 0u);
  EXPECT_EQ(g.hot_capacity, 0u);
}

// Grows at the default 2 MiB beside a 100 KiB reservoir, as the directory
// makes them: each sized by SliceBytesFor from the threads still waiting
// (`burst`: all `threads` wait from the start; otherwise one arrives at a
// time, finding every other served). The sizes of the first `threads`
// slices, and the refills per 1000 u32 they make on average.
struct Grown {
  std::map<size_t, size_t> by_size;
  size_t slices = 0;
  double refills = 0;
};
Grown GrowFor(const SlabGeometry &g, size_t threads, bool burst) {
  Grown out;
  const size_t owned_segments = g.max_segments - 1;
  size_t left = owned_segments * g.segment_bytes, mapped = 0;
  while (out.slices < threads && left >= g.segment_bytes) {
    left -= g.segment_bytes;
    const size_t bytes = SliceBytesFor(g, left, burst ? threads - out.slices : 1, mapped);
    EXPECT_GE(bytes, g.min_slice_bytes);
    EXPECT_LE(bytes, g.slice_bytes);
    const size_t n = g.segment_bytes / bytes;
    mapped += n;
    for (size_t i = 0; i < n && out.slices < threads; ++i, ++out.slices) {
      ++out.by_size[bytes];
      out.refills += 4000.0 / static_cast<double>(bytes - kSliceHeaderBytes);
    }
  }
  if (out.slices != 0) out.refills /= static_cast<double>(out.slices);
  return out;
}

// Slices follow the threads: a pool started at once gets the two sizes
// around its fair share of the budget; never fewer slices than sizing by
// index made (threads arriving one at a time lose nothing), never more
// refills, never past the budget (GrowFor stops there).
TEST(SliceGeometry, SlicesFollowTheThreadsWithinTheBudget) {
  Options o = DefaultOptions();
  o.slab_bytes = 2 * 1024 * 1024;
  o.slice_bytes = 1024;
  const SlabGeometry g = ComputeGeometry(o, 100 * 1024);
  ASSERT_EQ(g.segment_bytes, 4096u) << "the figures below are for 4 KiB pages";
  EXPECT_EQ(g.promised_slices, 4272u);
  EXPECT_EQ(g.max_owned_slices, 486u * 16);
  const Grown pool = GrowFor(g, 4096, true);
  EXPECT_EQ(pool.slices, 4096u);
  EXPECT_EQ(pool.by_size, (std::map<size_t, size_t>{{256, 592}, {512, 3504}}));
  EXPECT_LT(pool.refills, 10.7);
  for (size_t threads = 1; threads <= 9000; threads += threads < 2000 ? 97 : 331) {
    const Grown burst = GrowFor(g, threads, true);
    const Grown one_by_one = GrowFor(g, threads, false);
    const size_t promised = std::min<size_t>(threads, g.promised_slices);
    EXPECT_GE(burst.slices, promised) << threads << " threads";
    EXPECT_EQ(one_by_one.slices, promised) << threads << " threads";
    // Sizing by index, for comparison: the first three fifths of the
    // segments at 1 KiB, the rest at 256 B.
    double by_index = 0;
    for (size_t i = 0; i < promised; ++i)
      by_index += 4000.0 / (i < 1168 ? 1024 - kSliceHeaderBytes : 256 - kSliceHeaderBytes);
    by_index /= static_cast<double>(promised);
    // (Past the promise a burst gives slices to more threads, smaller.)
    if (threads <= g.promised_slices) {
      EXPECT_LE(burst.refills, by_index + 1e-9) << threads << " threads";
    }
    EXPECT_NEAR(one_by_one.refills, by_index, 1e-9) << threads << " threads";
  }
  // More threads than the promise: every slice at 256 B, all the budget holds.
  EXPECT_EQ(GrowFor(g, 9000, true).slices, g.max_owned_slices);
}

TEST_F(SliceDirectory, ClaimGrowExhaustReleaseReuse) {
  std::vector<Claim> owned;
  for (uint32_t tag = 1; tag <= 100; ++tag) {
    const Claim c = ClaimSlice(tag);
    if (!c) break;
    EXPECT_TRUE(c.HeldBy(tag));
    EXPECT_EQ(c.slice->owner.load(), tag) << "a claimed slice is stamped";
    EXPECT_EQ(c.slice->avail, 0) << "a claimed slice starts empty";
    owned.push_back(c);
  }
  EXPECT_EQ(owned.size(), kOwnable) << "the budget, less the overflow segment";
  EXPECT_LE(g_counters.slab_bytes.load(), 32u * 1024);
  // Slices shrink as threads multiply, never below 256 bytes.
  ASSERT_EQ(owned.size(), kOwnable);
  EXPECT_EQ(owned.front().capacity, 1024u - kSliceHeaderBytes);
  EXPECT_EQ(owned[19].capacity, 1024u - kSliceHeaderBytes);
  EXPECT_EQ(owned[20].capacity, 256u - kSliceHeaderBytes);
  EXPECT_EQ(owned.back().capacity, 256u - kSliceHeaderBytes);
  for (size_t i = 1; i < owned.size(); ++i)
    EXPECT_LE(owned[i].capacity, owned[i - 1].capacity) << "slice " << i;
  for (const Claim &c : owned)
    EXPECT_EQ(reinterpret_cast<uintptr_t>(c.slice) / 4096,
              (reinterpret_cast<uintptr_t>(c.slice) + kSliceHeaderBytes + c.capacity - 1) / 4096)
        << "a slice spans two pages";
  std::set<SliceHeader *> slices;
  for (const Claim &c : owned) slices.insert(c.slice);
  EXPECT_EQ(slices.size(), owned.size());
  // A released slice is wiped and is the next one handed out.
  const Claim victim = owned[5];
  victim.slice->avail = 100;
  memset(victim.slice->data(), 0xee, victim.capacity);
  // Only its owner's tag frees it: a thread whose slice a fork took away (and
  // another thread may own now) leaves it alone.
  const uint32_t victim_tag = victim.word->load();
  EXPECT_FALSE(RetireSlice(victim, victim_tag + 1));
  EXPECT_TRUE(victim.HeldBy(victim_tag));
  EXPECT_EQ(victim.slice->data()[0], 0xee);
  ReleaseSlice(victim, victim_tag);
  EXPECT_EQ(victim.word->load(), 0u);
  EXPECT_EQ(victim.slice->owner.load(), 0u);
  EXPECT_TRUE(std::all_of(victim.slice->data(), victim.slice->data() + victim.capacity,
                          [](uint8_t b) { return b == 0; }));
  const Claim again = ClaimSlice(777);
  EXPECT_EQ(again.slice, victim.slice);
  EXPECT_EQ(again.word, victim.word);
  EXPECT_EQ(victim.slice->avail, 0);
  EXPECT_FALSE(ClaimSlice(778)) << "still exhausted";
  for (const Claim &c : owned) ReleaseSlice(c, c.word->load());
}

// A page the kernel drops (MAP_DROPPABLE) reads as zeros: the slice's stamp
// goes, its claim must not, or another thread could claim the slice while its
// owner still writes to it. So no claim word lies inside a slice.
TEST_F(SliceDirectory, ClaimWordsLiveOutsideTheSlab) {
  std::vector<Claim> owned, others;
  for (uint32_t tag = 1; tag <= 8; ++tag) owned.push_back(ClaimSlice(tag));
  for (const Claim &c : owned) {
    ASSERT_TRUE(c);
    for (const Claim &other : owned) {
      const auto *word = reinterpret_cast<const uint8_t *>(c.word);
      const auto *start = reinterpret_cast<const uint8_t *>(other.slice);
      EXPECT_FALSE(word >= start && word < start + kSliceHeaderBytes + other.capacity)
          << "a claim word lies inside a slice";
    }
    // What a dropped page leaves: stamp and data zero; the claim holds.
    const uint32_t tag = c.word->load();
    memset(static_cast<void *>(c.slice), 0, kSliceHeaderBytes + c.capacity);
    EXPECT_TRUE(c.HeldBy(tag));
    others.push_back(ClaimSlice(900 + tag));
    EXPECT_NE(others.back().slice, c.slice) << "a dropped slice was claimed again";
    RestampSlice(c.slice, tag);
    EXPECT_EQ(c.slice->owner.load(), tag);
  }
  for (const Claim &c : owned) ReleaseSlice(c, c.word->load());
  for (const Claim &c : others)
    if (c) ReleaseSlice(c, c.word->load());
}

TEST_F(SliceDirectory, ConcurrentClaimsNeverShareASlice) {
  std::atomic<int> shared{0};
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 2000; ++round) {
        const uint32_t tag = 1000 + t;
        const Claim c = ClaimSlice(tag);
        if (!c) continue;
        if (!c.HeldBy(tag) || c.slice->owner.load() != tag) shared.fetch_add(1);
        ReleaseSlice(c, tag);
      }
    });
  for (auto &th : threads) th.join();
  EXPECT_EQ(shared.load(), 0);
}

// A grow held up for `held` (this thread holds the writers' lock) while
// `claimers` claims wait for it, each sleep bounded by `bound_ns`; then the
// lock is released and every claim returns. What it cost while held, and
// after.
struct HeldGrow {
  long wakes = 0;           // voluntary context switches while held
  uint64_t scans = 0;       // looks for a free slice while held
  int done_while_held = 0;  // claims that returned while held
  uint32_t most_at_lock = 0, most_stragglers = 0;
  std::chrono::steady_clock::duration took{};  // from the release to the last return
  std::vector<Claim> got;
};
HeldGrow HoldAGrow(int claimers, std::chrono::milliseconds held, long bound_ns) {
  HeldGrow out;
  out.got.resize(static_cast<size_t>(claimers));
  SetGrowWaitBoundForTesting(bound_ns);
  std::atomic<int> done{0};
  SegmentWriters().lock();
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  const uint64_t scans_before = ClaimScansForTesting();
  std::vector<std::thread> threads;
  for (int i = 0; i < claimers; ++i)
    threads.emplace_back([&, i] {
      out.got[static_cast<size_t>(i)] = ClaimSlice(2000 + static_cast<uint32_t>(i));
      done.fetch_add(1);
    });
  for (auto until = std::chrono::steady_clock::now() + held;
       std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const GrowWaitForTesting now = GrowWaitNowForTesting();
    out.most_at_lock = std::max(out.most_at_lock, now.growers + now.stragglers);
    out.most_stragglers = std::max(out.most_stragglers, now.stragglers);
  }
  getrusage(RUSAGE_SELF, &after);
  out.scans = ClaimScansForTesting() - scans_before;
  out.done_while_held = done.load();
  const auto released = std::chrono::steady_clock::now();
  SegmentWriters().unlock();
  for (auto &t : threads) t.join();
  out.took = std::chrono::steady_clock::now() - released;
  out.wakes = after.ru_nvcsw - before.ru_nvcsw;
  SetGrowWaitBoundForTesting(100'000'000);
  printf(
      "held: %ld voluntary switches, %llu scans, at most %u at the lock (%u straggler); "
      "after: all done in %.1f ms\n",
      out.wakes, static_cast<unsigned long long>(out.scans), out.most_at_lock, out.most_stragglers,
      std::chrono::duration<double, std::milli>(out.took).count());
  return out;
}

// Each claim got a slice of its own; all are given back.
void ExpectOwnSlices(const std::vector<Claim> &got) {
  std::set<SliceHeader *> slices;
  for (const Claim &c : got) {
    EXPECT_TRUE(c) << "a claim waiting for a grow got no slice";
    if (c) slices.insert(c.slice);
  }
  EXPECT_EQ(slices.size(), got.size()) << "two claims share a slice";
  for (const Claim &c : got)
    if (c) ReleaseSlice(c, c.word->load());
}

// Claims that find no free slice while the budget lasts wait for a grow.
// ForkSafeMutex's waiters wake every millisecond (and a release wakes them
// all), so at most two claims wait at the writers' lock and the others sleep
// until a claimer leaves the grow: with all of them at the lock, 4096 threads
// on 2 CPUs starved the grow they waited for. Here a grow is held up for a
// second while 48 claims wait: at the lock, that was one wake per millisecond
// each; they neither spin (each looks for a free slice about once) nor get
// past the grow. Then each gets a slice of its own, woken by the grows (the
// bound on a sleep is raised past the test's limit, so a missed wake fails
// it).
TEST_F(SliceDirectory, ClaimsWaitingForAGrowSleepUntilItIsDone) {
  constexpr int kClaimers = 48;
  ASSERT_EQ(g_counters.slab_bytes.load(), 0u) << "needs a directory nothing grew yet (run alone)";
  const HeldGrow h = HoldAGrow(kClaimers, std::chrono::seconds(1), 60'000'000'000);
  EXPECT_EQ(h.done_while_held, 0) << "a claim went past a grow under way";
  EXPECT_EQ(h.most_at_lock, 2u);
  // Two at the lock: ~2000 wakes a second, and the claimers' own starts.
  EXPECT_LT(h.wakes, 8000) << "claims waiting for a grow wake as the lock's waiters do";
  EXPECT_LE(h.scans, 2u * kClaimers) << "claims waiting for a grow spin";
  EXPECT_LT(h.took, std::chrono::seconds(10)) << "a sleeper was not woken by the grows";
  ExpectOwnSlices(h.got);
}

// A grow held up past the bound on a sleep (here 50 ms: a holder preempted,
// or slowed by a sanitizer): the sleeps run out, and one claim at a time goes
// to the lock as the straggler (in case the places are counted for threads
// that will never give them back); the others sleep again. When every claim
// whose sleep ran out went to the lock, 48 of them held up for a second woke
// ~43000 times, as at the lock from the start.
TEST_F(SliceDirectory, AGrowHeldPastTheSleepBoundBringsOneMoreClaimToTheLock) {
  constexpr int kClaimers = 48;
  ASSERT_EQ(g_counters.slab_bytes.load(), 0u) << "needs a directory nothing grew yet (run alone)";
  const HeldGrow h = HoldAGrow(kClaimers, std::chrono::seconds(1), 50'000'000);
  EXPECT_EQ(h.done_while_held, 0) << "a claim went past a grow under way";
  EXPECT_EQ(h.most_stragglers, 1u) << "no sleep ran out, or more than one went to the lock";
  EXPECT_EQ(h.most_at_lock, 3u);
  // Three at the lock: ~3000 wakes a second; 45 asleep: ~20 each.
  EXPECT_LT(h.wakes, 12000) << "claims whose sleep ran out all went to the lock";
  ExpectOwnSlices(h.got);
}

// A raw fork (no atfork hook runs) from a signal handler that interrupted a
// claim asleep waiting for a grow: in the child the places stay counted for
// threads it lacks, so its claim must not wait for them. Two claims hold the
// places (waiting at the lock this thread holds) and a third sleeps (the
// bound raised to 5 s); a handler on the third forks. The child's claim sees
// the fork (the canary is wiped) and returns at once, and the child exits.
// Without that check it slept out the bound and then went to the lock as the
// straggler, and out through the lock's own canary check (5 s); before the
// straggler, it slept for ever.
std::atomic<pid_t> g_forked{-1};
void RawForkOnSignal(int) {
  g_forked.store(static_cast<pid_t>(syscall(SYS_fork)));
}

// Polls `ready` every millisecond for at most 5 s.
template <typename F>
bool Within5s(F ready) {
  for (int i = 0; i < 5000; ++i) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return ready();
}

TEST_F(SliceDirectory, ARawForkFromAHandlerOfASleepingClaimLeavesNoChildWaiting) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer cannot follow a raw fork: its child waits on the runtime's own "
                  "locks";
#endif
  ASSERT_EQ(g_counters.slab_bytes.load(), 0u) << "needs a directory nothing grew yet (run alone)";
  fork::Init();  // the canary a child finds wiped, as the library's start-up maps it
  ASSERT_TRUE(fork::CanaryWorks());
  struct sigaction action {
  }, old{};
  action.sa_handler = RawForkOnSignal;
  sigemptyset(&action.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &action, &old), 0);
  SetGrowWaitBoundForTesting(5'000'000'000);
  const pid_t parent = getpid();
  SegmentWriters().lock();
  std::vector<std::thread> threads;
  std::vector<Claim> got(3);
  for (uint32_t i = 0; i < 2; ++i) threads.emplace_back([&, i] { got[i] = ClaimSlice(3000 + i); });
  const bool placed = Within5s([] { return GrowWaitNowForTesting().growers == 2; });
  threads.emplace_back([&] {
    const Claim c = ClaimSlice(3002);
    if (getpid() != parent) _exit(c ? 2 : 0);  // the child: its claim came back
    got[2] = c;
  });
  const bool asleep = Within5s([] { return GrowWaitNowForTesting().asleep == 1; });
  const auto signalled = std::chrono::steady_clock::now();
  const int sent = pthread_kill(threads[2].native_handle(), SIGUSR1);
  int status = -1;
  pid_t waited = 0;
  Within5s([&] {
    const pid_t child = g_forked.load();
    if (child > 0 && waited == 0) waited = waitpid(child, &status, WNOHANG);
    return waited != 0;
  });
  const auto took = std::chrono::steady_clock::now() - signalled;
  const pid_t child = g_forked.load();
  if (waited == 0 && child > 0) {
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
  }
  SegmentWriters().unlock();
  for (auto &t : threads) t.join();
  sigaction(SIGUSR1, &old, nullptr);
  SetGrowWaitBoundForTesting(100'000'000);
  printf("child exited %.1f ms after the signal\n",
         std::chrono::duration<double, std::milli>(took).count());
  EXPECT_TRUE(placed && asleep) << "the places were not taken, or the third claim did not sleep";
  EXPECT_EQ(sent, 0);
  ASSERT_GT(child, 0) << "the handler did not fork";
  EXPECT_EQ(waited, child) << "the child's claim still waited after 5 s";
  EXPECT_LT(took, std::chrono::seconds(2)) << "the child's claim slept out its bound";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "status " << status << " (2: the child got a slice past a lock it could not take)";
  ExpectOwnSlices(got);
}

// Claims whose slices overlap, or cross a page: 0 for slices that never
// share a byte. Each claim's memory is its header and capacity.
size_t Overlaps(std::vector<Claim> claims) {
  std::sort(claims.begin(), claims.end(),
            [](const Claim &a, const Claim &b) { return a.slice < b.slice; });
  size_t bad = 0;
  for (size_t i = 0; i < claims.size(); ++i) {
    const auto start = reinterpret_cast<uintptr_t>(claims[i].slice);
    const uintptr_t end = start + kSliceHeaderBytes + claims[i].capacity;
    if (start / PageBytes() != (end - 1) / PageBytes()) ++bad;
    if (i + 1 < claims.size() && end > reinterpret_cast<uintptr_t>(claims[i + 1].slice)) ++bad;
  }
  return bad;
}

// Claims under tags first, first + 1, ... below `end` until a claim finds
// nothing; appends the claims to `into`.
std::vector<Claim> ClaimAll(uint32_t first, uint32_t end, std::vector<Claim> into = {}) {
  for (uint32_t tag = first; tag < end; ++tag) {
    const Claim c = ClaimSlice(tag);
    if (!c) break;
    into.push_back(c);
  }
  return into;
}

void ReleaseAll(const std::vector<Claim> &claims) {
  for (const Claim &c : claims) ReleaseSlice(c, c.word->load());
}

// Maps every segment of the budget (one claimer: sizing by index, 20 x 1
// KiB then 32 x 256 B) and frees them all: the budget is spent, and five
// segments of 1 KiB slices are wholly free.
void SpendTheBudgetAndFreeIt() {
  ASSERT_EQ(g_counters.slab_bytes.load(), 0u) << "needs a directory nothing grew yet (run alone)";
  const std::vector<Claim> owned = ClaimAll(1, 101);
  ASSERT_EQ(owned.size(), 52u);
  ASSERT_EQ(owned.front().capacity, 1024u - kSliceHeaderBytes);
  ReleaseAll(owned);
}

size_t g_threads_for_testing = 1;
size_t ThreadsForTesting() {
  return g_threads_for_testing;
}

// With the budget spent, segments whose slices are all free are split into
// the size a grow would give them for the threads now waiting, so slices
// sized for fewer, earlier threads do not hold the budget. One thread
// waiting: nothing is split (control). A hundred: the five free 1 KiB
// segments become one of 512 B and four of 256 B (as SliceBytesFor sizes
// a grow with 68 threads waiting beyond the 32 free 256 B slices), 104
// slices instead of 52, none overlapping another or crossing a page.
TEST_F(SliceDirectory, FreeSegmentsSplitForTheThreadsWaiting) {
  ASSERT_NO_FATAL_FAILURE(SpendTheBudgetAndFreeIt());
  SetProcessThreadsForTesting(ThreadsForTesting);
  const uint64_t splits_before = g_counters.slices_split.load();
  g_threads_for_testing = 1;
  const Claim one = ClaimSlice(5000);
  EXPECT_EQ(one.capacity, 1024u - kSliceHeaderBytes) << "split for one thread waiting";
  EXPECT_EQ(g_counters.slices_split.load(), splits_before);
  ReleaseSlice(one, 5000);

  g_threads_for_testing = 100;
  const std::vector<Claim> many = ClaimAll(6000, 6200);
  for (size_t i = 0; i < many.size(); ++i) EXPECT_TRUE(many[i].HeldBy(6000 + i));
  SetProcessThreadsForTesting(nullptr);
  std::map<uint32_t, size_t> by_capacity;
  for (const Claim &c : many) ++by_capacity[c.capacity];
  EXPECT_EQ(many.size(), 104u);
  EXPECT_EQ(by_capacity, (std::map<uint32_t, size_t>{{256 - kSliceHeaderBytes, 96},
                                                     {512 - kSliceHeaderBytes, 8}}));
  EXPECT_EQ(g_counters.slices_split.load() - splits_before, 5u);
  EXPECT_EQ(Overlaps(many), 0u);
  // The check finds what it looks for (positive controls): a slice planted
  // across its neighbour, and one across a page.
  std::vector<Claim> planted = many;
  planted.push_back(Claim{reinterpret_cast<SliceHeader *>(
                              reinterpret_cast<uint8_t *>(many[0].slice) + kSliceHeaderBytes),
                          many[0].word, 64});
  EXPECT_GE(Overlaps(planted), 1u);
  const auto page = reinterpret_cast<uintptr_t>(many[0].slice) / PageBytes() * PageBytes();
  EXPECT_EQ(
      Overlaps({Claim{reinterpret_cast<SliceHeader *>(page + PageBytes() - 64), many[0].word, 64}}),
      1u);
  ReleaseAll(many);
}

// A claim that read a segment's slice size before a split finished takes a
// claim word of the new split: it must not get the old split's slice for
// it. Driven step by step: claim B reads segment 0's size (1 KiB) and stops
// there (the scan hook); claim A then splits the free segments and takes
// the new slice 0; B goes on and takes word 1, which now names a 512-byte
// slice. Then every other slice is claimed: none may overlap another.
// (Without the size check after the claim in TryClaimIn, B got the 1 KiB
// slice at 1 KiB into the segment, across two of the new ones, and this
// failed.)
std::atomic<pid_t> g_pause_tid{0};
std::atomic<int> g_pause_scans{0};
std::atomic<bool> g_paused{false}, g_resume{false};
void PauseSecondScan(size_t segment) {
  if (gettid() != g_pause_tid.load() || segment != 0 || g_pause_scans.fetch_add(1) != 1) return;
  g_paused.store(true);
  while (!g_resume.load()) std::this_thread::yield();
}

TEST_F(SliceDirectory, AClaimThatReadTheSizeBeforeASplitGetsASliceOfTheNewSplit) {
  ASSERT_NO_FATAL_FAILURE(SpendTheBudgetAndFreeIt());
  SetProcessThreadsForTesting(ThreadsForTesting);
  SetClaimScanHookForTesting(PauseSecondScan);
  // B's first scan takes a 1 KiB slice, gives it back to look for splits
  // (one thread waiting: none), and its second scan stops in segment 0.
  g_threads_for_testing = 1;
  Claim b;
  std::thread claimer([&] {
    g_pause_tid.store(gettid());
    b = ClaimSlice(8001);
  });
  const bool paused = Within5s([] { return g_paused.load(); });
  g_threads_for_testing = 100;
  // B's look found nothing to split; claims look again after a free (here an
  // empty budget return, which announces itself as one) or new threads.
  ReturnSlabBudget(0);
  const Claim a = ClaimSlice(8000);
  g_resume.store(true);
  claimer.join();
  SetClaimScanHookForTesting(nullptr);
  ASSERT_TRUE(paused) << "claim B never reached its second scan";
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a.capacity, 512u - kSliceHeaderBytes) << "A did not split segment 0";
  const std::vector<Claim> all = ClaimAll(8002, 8200, {a, b});
  SetProcessThreadsForTesting(nullptr);
  EXPECT_EQ(b.capacity, 512u - kSliceHeaderBytes) << "B kept the old split's size";
  EXPECT_EQ(Overlaps(all), 0u) << "B's slice overlaps the new split's";
  EXPECT_EQ(all.size(), 104u);
  ReleaseAll(all);
}

// A segment with one slice still owned is not split, and the split of the
// others leaves none of its words taken: the owner of segment 2's last
// slice keeps it, segments 0, 1, 3 and 4 are split around it.
TEST_F(SliceDirectory, ASegmentWithAnOwnedSliceIsNotSplit) {
  ASSERT_NO_FATAL_FAILURE(SpendTheBudgetAndFreeIt());
  SetProcessThreadsForTesting(ThreadsForTesting);
  g_threads_for_testing = 1;
  std::vector<Claim> first;
  for (uint32_t tag = 1; tag <= 20; ++tag) first.push_back(ClaimSlice(tag));
  for (const Claim &c : first) ASSERT_EQ(c.capacity, 1024u - kSliceHeaderBytes);
  // Claimed in segment order: 8..11 are segment 2's.
  const Claim kept = first[11];
  for (size_t i = 0; i < first.size(); ++i)
    if (i != 11) ReleaseSlice(first[i], first[i].word->load());
  const uint64_t splits_before = g_counters.slices_split.load();
  g_threads_for_testing = 100;
  const std::vector<Claim> many = ClaimAll(100, 300, {kept});
  SetProcessThreadsForTesting(nullptr);
  EXPECT_EQ(g_counters.slices_split.load() - splits_before, 4u);
  EXPECT_TRUE(kept.HeldBy(12)) << "the owned slice changed hands";
  for (size_t i = 8; i < 11; ++i)
    EXPECT_NE(first[i].word->load(), kRetiringTag) << "a word of segment 2 was left taken";
  size_t whole = 0;
  for (const Claim &c : many) whole += c.capacity == 1024u - kSliceHeaderBytes;
  EXPECT_EQ(whole, 4u) << "segment 2 was split or its slices lost";
  EXPECT_EQ(Overlaps(many), 0u);
  ReleaseAll(many);
}

// 8 threads claim, fill, check and give back slices while 100 threads
// count as waiting, so the first claims split the free segments under the
// others' scans. Every slice held is checked against all others held at
// that moment, and its bytes against what its holder wrote. Returns 0, or
// 1: two claims shared bytes, 2: nothing was split, 3: claims failed.
int ClaimAndSplitAtOnce() {
  SetProcessThreadsForTesting(ThreadsForTesting);
  g_threads_for_testing = 100;
  std::mutex mu;
  std::map<uintptr_t, uintptr_t> live;  // start -> end of each slice held
  std::atomic<int> clashes{0}, ready{0};
  std::atomic<uint64_t> claims{0};
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < 8) std::this_thread::yield();
      const auto mark = static_cast<uint8_t>(0x41 + t);
      for (int round = 0; round < 200; ++round) {
        const uint32_t tag = 9000 + t;
        const Claim c = ClaimSlice(tag);
        if (!c) continue;
        claims.fetch_add(1);
        const auto start = reinterpret_cast<uintptr_t>(c.slice);
        const uintptr_t end = start + kSliceHeaderBytes + c.capacity;
        {
          const std::lock_guard<std::mutex> hold(mu);
          auto next = live.lower_bound(start);
          if (next != live.end() && next->first < end) clashes.fetch_add(1);
          if (next != live.begin() && std::prev(next)->second > start) clashes.fetch_add(1);
          live[start] = end;
        }
        uint8_t *data = c.slice->data();
        memset(data, mark, c.capacity);
        std::this_thread::yield();
        if (!c.HeldBy(tag) ||
            !std::all_of(data, data + c.capacity, [&](uint8_t b) { return b == mark; }))
          clashes.fetch_add(1);
        {
          const std::lock_guard<std::mutex> hold(mu);
          live.erase(start);
        }
        ReleaseSlice(c, tag);
      }
    });
  for (auto &th : threads) th.join();
  if (clashes.load() != 0) return 1;
  if (g_counters.slices_split.load() == 0) return 2;
  return claims.load() > 8u * 150 ? 0 : 3;
}

// Claims and splits at once, in 100 children: each starts from the
// directory as this process left it (free, unsplit), so each runs the first
// splits, the only ones (sizes only shrink), under claims again. (Checked
// first: with the size re-read in TryClaimIn taken out, 2 of 30 children
// found two claims sharing bytes; splitting owned segments, 21 of 30.)
TEST_F(SliceDirectory, ConcurrentClaimsAndSplitsNeverOverlap) {
  ASSERT_NO_FATAL_FAILURE(SpendTheBudgetAndFreeIt());
  std::map<int, int> outcomes;
  for (int child = 0; child < 100; ++child) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(ClaimAndSplitAtOnce());
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
    ++outcomes[WEXITSTATUS(status)];
  }
  EXPECT_EQ(outcomes, (std::map<int, int>{{0, 100}}))
      << "children by outcome (1: two claims shared bytes, 2: nothing split, 3: claims failed)";
}

// A split that loses a word to a claim gives up cleanly: the claim keeps
// its slice of the old split, the segment keeps its size, and no word of it
// is left taken. Driven step by step: the split hook, as the split of
// segment 0 begins, has another thread claim (it takes segment 0's first
// slice; its own look for splits is not due, the split being under way).
std::atomic<bool> g_hooked{false};
Claim g_intruder;
void ClaimFromAnotherThread(size_t segment) {
  if (segment != 0 || g_hooked.exchange(true)) return;
  std::thread([] { g_intruder = ClaimSlice(8500); }).join();
}

TEST_F(SliceDirectory, ASplitThatLosesAWordGivesUpCleanly) {
  ASSERT_NO_FATAL_FAILURE(SpendTheBudgetAndFreeIt());
  SetProcessThreadsForTesting(ThreadsForTesting);
  SetSplitHookForTesting(ClaimFromAnotherThread);
  g_threads_for_testing = 100;
  const uint64_t splits_before = g_counters.slices_split.load();
  std::vector<Claim> all = ClaimAll(8600, 8800);
  SetSplitHookForTesting(nullptr);
  SetProcessThreadsForTesting(nullptr);
  ASSERT_TRUE(g_hooked.load()) << "no split of segment 0 began";
  ASSERT_TRUE(g_intruder) << "the claim during the split got nothing";
  EXPECT_EQ(g_intruder.capacity, 1024u - kSliceHeaderBytes) << "the intruder's slice changed size";
  EXPECT_TRUE(g_intruder.HeldBy(8500));
  all.push_back(g_intruder);
  // Segment 0 kept four 1 KiB slices (the intruder's among them); the
  // other four free segments were split.
  size_t whole = 0;
  for (const Claim &c : all) {
    whole += c.capacity == 1024u - kSliceHeaderBytes;
    EXPECT_NE(c.word->load(), kRetiringTag);
  }
  EXPECT_EQ(whole, 4u);
  EXPECT_EQ(g_counters.slices_split.load() - splits_before, 4u);
  EXPECT_EQ(Overlaps(all), 0u);
  ReleaseAll(all);
}

// Hot slices wait while a split's threads are owed slices, and no longer
// than kOwedNs (1 s): the thread count includes threads that never draw,
// whose slices no grow will make. Two of the five 1 KiB segments are mapped
// and freed, so the budget is plentiful (control), until a split for 100
// threads waiting leaves slices owed.
TEST_F(SliceDirectory, HotSlicesWaitForOwedSlicesAtMostASecond) {
  ASSERT_EQ(g_counters.slab_bytes.load(), 0u) << "needs a directory nothing grew yet (run alone)";
  SetProcessThreadsForTesting(ThreadsForTesting);
  g_threads_for_testing = 1;
  std::vector<Claim> first;
  for (uint32_t tag = 1; tag <= 8; ++tag) first.push_back(ClaimSlice(tag));
  for (const Claim &c : first) ASSERT_EQ(c.capacity, 1024u - kSliceHeaderBytes);
  ReleaseAll(first);
  EXPECT_TRUE(SlabBudgetPlentiful()) << "control: five of seven segments unmapped";
  g_threads_for_testing = 100;
  const uint64_t splits_before = g_counters.slices_split.load();
  const Claim c = ClaimSlice(100);
  SetProcessThreadsForTesting(nullptr);
  ASSERT_TRUE(c);
  EXPECT_GT(g_counters.slices_split.load(), splits_before) << "nothing was split";
  EXPECT_FALSE(SlabBudgetPlentiful()) << "hot slices may take the budget owed to waiting threads";
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_TRUE(SlabBudgetPlentiful()) << "the owed slices still hold hot slices off after 1 s";
  ReleaseSlice(c, 100);
}

}  // namespace
}  // namespace grndpool::test
