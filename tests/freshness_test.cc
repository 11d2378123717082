// SPDX-License-Identifier: Apache-2.0
// lib/freshness: stamps against the kernel model in each mode, the process
// epoch (one thread's news of a reseed stales every buffer), and Serve(), the
// one protocol, driven with a buffer of the test's own. No draw runs in this
// process.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "lib/fork.h"
#include "lib/freshness.h"
#include "lib/stats.h"
#include "tests/emu/emu.h"

namespace grndpool::test {
namespace {

// A buffer for Serve(): `bytes` of data, each refill numbering its bytes by
// the refill's count, so the test sees which fill served what.
struct TestBuffer {
  std::vector<uint8_t> data = std::vector<uint8_t>(64);
  size_t avail = 0;
  Stamp stamp_{};
  bool wiped = false;
  int resets = 0, refills = 0;
  void (*on_take)() = nullptr;

  bool Wiped() const { return wiped; }
  void Reset() {
    wiped = false;
    avail = 0;
    stamp_ = Stamp{};
    ++resets;
  }
  Stamp stamp() const { return stamp_; }
  size_t Avail() const { return avail; }
  size_t Take(uint8_t *out, size_t n) {
    if (on_take != nullptr) on_take();
    const size_t take = std::min(avail, n);
    avail -= take;
    memcpy(out, data.data() + avail, take);
    return take;
  }
  bool Refill(const Stamp &s) {
    ++refills;
    memset(data.data(), refills, data.size());
    avail = data.size();
    stamp_ = s;
    return true;
  }
};

class Freshness : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    emu::EmuConfig config;
    config.mode = kernel::GenerationMode::kPerRefill;
    InitFreshness(*emu::Ops(config));
    fork::Init();  // the canary and the atfork handler, for the cut test
  }
};

TEST_F(Freshness, FillStampsAreCurrentUntilTheEpochMoves) {
  const Stamp first = StampForFill(Stamp{});
  EXPECT_NE(first.label, 0u);
  EXPECT_TRUE(IsCurrent(first));
  EXPECT_FALSE(IsCurrent(Stamp{})) << "epoch 0 (a wiped or fresh buffer) is never current";
  const uint64_t changes = g_counters.generation_changes.load();
  const uint32_t epoch = Epoch();
  emu::BumpGeneration();
  // Per refill: only the next fill's reading tells; then every older stamp
  // is stale, whoever filled it.
  EXPECT_TRUE(IsCurrent(first));
  const Stamp second = StampForFill(first);
  EXPECT_EQ(g_counters.generation_changes.load(), changes + 1);
  EXPECT_EQ(Epoch(), epoch + 1);
  EXPECT_EQ(second.epoch, Epoch());
  EXPECT_FALSE(IsCurrent(first)) << "one fill's news of a reseed reaches every buffer";
  EXPECT_TRUE(IsCurrent(second));
}

int g_hook_runs = 0;
void CountHook() {
  ++g_hook_runs;
}

TEST_F(Freshness, NewGenerationsRunTheHooksOnce) {
  OnNewEpoch(CountHook);
  const Stamp s = StampForFill(Stamp{});
  const int before = g_hook_runs;
  NoteGeneration(s.label);  // the same generation again: nothing moves
  EXPECT_EQ(g_hook_runs, before);
  NoteGeneration(s.label + 12345);
  EXPECT_EQ(g_hook_runs, before + 1);
  NoteGeneration(s.label + 12345);
  EXPECT_EQ(g_hook_runs, before + 1) << "a change is counted once, however many notice it";
}

// A read of 0 (a vDSO state whose page the kernel dropped after the call) is
// no generation: it moves nothing, and the next real change still counts. (Kept
// as the last generation, 0 made the next reading a first one: a reseed
// between the two moved no epoch.)
TEST_F(Freshness, AGenerationOfZeroIsNoGeneration) {
  const Stamp s = StampForFill(Stamp{});
  const uint64_t changes = g_counters.generation_changes.load();
  const uint32_t epoch = Epoch();
  NoteGeneration(0);
  EXPECT_EQ(Epoch(), epoch) << "a 0 moved the epoch";
  NoteGeneration(s.label + 777);
  EXPECT_EQ(Epoch(), epoch + 1) << "the reseed after a 0 moved no epoch";
  EXPECT_EQ(g_counters.generation_changes.load(), changes + 1);
  NoteGeneration(s.label);  // back to the model's generation: one more change
}

TEST_F(Freshness, ServeRefillsStaleAndEmptyBuffersAndTakesAcrossRefills) {
  TestBuffer b;
  uint8_t out[100];
  ASSERT_EQ(Serve(b, out, 10), Served::kServed);
  EXPECT_EQ(b.refills, 1) << "empty: filled first";
  EXPECT_EQ(out[0], 1);
  ASSERT_EQ(Serve(b, out, 100), Served::kServed);  // the 54 left, then 46 of a new fill
  EXPECT_EQ(b.refills, 2);
  EXPECT_EQ(out[0], 1);
  EXPECT_EQ(out[53], 1);
  EXPECT_EQ(out[54], 2);
  EXPECT_EQ(out[99], 2);
  // Stale: another buffer's refill noticed a reseed.
  emu::BumpGeneration();
  (void)StampForFill(Stamp{});
  ASSERT_EQ(Serve(b, out, 1), Served::kServed);
  EXPECT_EQ(b.refills, 3) << "a stale buffer is refilled before it serves";
  EXPECT_EQ(out[0], 3);
  // Wiped: reset, then filled.
  b.wiped = true;
  ASSERT_EQ(Serve(b, out, 1), Served::kServed);
  EXPECT_EQ(b.resets, 1);
  EXPECT_EQ(b.refills, 4);
}

// A fork while the copy runs (here: the take forks) is reported on both
// sides, so neither keeps bytes the other may hold.
TEST_F(Freshness, ServeReportsAForkThatCutTheCopy) {
  TestBuffer b;
  uint8_t out[8];
  ASSERT_EQ(Serve(b, out, 8), Served::kServed);
  static pid_t child = -1;
  b.on_take = [] { child = ::fork(); };
  const Served served = Serve(b, out, 8);
  if (child == 0) _exit(served == Served::kCut ? 0 : 1);
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child kept a cut copy";
  EXPECT_EQ(served, Served::kCut) << "the parent kept a cut copy";
}

// The fence pair of NewEpoch and StampOwner, as a store-buffering litmus run
// on the hardware: an owner stamps a slice with its tag and then reads the
// epoch, while another thread moves the epoch and its hook reads the owner
// word. The outcome a slice must never have is both reading the old value:
// the hook leaving the slice alone and the owner stamping its fill with the
// old epoch. Each round starts both threads at once (spinning on a round
// counter); `fenced` chooses between the library's StampOwner and the same
// stores without its fence.
SliceHeader g_litmus_slice{};
std::atomic<uint32_t> g_litmus_seen{0};
void LitmusHook() {
  g_litmus_seen.store(g_litmus_slice.owner.load(std::memory_order_relaxed),
                      std::memory_order_relaxed);
}

struct LitmusResult {
  uint64_t rounds = 0, both_old = 0;
};

// Rounds until `both_old` reaches `stop_at`, `max_rounds` ran or `seconds`
// passed.
LitmusResult RunLitmus(bool fenced, uint64_t stop_at, double seconds,
                       uint64_t max_rounds = UINT64_MAX) {
  static bool hooked = false;
  if (!hooked) OnNewEpoch(LitmusHook);
  hooked = true;
  std::atomic<uint64_t> round{0};
  std::atomic<uint64_t> done{0};
  std::atomic<bool> stop{false};
  LitmusResult r;
  std::thread mover([&] {
    for (uint64_t i = 1;; ++i) {
      while (round.load(std::memory_order_acquire) < i)
        if (stop.load(std::memory_order_relaxed)) return;
      NewEpoch();
      done.fetch_add(1, std::memory_order_acq_rel);
    }
  });
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (uint64_t i = 1; r.both_old < stop_at && r.rounds < max_rounds; ++i) {
    if ((i & 1023) == 0 && std::chrono::steady_clock::now() > end) break;
    g_litmus_slice.owner.store(0, std::memory_order_relaxed);
    g_litmus_seen.store(1, std::memory_order_relaxed);
    const uint32_t before = Epoch();
    round.store(i, std::memory_order_release);
    if (fenced) {
      StampOwner(&g_litmus_slice, 1);
    } else {
      g_litmus_slice.Reset();
      g_litmus_slice.owner.store(1, std::memory_order_relaxed);
    }
    const uint32_t read = Epoch();
    while (done.load(std::memory_order_acquire) < i) {
    }
    ++r.rounds;
    if (read == before && g_litmus_seen.load(std::memory_order_relaxed) == 0) ++r.both_old;
  }
  stop.store(true, std::memory_order_relaxed);
  mover.join();
  return r;
}

bool TwoCpus() {
  cpu_set_t set;
  return sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) >= 2;
}

// Runs alone (RUN_SERIAL in tests/CMakeLists.txt): its two threads must run
// at the same time.
class FreshnessLitmus : public Freshness {};

TEST_F(FreshnessLitmus, AnEpochMoveAndAnOwnerStoreNeverBothMissEachOther) {
  if (!TwoCpus()) GTEST_SKIP() << "needs two CPUs to run the two sides at once";
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer runs atomics and fences in its runtime, not as the hardware";
#endif
  // The positive control first: without StampOwner's fence the hardware shows the
  // outcome (x86 lets a load pass its own thread's earlier store), so this
  // probe can see it.
  const LitmusResult control = RunLitmus(false, 100, 30.0);
  ASSERT_GE(control.both_old, 1u) << "the unfenced control never showed the reordering in "
                                  << control.rounds << " rounds: the probe sees nothing here";
  // As many rounds with the fence, and at least a million: at the control's
  // rate, a fence that did nothing would show it control.both_old times or
  // more on average.
  const uint64_t rounds = std::max<uint64_t>(control.rounds, 1'000'000);
  const LitmusResult fenced = RunLitmus(true, 1, 60.0, rounds);
  EXPECT_EQ(fenced.both_old, 0u) << "in " << fenced.rounds
                                 << " rounds (control: " << control.both_old << " in "
                                 << control.rounds << ")";
  if (fenced.both_old == 0) {
    EXPECT_GE(fenced.rounds, rounds / 2) << "too few fenced rounds to tell";
  }
  printf("litmus: unfenced control %llu of %llu rounds, fenced %llu of %llu\n",
         static_cast<unsigned long long>(control.both_old),
         static_cast<unsigned long long>(control.rounds),
         static_cast<unsigned long long>(fenced.both_old),
         static_cast<unsigned long long>(fenced.rounds));
}

TEST(FreshnessModes, PerDrawCookiesAnswerEveryCheck) {
  emu::EmuConfig config;
  config.mode = kernel::GenerationMode::kPerDraw;
  InitFreshness(*emu::Ops(config));
  const Stamp s = StampForFill(Stamp{});
  EXPECT_TRUE(IsCurrent(s));
  const uint32_t epoch = Epoch();
  emu::BumpGeneration();
  EXPECT_FALSE(IsCurrent(s)) << "with GRND_TIMESTAMP the very next check sees the reseed";
  EXPECT_EQ(Epoch(), epoch + 1);
}

TEST(FreshnessModes, UnknownGenerationsAreCountedAndNeverLabel) {
  emu::EmuConfig config;
  config.mode = kernel::GenerationMode::kUnknown;
  InitFreshness(*emu::Ops(config));
  const uint64_t unknown = g_counters.generation_unknown.load();
  const Stamp s = StampForFill(Stamp{});
  EXPECT_EQ(s.label, 0u);
  EXPECT_EQ(g_counters.generation_unknown.load(), unknown + 1);
  EXPECT_TRUE(IsCurrent(s)) << "unknown: every refill takes fresh kernel bytes instead";
}

}  // namespace
}  // namespace grndpool::test
